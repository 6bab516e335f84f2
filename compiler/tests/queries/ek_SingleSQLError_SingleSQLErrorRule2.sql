-- from eKuiper TestSingleSQLError/TestSingleSQLErrorRule2
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT size * 5 FROM ldemo
