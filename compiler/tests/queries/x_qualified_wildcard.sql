-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT ldemo.*, demo.color FROM ldemo JOIN demo ON ldemo.id = demo.size GROUP BY HOPPINGWINDOW(mi, 2, 1)
