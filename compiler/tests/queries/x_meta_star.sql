-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT meta(*) AS m, meta(topic), color FROM demo WHERE meta(topic) = "mock"
