-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT count(*) FILTER (WHERE size > 2) AS big, count(*) AS all_rows, count(*) AS again FROM demo GROUP BY TUMBLINGWINDOW(ss, 10)
