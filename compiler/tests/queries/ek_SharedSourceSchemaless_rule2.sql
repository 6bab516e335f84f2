-- from eKuiper TestSharedSourceSchemaless/rule2
-- stream: CREATE STREAM sharedDemo () WITH (DATASOURCE="sharedDemo", TYPE="mock", FORMAT="json", SHARED="true");
select b,c from sharedDemo
