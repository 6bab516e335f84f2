-- stream: CREATE STREAM demo1 ( temp FLOAT, hum BIGINT,`from` STRING, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock", FORMAT="json", KEY="ts");
SELECT `from`, demo1.`from` AS f2 FROM demo1 WHERE `from` = "device1"
