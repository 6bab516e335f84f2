-- from eKuiper TestWindowSQL/TestHoppingWindowSQL3
-- stream: CREATE STREAM demoE ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoE", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
select size,color from demoE GROUP BY HOPPINGWINDOW(ss, 2, 5)
