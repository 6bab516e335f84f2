-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT c + 1 AS d, b * 2 AS c, size AS b FROM demo WHERE d > 3
