-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT count(*) AS c, collect(size) FROM demo GROUP BY STATEWINDOW(color = "red", size > 3)
