-- from eKuiper TestAliasSQL/TestAliasSQL2
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select a + 1 as b, size as a from demo
