-- from eKuiper TestSingleSQL/TestSingleSQLRule4
-- stream: CREATE STREAM demoError ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demoError", TYPE="mock", FORMAT="json", KEY="ts",STRICT_VALIDATION="true");
SELECT size as Int8, ts FROM demoError where size > 3
