-- from eKuiper TestWindow/TestSlidingDelay
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT size,color FROM demo GROUP BY SlidingWindow(ss, 5, 1) Over (when size = 2)
