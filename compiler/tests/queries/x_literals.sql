-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT 1, 2.5, 1e3, 'single', "double", true, FALSE, null, nil, -7 FROM demo
