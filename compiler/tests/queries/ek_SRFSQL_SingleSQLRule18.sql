-- from eKuiper TestSRFSQL/TestSingleSQLRule18
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT unnest(arr2) FROM demoArr where x=1
