-- from eKuiper TestEventWindow/TestEventWindowDelayRule0
-- stream: CREATE STREAM demoE ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoE", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT size FROM demoE GROUP BY SlidingWindow(ss, 1,4) FILTER (where color = "red")
