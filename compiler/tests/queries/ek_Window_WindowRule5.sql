-- from eKuiper TestWindow/TestWindowRule5
-- stream: CREATE STREAM sessionDemo ( temp FLOAT, hum BIGINT, ts BIGINT ) WITH (DATASOURCE="sessionDemo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT count(temp), window_start() as ws, window_end(), event_time() as et FROM sessionDemo GROUP BY SessionWindow(ss, 2, 1)
