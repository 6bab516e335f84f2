-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT size * 2 AS s2, color FROM demo GROUP BY SlidingWindow(ss, 5) OVER (WHEN s2 > 4) FILTER (WHERE color = "red")
