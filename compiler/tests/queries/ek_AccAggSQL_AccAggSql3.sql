-- from eKuiper TestAccAggSQL/TestAccAggSql3
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select acc_min(size) over (when color = "red"), color from demo
