-- from eKuiper TestEventWindow/TestEventWindowRule0
-- stream: CREATE STREAM demoE ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoE", TYPE="mock", FORMAT="json", KEY="ts", TIMESTAMP="ts");
-- options: {"isEventTime": true}
SELECT count(*), event_time() as et FROM demoE GROUP BY HOPPINGWINDOW(ss, 2, 1) HAVING last_value(et, true) - last_agg_hit_time() > 1500
