-- from eKuiper TestAccAggSQL/TestAccAggSql1
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select acc_sum(size) over (partition by color), color from demo
