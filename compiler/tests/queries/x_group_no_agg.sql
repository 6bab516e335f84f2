-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color FROM demo GROUP BY TUMBLINGWINDOW(hh, 1), color, size % 2
