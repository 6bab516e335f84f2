-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
--fail=function nofunc not found (at line 1, column 8)
SELECT nofunc(size) FROM demo
