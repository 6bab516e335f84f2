-- from eKuiper TestSingleSQL/TestSingleSQLRule6
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color, ts FROM demo where size > 3 and meta(topic)="mock"
