-- from eKuiper TestSingleSQL/TestChanged13
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT changed_cols("tt_", true, color, size) FROM demo
