-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT size + 2 * 3 - -1, (size + 2) * 3, size | 1 ^ 2 & 3, NOT size > 1 AND ts = 2 FROM demo
