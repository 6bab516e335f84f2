-- from eKuiper TestWindow/TestWindowRule13
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color as c FROM demo GROUP BY SlidingWindow(ss, 3600) filter (where size = 3 )
