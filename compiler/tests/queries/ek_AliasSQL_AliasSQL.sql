-- from eKuiper TestAliasSQL/TestAliasSQL
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
select size + 1 as size, size + 1 as b from demo
