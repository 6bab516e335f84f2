-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
--fail=invalid argument for func upper: Expect 1 arguments but found 2.
SELECT upper(color, size) FROM demo
