-- from eKuiper TestSingleSQL/TestAliasOrderBy14
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color, count(*) as c FROM demo where color != "red" GROUP BY COUNTWINDOW(5), color Order by c DESC
