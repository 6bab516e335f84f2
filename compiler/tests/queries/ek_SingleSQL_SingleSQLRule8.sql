-- from eKuiper TestSingleSQL/TestSingleSQLRule8
-- stream: CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock", FORMAT="json", KEY="ts");
SELECT * FROM demo1 where `from`="device1"
