-- from eKuiper TestSRFSQL/TestSingleSQLRule24
-- stream: CREATE STREAM demoArr () WITH (DATASOURCE="demoArr", TYPE="mock", FORMAT="json", KEY="ts");
Select unnest(a) from demoArr;
