-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color FROM demo WHERE color IN ("red", "blue") AND size NOT BETWEEN 2 AND 4 OR color NOT LIKE "ye%" AND size NOT IN (1)
