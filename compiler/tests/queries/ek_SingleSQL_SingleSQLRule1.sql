-- from eKuiper TestSingleSQL/TestSingleSQLRule1
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT *, upper(color), event_time() FROM demo
