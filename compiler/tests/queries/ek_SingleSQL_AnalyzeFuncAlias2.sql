-- from eKuiper TestSingleSQL/TestAnalyzeFuncAlias2
-- stream: CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");
SELECT lag(size,1,0) + 1 as b, lag(b,1,0),size FROM demo
