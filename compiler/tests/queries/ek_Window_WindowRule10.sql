-- from eKuiper TestWindow/TestWindowRule10
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT deduplicate(color, false)->color as c FROM demo GROUP BY SlidingWindow(hh, 1)
