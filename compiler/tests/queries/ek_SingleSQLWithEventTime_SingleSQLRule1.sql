-- from eKuiper TestSingleSQLWithEventTime/TestSingleSQLRule1
-- stream: CREATE STREAM demoE ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoE", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT *, upper(color) FROM demoE
