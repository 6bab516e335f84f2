-- from eKuiper TestSRFSQL/TestSingleSQLRule21
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT unnest(arr2),x FROM demoArr where x=1
