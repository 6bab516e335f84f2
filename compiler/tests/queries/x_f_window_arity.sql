-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
--fail=The arguments for tumblingwindow should be 2
SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss)
