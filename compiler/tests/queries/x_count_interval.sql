-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT avg(size) AS a FROM demo GROUP BY countwindow(5, 2) HAVING a > 1
