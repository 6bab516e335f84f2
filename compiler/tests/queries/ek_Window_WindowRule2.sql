-- from eKuiper TestWindow/TestWindowRule2
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color, ts FROM demo where size > 2 GROUP BY tumblingwindow(ss, 1)
