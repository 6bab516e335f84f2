-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
-- stream: CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock", FORMAT="json", KEY="ts");
SELECT d.*, temp FROM demo AS d CROSS JOIN demo1 GROUP BY TUMBLINGWINDOW(ms, 500)
