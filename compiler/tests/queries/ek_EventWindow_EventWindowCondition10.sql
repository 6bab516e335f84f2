-- from eKuiper TestEventWindow/TestEventWindowCondition10
-- stream: CREATE STREAM demoE ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoE", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT color FROM demoE GROUP BY SlidingWindow(ss, 1) Over (When size = 3)
