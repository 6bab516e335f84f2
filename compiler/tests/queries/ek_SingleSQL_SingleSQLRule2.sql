-- from eKuiper TestSingleSQL/TestSingleSQLRule2
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color, ts, last_hit_count() + 1 as lc FROM demo where size > 3
