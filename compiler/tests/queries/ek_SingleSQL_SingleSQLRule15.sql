-- from eKuiper TestSingleSQL/TestSingleSQLRule15
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT arr[1] as col1 FROM demoArr where x=1
