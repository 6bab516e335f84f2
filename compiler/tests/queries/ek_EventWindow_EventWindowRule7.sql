-- from eKuiper TestEventWindow/TestEventWindowRule7
-- stream: CREATE STREAM demoErr ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoErr", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts",STRICT_VALIDATION="true");
-- options: {"isEventTime": true}
SELECT * FROM demoErr GROUP BY HOPPINGWINDOW(ss, 2, 1)
