-- from eKuiper TestAccAggSQL/TestAccAggSql5
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select acc_count(size) over (when color = "red"), color from demo
