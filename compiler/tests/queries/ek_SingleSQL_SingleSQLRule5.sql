-- from eKuiper TestSingleSQL/TestSingleSQLRule5
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT meta(topic) as m, ts FROM demo WHERE last_hit_count() < 4
