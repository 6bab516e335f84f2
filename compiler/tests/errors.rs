//! Invalid SQL and invalid DDL: every error must say where (line/column) or
//! name the object at fault, and carry a precise message.

mod common;

use common::TestCatalog;
use oort_compiler::plan::RuleOptions;
use oort_compiler::{CompileError, compile_rule, parse_statement, parse_stream_ddl};

const DEMO: &str = r#"CREATE STREAM demo ( color STRING, size BIGINT, ts BIGINT ) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="json", KEY="ts");"#;
const DEMO1: &str =
    r#"CREATE STREAM demo1 ( temp FLOAT, hum BIGINT, ts BIGINT ) WITH (DATASOURCE="demo1", TYPE="mock");"#;
const LDEMO: &str = r#"CREATE STREAM ldemo () WITH (DATASOURCE="ldemo", TYPE="mock", FORMAT="json");"#;
const TABLE1: &str =
    r#"CREATE TABLE table1 ( name STRING, size BIGINT, id BIGINT ) WITH (DATASOURCE="lookup.json", TYPE="file");"#;

/// (query, substring of the error message).
const BAD_SQL: &[(&str, &str)] = &[
    // syntax
    ("SELECT color FORM demo", "line 1, column 14: found \"FORM\", expected FROM"),
    ("SELEC color FROM demo", "line 1, column 1: found \"SELEC\", expected SELECT"),
    ("SELECT FROM demo", "line 1, column 8: found \"FROM\", expected an expression"),
    ("SELECT color, FROM demo", "line 1, column 15: found \"FROM\", expected an expression"),
    ("SELECT color FROM", "line 1, column 18: found EOF, expected a stream or table name"),
    ("SELECT color FROM demo WHERE", "found EOF, expected an expression"),
    (
        "SELECT color FROM demo WERE size > 1",
        "line 1, column 24: found \"WERE\", expected JOIN, WHERE, GROUP BY, HAVING, ORDER BY or EOF",
    ),
    ("SELECT color FROM demo WHERE size > 1 LIMIT", "found \"LIMIT\", expected GROUP BY, HAVING, ORDER BY or EOF"),
    ("SELECT color FROM demo GROUP color", "line 1, column 30: found \"color\", expected BY"),
    ("SELECT color FROM demo ORDER color", "found \"color\", expected BY"),
    ("SELECT (size + 1 FROM demo", "line 1, column 18: found \"FROM\", expected \")\""),
    ("SELECT size + FROM demo", "found \"FROM\", expected an expression"),
    ("SELECT upper(color FROM demo", "found \"FROM\", expected \",\" or \")\" in the arguments of upper"),
    ("SELECT arr[1 FROM demo", "expected \"]\" or \":\""),
    ("SELECT arr[1:2 FROM demo", "found \"FROM\", expected \"]\""),
    ("SELECT a-> FROM demo", "found \"FROM\", expected a field name after \"->\""),
    ("SELECT CASE WHEN size > 1 1 END FROM demo", "expected THEN after WHEN condition"),
    ("SELECT CASE size END FROM demo", "found \"END\", expected WHEN in CASE expression"),
    ("SELECT CASE WHEN size > 1 THEN 1 FROM demo", "found \"FROM\", expected WHEN, ELSE or END in CASE expression"),
    ("SELECT color FROM demo WHERE size BETWEEN 1 OR 2", "expected AND after BETWEEN's lower bound"),
    ("SELECT color FROM demo WHERE size IN 1, 2", "found \"1\", expected \"(\" after IN"),
    ("SELECT color FROM demo WHERE size IN (1, 2", "found EOF, expected \",\" or \")\" in the IN list"),
    ("SELECT color AS FROM demo", "found \"FROM\", expected an alias name after AS"),
    ("SELECT * AS x FROM demo", "alias is not supported for *"),
    ("SELECT color FROM demo AS", "found EOF, expected an alias name after AS"),
    ("SELECT color FROM demo INNER demo1", "found \"demo1\", expected JOIN"),
    ("SELECT color FROM demo CROSS JOIN demo1 ON demo.ts = demo1.ts", "ON is not allowed for CROSS JOIN"),
    ("SELECT lag(size) OVER (size) FROM demo", "expected PARTITION BY or WHEN after OVER ("),
    ("SELECT lag(size) OVER PARTITION BY color FROM demo", "expected \"(\" after OVER"),
    ("SELECT lag(size) OVER (PARTITION color) FROM demo", "found \"color\", expected BY"),
    ("SELECT count(*) FILTER (size > 1) FROM demo GROUP BY COUNTWINDOW(2)", "found \"size\", expected WHERE"),
    ("SELECT color FROM demo WHERE size == 1", "found \"==\", expected \"=\""),
    ("SELECT color FROM demo WHERE size > 1 ;;", "found \";\", expected EOF"),
    ("SELECT color\nFROM demo\nWHERE size >", "line 3, column 13: found EOF, expected an expression"),
    ("SELECT 'unterminated FROM demo", "line 1, column 8"),
    ("SELECT 99999999999999999999 FROM demo", "integer out of range"),
    ("SELECT color FROM demo WHERE NOT", "found EOF, expected an expression"),
    // binding
    ("SELECT colour FROM demo", "unknown field colour at line 1, column 8"),
    ("SELECT demo.colour FROM demo", "unknown field demo.colour at line 1, column 8"),
    ("SELECT color FROM nope", "stream nope not found"),
    ("SELECT color FROM demo INNER JOIN nope ON demo.ts = nope.ts", "stream nope not found"),
    ("SELECT nofunc(size) FROM demo", "function nofunc not found (at line 1, column 8)"),
    ("SELECT upper(color, size) FROM demo", "invalid argument for func upper: Expect 1 arguments but found 2."),
    ("SELECT lag() FROM demo", "invalid argument for func lag: expect one two or three args but got 0"),
    ("SELECT abs(\"x\") FROM demo", "invalid argument for func abs: Expect number - float or int type for parameter 1"),
    (
        "SELECT changed_cols(\"a\") FROM demo",
        "invalid argument for func changed_cols: At least has 3 argument but found 1.",
    ),
    ("SELECT window_start(1) FROM demo GROUP BY COUNTWINDOW(2)", "Expect 0 arguments but found 1."),
    ("SELECT meta(topic, 1) FROM demo", "invalid argument for func meta: Expect 1 arguments but found 2."),
    (
        "SELECT color FROM demo WHERE count(*) > 1",
        "Not allowed to call aggregate functions in WHERE clause (found count at line 1, column 30).",
    ),
    ("SELECT count(*) AS c FROM demo WHERE c > 1", "Not allowed to call aggregate functions in WHERE clause"),
    (
        "SELECT color FROM demo GROUP BY COUNTWINDOW(2), count(*)",
        "Not allowed to call aggregate functions in GROUP BY clause",
    ),
    (
        "SELECT sum(count(*)) FROM demo GROUP BY COUNTWINDOW(2)",
        "aggregate function count cannot be nested in aggregate function sum (at line 1, column 12)",
    ),
    (
        "SELECT upper(color) OVER (PARTITION BY size) FROM demo",
        "Found OVER after non analytic function upper (at line 1, column 8)",
    ),
    (
        "SELECT upper(color) FILTER (WHERE size > 1) FROM demo",
        "FILTER (WHERE …) is only allowed on aggregate functions, found after upper",
    ),
    ("SELECT unnest(unnest(color)) FROM demo", "nested set-returning-functions"),
    ("SELECT unnest(color), unnest(size) FROM demo", "multi set-returning-functions"),
    ("SELECT color FROM demo WHERE unnest(color) = 1", "shouldn't has srf except fields"),
    (
        "SELECT color FROM demo WHERE tumblingwindow(ss, 1)",
        "window function tumblingwindow is only allowed in GROUP BY (at line 1, column 30)",
    ),
    (
        "SELECT * FROM demo INNER JOIN demo1 ON demo.ts = demo1.ts",
        "a time window or count window is required to join multiple streams",
    ),
    (
        "SELECT ts FROM demo INNER JOIN demo1 ON demo.ts = demo1.ts GROUP BY COUNTWINDOW(2)",
        "ambiguous field ts at line 1, column 8",
    ),
    ("SELECT * FROM demo INNER JOIN demo ON demo.ts = demo.ts GROUP BY COUNTWINDOW(2)", "source demo appears twice"),
    ("SELECT color + * FROM demo", "line 1, column 16: * is only allowed as a select item or a function argument"),
    ("SELECT x.* FROM demo", "unknown stream x in x.* at line 1, column 8"),
    // windows
    (
        "SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss)",
        "invalid argument for func tumblingwindow: The arguments for tumblingwindow should be 2, found 1",
    ),
    ("SELECT color FROM demo GROUP BY HOPPINGWINDOW(ss, 1)", "The arguments for hoppingwindow should be 3"),
    ("SELECT color FROM demo GROUP BY SLIDINGWINDOW(ss)", "The arguments for slidingwindow should be 2 or 3"),
    ("SELECT color FROM demo GROUP BY SESSIONWINDOW(ss, 1)", "The arguments for sessionwindow should be 3"),
    ("SELECT color FROM demo GROUP BY COUNTWINDOW()", "The arguments for countwindow should be 1 or 2"),
    ("SELECT color FROM demo GROUP BY STATEWINDOW(size > 1)", "The arguments for statewindow should be 2"),
    (
        "SELECT color FROM demo GROUP BY TUMBLINGWINDOW(sec, 1)",
        "The 1st argument for tumblingwindow is expecting timer literal expression. One value of [dd|hh|mi|ss|ms] (at line 1, column 48).",
    ),
    (
        "SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss, 0)",
        "The 2nd argument for tumblingwindow is expecting a positive integer literal (at line 1, column 52).",
    ),
    ("SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss, 1.5)", "expecting a positive integer literal"),
    ("SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss, size)", "expecting a positive integer literal"),
    (
        "SELECT color FROM demo GROUP BY HOPPINGWINDOW(ss, 2, -1)",
        "The 3rd argument for hoppingwindow is expecting a positive integer literal",
    ),
    (
        "SELECT color FROM demo GROUP BY COUNTWINDOW(2, 5)",
        "The second parameter value 5 should be less than the first parameter 2",
    ),
    ("SELECT color FROM demo GROUP BY COUNTWINDOW(2), TUMBLINGWINDOW(ss, 1)", "only one window is allowed in GROUP BY"),
    (
        "SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss, 1) OVER (PARTITION BY color)",
        "PARTITION BY is not allowed on window tumblingwindow",
    ),
    (
        "SELECT color FROM demo GROUP BY TUMBLINGWINDOW(ss, 1) FILTER (WHERE count(*) > 1)",
        "Not allowed to call aggregate functions in window FILTER/OVER clause",
    ),
    ("SELECT color FROM demo GROUP BY TUMBLINGWINDOW(dd, 999999999999999)", "is too large"),
];

#[test]
fn invalid_sql() {
    let cat = TestCatalog::from_ddl(&[DEMO, DEMO1, LDEMO, TABLE1]);
    assert!(BAD_SQL.len() >= 50, "{} invalid SQL cases", BAD_SQL.len());
    let mut failures = Vec::new();
    for (sql, want) in BAD_SQL {
        match compile_rule(sql, &cat, RuleOptions::default()) {
            Ok(_) => failures.push(format!("{sql:?}: compiled, expected error containing {want:?}")),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(want) {
                    failures.push(format!("{sql:?}:\n   got  {msg}\n   want {want}"));
                }
                let located = msg.contains("line ")
                    || matches!(
                        e,
                        CompileError::UnknownStream { .. } | CompileError::BadArgument { .. } | CompileError::Plan(_)
                    );
                if !located {
                    failures.push(format!("{sql:?}: error names no position or object: {msg}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (DDL, substring of the error message).
const BAD_DDL: &[(&str, &str)] = &[
    ("CREATE STREAMS demo () WITH (DATASOURCE=\"d\")", "line 1, column 8: found \"STREAMS\", expected STREAM or TABLE"),
    ("CREATE demo () WITH (DATASOURCE=\"d\")", "found \"demo\", expected STREAM or TABLE"),
    ("CREATE STREAM () WITH (DATASOURCE=\"d\")", "line 1, column 15: found \"(\", expected stream name"),
    ("CREATE TABLE () WITH (DATASOURCE=\"d\")", "expected table name"),
    ("CREATE STREAM demo WITH (DATASOURCE=\"d\")", "line 1, column 20: found \"WITH\", expected \"(\" after the name"),
    ("CREATE STREAM demo ()", "found EOF, expected WITH"),
    ("CREATE STREAM demo () (DATASOURCE=\"d\")", "found \"(\", expected WITH"),
    ("CREATE STREAM demo () WITH DATASOURCE=\"d\"", "found \"DATASOURCE\", expected \"(\" after WITH"),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"d\"", "found EOF, expected an option name or \")\""),
    (
        "CREATE STREAM demo (a INT) WITH (DATASOURCE=\"d\")",
        "line 1, column 23: found \"INT\", expected a field type (BIGINT | FLOAT | STRING | DATETIME | BOOLEAN | BYTEA | ARRAY | STRUCT) for field a",
    ),
    ("CREATE STREAM demo (a) WITH (DATASOURCE=\"d\")", "found \")\", expected a field type"),
    (
        "CREATE STREAM demo (a BIGINT b FLOAT) WITH (DATASOURCE=\"d\")",
        "line 1, column 30: found \"b\", expected \",\" or \")\" after a field definition",
    ),
    ("CREATE STREAM demo (a BIGINT, a FLOAT) WITH (DATASOURCE=\"d\")", "invalid a: duplicate field name"),
    ("CREATE STREAM demo (a BIGINT, A FLOAT) WITH (DATASOURCE=\"d\")", "invalid A: duplicate field name"),
    ("CREATE STREAM demo (a ARRAY) WITH (DATASOURCE=\"d\")", "found \")\", expected \"(\" after ARRAY"),
    (
        "CREATE STREAM demo (a ARRAY(BIGINT) WITH (DATASOURCE=\"d\")",
        "found \"WITH\", expected \",\" or \")\" after a field definition",
    ),
    ("CREATE STREAM demo (a ARRAY(INT)) WITH (DATASOURCE=\"d\")", "found \"INT\", expected a field type"),
    (
        "CREATE STREAM demo (a ARRAY(BIGINT, FLOAT)) WITH (DATASOURCE=\"d\")",
        "found \",\", expected \")\" to close ARRAY(",
    ),
    ("CREATE STREAM demo (s STRUCT) WITH (DATASOURCE=\"d\")", "expected \"(\" after STRUCT"),
    ("CREATE STREAM demo (s STRUCT()) WITH (DATASOURCE=\"d\")", "invalid s: STRUCT must declare at least one field"),
    ("CREATE STREAM demo (s STRUCT(a)) WITH (DATASOURCE=\"d\")", "expected a field type"),
    ("CREATE STREAM demo (s STRUCT(a BIGINT, a STRING)) WITH (DATASOURCE=\"d\")", "invalid a: duplicate field name"),
    ("CREATE STREAM demo (1 BIGINT) WITH (DATASOURCE=\"d\")", "found \"1\", expected a field name"),
    (
        "CREATE STREAM demo () WITH (DATASOURCE=\"d\", COLOR=\"red\")",
        "invalid COLOR: unknown option at line 1, column 45, expected one of DATASOURCE|FORMAT|KEY|TYPE",
    ),
    ("CREATE STREAM demo () WITH (datasrc=\"d\")", "invalid DATASRC: unknown option"),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"d\", DATASOURCE=\"e\")", "invalid DATASOURCE: option given twice"),
    ("CREATE STREAM demo () WITH (DATASOURCE \"d\")", "found \"\"d\"\", expected \"=\" after option DATASOURCE"),
    ("CREATE STREAM demo () WITH (DATASOURCE=d)", "found \"d\", expected a quoted string value for option DATASOURCE"),
    ("CREATE STREAM demo () WITH (DATASOURCE=1)", "expected a quoted string value for option DATASOURCE"),
    (
        "CREATE STREAM demo () WITH (FORMAT=\"xml\")",
        "invalid FORMAT: option 'format=xml' is invalid, expected json, binary or delimited",
    ),
    ("CREATE STREAM demo () WITH (FORMAT=\"\")", "invalid FORMAT: option 'format=' is invalid"),
    (
        "CREATE STREAM demo () WITH (STRICT_VALIDATION=\"yes\")",
        "invalid STRICT_VALIDATION: found \"yes\", expected \"true\" or \"false\"",
    ),
    ("CREATE STREAM demo () WITH (SHARED=\"1\")", "invalid SHARED: found \"1\", expected \"true\" or \"false\""),
    (
        "CREATE TABLE t () WITH (RETAIN_SIZE=\"three\")",
        "invalid RETAIN_SIZE: found \"three\", expected a non-negative integer",
    ),
    ("CREATE TABLE t () WITH (RETAIN_SIZE=\"-3\")", "invalid RETAIN_SIZE"),
    ("CREATE TABLE t () WITH (KIND=\"scanner\")", "invalid KIND: found \"scanner\", expected \"scan\" or \"lookup\""),
    (
        "CREATE STREAM demo () WITH (RETAIN_SIZE=\"3\")",
        "invalid RETAIN_SIZE: option RETAIN_SIZE is only valid for tables",
    ),
    ("CREATE STREAM demo () WITH (KIND=\"lookup\")", "invalid KIND: option KIND is only valid for tables"),
    (
        "CREATE TABLE t () WITH (KIND=\"lookup\", TYPE=\"memory\")",
        "invalid KEY: option KEY is required for a memory lookup table",
    ),
    ("CREATE TABLE t () WITH (FORMAT=\"binary\")", "invalid FORMAT: 'binary' format is not supported for table t"),
    (
        "CREATE STREAM b (a BIGINT) WITH (FORMAT=\"binary\")",
        "invalid b: 'binary' format stream can have only one field, of type BYTEA",
    ),
    (
        "CREATE STREAM b (a BYTEA, c BYTEA) WITH (FORMAT=\"binary\")",
        "invalid b: 'binary' format stream can have only one field",
    ),
    ("CREATE STREAM demo () WITH (TYPE=\"\")", "invalid TYPE: empty source type"),
    (
        "CREATE STREAM demo (a BIGINT) WITH (TIMESTAMP=\"ts\")",
        "invalid TIMESTAMP: field ts is not declared in stream demo",
    ),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"d\") extra", "found \"extra\", expected EOF"),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"d\");;", "found \";\", expected EOF"),
    ("CREATE STREAM demo (a BIGINT,, b FLOAT) WITH (DATASOURCE=\"d\")", "found \",\", expected a field name"),
    (
        "CREATE STREAM demo (\n  a BIGINT,\n  b FLOT\n) WITH (DATASOURCE=\"d\")",
        "line 3, column 5: found \"FLOT\", expected a field type",
    ),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"d\", =\"x\")", "found \"=\", expected an option name or \")\""),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"unterminated)", "line 1, column 40"),
    ("CREATE STREAM demo () WITH (DATASOURCE=\"d\"); SELECT", "found \"SELECT\", expected EOF"),
    ("CREATE STREAM demo (a BIGINT) WITH (KEY=\"a\" \"b\")", "found \"\"b\"\", expected an option name or \")\""),
    ("SELECT a FROM demo", "found \"SELECT\", expected CREATE STREAM or CREATE TABLE"),
];

#[test]
fn invalid_ddl() {
    assert!(BAD_DDL.len() >= 50, "{} invalid DDL cases", BAD_DDL.len());
    let mut failures = Vec::new();
    for (ddl, want) in BAD_DDL {
        match parse_stream_ddl(ddl) {
            Ok(d) => failures.push(format!("{ddl:?}: parsed as {d:?}, expected {want:?}")),
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains(want) {
                    failures.push(format!("{ddl:?}:\n   got  {msg}\n   want {want}"));
                }
                let located = msg.contains("line ") || matches!(e, CompileError::InvalidDdl { .. });
                if !located {
                    failures.push(format!("{ddl:?}: error names no position or object: {msg}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn other_statements() {
    use oort_compiler::Statement;
    use oort_compiler::catalog::StreamKind;
    assert_eq!(
        parse_statement("drop stream demo;").expect("drop"),
        Statement::Drop { kind: StreamKind::Stream, name: "demo".into() }
    );
    assert_eq!(
        parse_statement("DROP TABLE t").expect("drop"),
        Statement::Drop { kind: StreamKind::Table, name: "t".into() }
    );
    assert_eq!(
        parse_statement("DESCRIBE STREAM demo").expect("describe"),
        Statement::Describe { kind: StreamKind::Stream, name: "demo".into() }
    );
    assert_eq!(
        parse_statement("EXPLAIN STREAM demo").expect("explain"),
        Statement::Explain { kind: StreamKind::Stream, name: "demo".into() }
    );
    assert_eq!(parse_statement("show streams").expect("show"), Statement::Show { kind: StreamKind::Stream });
    assert_eq!(parse_statement("SHOW TABLES;").expect("show"), Statement::Show { kind: StreamKind::Table });
    assert!(matches!(parse_statement("SELECT a FROM s").expect("select"), Statement::Select(_)));
    let e = parse_statement("DROP STREAM").expect_err("no name").to_string();
    assert!(e.contains("found EOF, expected stream name"), "{e}");
    let e = parse_statement("SHOW STREAM").expect_err("bad show").to_string();
    assert!(e.contains("found \"STREAM\", expected STREAMS or TABLES"), "{e}");
    let e = parse_statement("UPDATE demo").expect_err("bad verb").to_string();
    assert!(e.contains("expected SELECT, CREATE, DROP, DESCRIBE, EXPLAIN or SHOW"), "{e}");
}

#[test]
fn ddl_options_and_types() {
    use oort_compiler::catalog::{FieldType, Format, StreamKind};
    let d = parse_stream_ddl(
        "create table T (a bigint, b array(struct(x float, y string)), c datetime, d boolean, e bytea,) \
         with (datasource='x', format=\"DELIMITED\", delimiter=\"|\", key=\"a\" type=\"memory\" \
         conf_key=\"k\", shared=\"TRUE\", strict_validation=\"false\", retain_size=\"3\", kind=\"Lookup\", \
         schemaid=\"proto1.Msg\", timestamp=\"c\", timestamp_format=\"YYYY\");",
    )
    .expect("ddl");
    assert_eq!(d.kind, StreamKind::Table);
    assert_eq!(d.name, "T");
    let fs = d.fields.as_ref().expect("fields");
    assert_eq!(fs.len(), 5);
    assert_eq!(fs[0].ty, FieldType::Bigint);
    assert!(
        matches!(&fs[1].ty, FieldType::Array(inner) if matches!(**inner, FieldType::Struct(ref s) if s.len() == 2))
    );
    let o = &d.options;
    assert_eq!(o.datasource, "x");
    assert_eq!(o.format, Format::Delimited);
    assert_eq!(o.delimiter.as_deref(), Some("|"));
    assert_eq!(o.key.as_deref(), Some("a"));
    assert_eq!(o.source_type, "memory");
    assert_eq!(o.conf_key.as_deref(), Some("k"));
    assert!(o.shared);
    assert!(!o.strict_validation);
    assert_eq!(o.retain_size, Some(3));
    assert_eq!(o.kind.as_deref(), Some("lookup"));
    assert_eq!(o.extra.get("SCHEMAID").map(String::as_str), Some("proto1.Msg"));
    assert_eq!(o.timestamp.as_deref(), Some("c"));
    assert!(d.sql.starts_with("create table T"));
    let d = parse_stream_ddl("CREATE STREAM s () WITH (DATASOURCE=\"s\")").expect("schemaless");
    assert!(d.fields.is_none());
    assert_eq!(d.options.source_type, "mqtt");
    assert_eq!(d.options.format, Format::Json);
}
