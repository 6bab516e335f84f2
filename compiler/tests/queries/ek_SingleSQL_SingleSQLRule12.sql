-- from eKuiper TestSingleSQL/TestSingleSQLRule12
-- stream: CREATE TABLE table1 ( name STRING, size BIGINT, id BIGINT ) WITH (DATASOURCE="lookup.json", FORMAT="json", CONF_KEY="test", STRICT_VALIDATION="true");
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT demo.ts as demoTs, table1.id as table1Id FROM table1 INNER JOIN demo on demoTs = table1Id
