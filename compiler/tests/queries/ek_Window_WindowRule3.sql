-- from eKuiper TestWindow/TestWindowRule3
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
-- stream: CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color, temp, demo.ts as ts1, demo1.ts as ts2, demo.ts - demo1.ts as diff FROM demo INNER JOIN demo1 ON ts1 = ts2 GROUP BY SlidingWindow(ss, 1) HAVING last_agg_hit_count() < 7
