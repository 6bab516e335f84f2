-- from eKuiper TestSingleSQL/TestLagPartition
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT color, lag(size) over (partition by color) as lastSize, size, lastSize/size as changeRate FROM demo
