-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
--fail=Not allowed to call aggregate functions in WHERE clause
SELECT color FROM demo WHERE count(*) > 1
