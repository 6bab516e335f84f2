-- from eKuiper TestSRFSQL/TestSingleSQLRule20
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT unnest(arr3) as col FROM demoArr where x=1
