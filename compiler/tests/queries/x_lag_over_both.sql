-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT lag(size) OVER (PARTITION BY color, ts WHEN size > 1) AS l, latest(color) FROM demo
