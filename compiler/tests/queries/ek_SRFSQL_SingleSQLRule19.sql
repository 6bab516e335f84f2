-- from eKuiper TestSRFSQL/TestSingleSQLRule19
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
SELECT unnest(arr2),a FROM demoArr where x=1
