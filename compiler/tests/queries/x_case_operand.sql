-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT CASE color WHEN "red" THEN 1 WHEN "blue" THEN 2 END AS c, CASE WHEN size > 3 THEN "big" END FROM demo
