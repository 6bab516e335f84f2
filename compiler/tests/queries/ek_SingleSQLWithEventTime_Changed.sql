-- from eKuiper TestSingleSQLWithEventTime/TestChanged
-- stream: CREATE STREAM demoE ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoE", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT changed_cols("tt_", true, color, size) FROM demoE
