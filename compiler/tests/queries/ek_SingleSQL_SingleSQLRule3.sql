-- from eKuiper TestSingleSQL/TestSingleSQLRule3
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT size as Int8, ts FROM demo where size > 3
