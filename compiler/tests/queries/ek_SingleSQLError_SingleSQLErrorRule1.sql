-- from eKuiper TestSingleSQLError/TestSingleSQLErrorRule1
-- stream: CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");
SELECT color, ts FROM ldemo where size >= 3
