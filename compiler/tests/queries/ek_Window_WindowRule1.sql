-- from eKuiper TestWindow/TestWindowRule1
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT *, event_time() as et FROM demo GROUP BY HOPPINGWINDOW(ss, 2, 1)
