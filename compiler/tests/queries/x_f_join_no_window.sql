-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
-- stream: CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock", FORMAT="json", KEY="ts");
--fail=a time window or count window is required to join multiple streams
SELECT * FROM demo INNER JOIN demo1 ON demo.ts = demo1.ts
