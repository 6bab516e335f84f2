-- from eKuiper TestEventWindow/TestTUMBLINGWindowInterval13
-- stream: CREATE STREAM demoE2 () WITH (DATASOURCE="demoE2", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT temp FROM demoE2 GROUP BY TUMBLINGWINDOW(ss, 1)
