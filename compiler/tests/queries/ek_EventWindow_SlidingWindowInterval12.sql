-- from eKuiper TestEventWindow/TestSlidingWindowInterval12
-- stream: CREATE STREAM demoE2 () WITH (DATASOURCE="demoE2", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT temp FROM demoE2 GROUP BY SLIDINGWINDOW(ss, 1)
