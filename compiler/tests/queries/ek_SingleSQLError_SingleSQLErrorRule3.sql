-- from eKuiper TestSingleSQLError/TestSingleSQLErrorRule3
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT size * 5 as c FROM ldemo
