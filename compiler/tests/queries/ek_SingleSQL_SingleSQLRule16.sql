-- from eKuiper TestSingleSQL/TestSingleSQLRule16
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT arr[1:y] as col1 FROM demoArr where x=1
