-- from eKuiper TestWindowFuncSQL/TestRowNumber1
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select size, row_number() from demo
