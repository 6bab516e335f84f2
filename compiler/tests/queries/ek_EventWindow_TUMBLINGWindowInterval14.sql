-- from eKuiper TestEventWindow/TestTUMBLINGWindowInterval14
-- stream: CREATE STREAM demoE3 () WITH (DATASOURCE="demoE3", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT temp,ts FROM demoE3 GROUP BY TUMBLINGWINDOW(ss, 1)
