-- from eKuiper TestSingleSQL/TestSingleSQLRule11
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
-- stream: CREATE TABLE demoTable ( device STRING, ts BIGINT ) WITH (DATASOURCE="demoTable", TYPE="mock", RETAIN_SIZE="3");
SELECT device FROM demo INNER JOIN demoTable on demo.ts = demoTable.ts
