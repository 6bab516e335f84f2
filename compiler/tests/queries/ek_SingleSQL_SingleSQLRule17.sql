-- from eKuiper TestSingleSQL/TestSingleSQLRule17
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT arr[x:4] as col1 FROM demoArr where x=1
