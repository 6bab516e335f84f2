-- from eKuiper TestSingleSQL/TestSingleSQLRule0
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT arr[x:y+1] as col1 FROM demoArr where x=1
