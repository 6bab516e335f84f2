-- from eKuiper TestSingleSQL/TestSingleSQLRule7
-- stream: CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock", FORMAT="json", KEY="ts");
SELECT `from` FROM demo1
