-- from eKuiper TestSharedSourceSchemaless/rule1
-- stream: CREATE STREAM sharedDemo () WITH (DATASOURCE="sharedDemo", TYPE="mock", FORMAT="json", SHARED="true");
select a,b from sharedDemo
