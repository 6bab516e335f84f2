-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
--fail=syntax error at line 1, column 14: found "FORM", expected FROM
SELECT color FORM demo
