-- from eKuiper TestSingleSQLForBinary/TestSingleSQLRule1
-- stream: CREATE STREAM binDemo () WITH (DATASOURCE="binDemo", TYPE="mock", FORMAT="BINARY");
SELECT * FROM binDemo
