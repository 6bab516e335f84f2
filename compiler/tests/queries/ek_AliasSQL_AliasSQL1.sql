-- from eKuiper TestAliasSQL/TestAliasSQL1
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select size as a, a + 1 as b from demo
