//! The catalog: what a `CREATE STREAM` / `CREATE TABLE` statement defines.
//! Plain data (serde) so it can be persisted and shipped to workers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The type of a stream field, as eKuiper's DDL spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    /// `BIGINT`: i64.
    Bigint,
    /// `FLOAT`: f64.
    Float,
    /// `STRING`.
    String,
    /// `DATETIME`.
    Datetime,
    /// `BOOLEAN`.
    Boolean,
    /// `BYTEA`: bytes.
    Bytea,
    /// `ARRAY(type)`.
    Array(Box<FieldType>),
    /// `STRUCT(name type, ...)`.
    Struct(Vec<FieldDef>),
}

/// One named field of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Field name as declared (case preserved).
    pub name: String,
    /// Declared type.
    pub ty: FieldType,
}

/// Whether a definition is a stream (unbounded, windowed) or a table (latest rows, joined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamKind {
    /// `CREATE STREAM`.
    Stream,
    /// `CREATE TABLE`.
    Table,
}

/// Payload format (`FORMAT=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// `json` (default).
    Json,
    /// `binary`: the whole payload is one bytes field named `self`.
    Binary,
    /// `delimited`: one line of values split by `DELIMITER`.
    Delimited,
}

/// The `WITH (...)` options of a stream or table. Unknown options are refused at parse time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// `DATASOURCE`: topic, file name, memory topic, ...
    pub datasource: String,
    /// `FORMAT`.
    pub format: Format,
    /// `KEY`: the key field (tables replace rows by it).
    pub key: Option<String>,
    /// `TYPE`: the connector (`mqtt` default, `memory`, `file`, `httppush`, `mock`, a plugin ...).
    pub source_type: String,
    /// `CONF_KEY`: the named section of `etc/sources/<type>.yaml`.
    pub conf_key: Option<String>,
    /// `TIMESTAMP`: the event-time field.
    pub timestamp: Option<String>,
    /// `TIMESTAMP_FORMAT`.
    pub timestamp_format: Option<String>,
    /// `STRICT_VALIDATION`: refuse records whose fields do not match the schema.
    pub strict_validation: bool,
    /// `SHARED`: one source instance shared by all rules.
    pub shared: bool,
    /// `RETAIN_SIZE` (tables): how many rows a table keeps.
    pub retain_size: Option<usize>,
    /// `KIND` (tables): `scan` (default) or `lookup`.
    pub kind: Option<String>,
    /// `DELIMITER` for the delimited format (default `,`).
    pub delimiter: Option<String>,
    /// `SCHEMAID` and other options kept verbatim for connectors.
    pub extra: BTreeMap<String, String>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            datasource: String::new(),
            format: Format::Json,
            key: None,
            source_type: "mqtt".into(),
            conf_key: None,
            timestamp: None,
            timestamp_format: None,
            strict_validation: false,
            shared: false,
            retain_size: None,
            kind: None,
            delimiter: None,
            extra: BTreeMap::new(),
        }
    }
}

/// A defined stream or table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDef {
    /// Name as declared.
    pub name: String,
    /// Stream or table.
    pub kind: StreamKind,
    /// The schema; `None` for a schemaless `()` stream.
    pub fields: Option<Vec<FieldDef>>,
    /// The WITH options.
    pub options: StreamOptions,
    /// The DDL text it was created from (for DESCRIBE and persistence).
    pub sql: String,
}

/// What the compiler may look up while binding a query.
pub trait Catalog {
    /// The stream or table of that name (exact match first, then case-insensitive).
    fn stream(&self, name: &str) -> Option<&StreamDef>;

    /// The signature of a function: built-ins, then (by override) plugin functions.
    fn function(&self, name: &str) -> Option<crate::functions::FunctionSig> {
        crate::functions::lookup(name)
    }

    /// Checks a call's arguments (their type names: `bigint`, `float`, `string`, `boolean`,
    /// `null` for literals, `any` otherwise) when the rule is created. Built-ins are checked by
    /// the binder itself; this is where plugin functions run their own `validate`.
    fn validate_call(&self, name: &str, arg_types: &[&str]) -> Result<(), String> {
        let _ = (name, arg_types);
        Ok(())
    }
}

/// Functions beyond the built-ins (plugin functions), resolved when a rule is compiled: a plugin
/// installed a moment ago is seen by the next rule created.
pub trait FunctionResolver: Send + Sync {
    /// The signature of function `name` (lower-case), if the resolver has it.
    fn function(&self, name: &str) -> Option<crate::functions::FunctionSig>;
    /// Accept or refuse a call with these argument type names.
    fn validate_call(&self, name: &str, arg_types: &[&str]) -> Result<(), String>;
}

/// Streams plus the functions of a [`FunctionResolver`] (built-ins win on a name clash).
pub struct CatalogWithFunctions<'a> {
    /// Streams and tables.
    pub streams: &'a BTreeMap<String, StreamDef>,
    /// Where non-built-in functions come from (`None`: built-ins only).
    pub functions: Option<&'a dyn FunctionResolver>,
}

impl Catalog for CatalogWithFunctions<'_> {
    fn stream(&self, name: &str) -> Option<&StreamDef> {
        self.streams.stream(name)
    }

    fn function(&self, name: &str) -> Option<crate::functions::FunctionSig> {
        crate::functions::lookup(name).or_else(|| self.functions?.function(name))
    }

    fn validate_call(&self, name: &str, arg_types: &[&str]) -> Result<(), String> {
        match self.functions {
            Some(f) if crate::functions::lookup(name).is_none() => f.validate_call(name, arg_types),
            _ => Ok(()),
        }
    }
}

impl Catalog for BTreeMap<String, StreamDef> {
    fn stream(&self, name: &str) -> Option<&StreamDef> {
        self.get(name).or_else(|| self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{Category, FunctionKind, FunctionSig};
    use crate::plan::{LogicalPlan, RuleOptions};

    /// Two plugin functions: `echo` (scalar, exactly one argument) and `countplusone` (aggregate).
    struct Plugins;

    impl FunctionResolver for Plugins {
        fn function(&self, name: &str) -> Option<FunctionSig> {
            let kind = match name {
                "echo" => FunctionKind::Scalar,
                "countplusone" => FunctionKind::Aggregate,
                _ => return None,
            };
            Some(FunctionSig {
                name: name.into(),
                category: Category::Other,
                kind,
                min_args: 0,
                max_args: None,
                implemented: true,
            })
        }

        fn validate_call(&self, name: &str, arg_types: &[&str]) -> Result<(), String> {
            match (name, arg_types) {
                ("echo", [_]) | ("countplusone", [_]) => Ok(()),
                _ => Err(format!("{name} expects 1 argument, got {}", arg_types.len())),
            }
        }
    }

    fn streams() -> BTreeMap<String, StreamDef> {
        let def = crate::parse_stream_ddl(r#"CREATE STREAM demo (a BIGINT) WITH (DATASOURCE="demo")"#).expect("ddl");
        BTreeMap::from([(def.name.clone(), def)])
    }

    #[test]
    fn plugin_functions_bind_as_scalars_and_aggregates_and_are_validated() {
        let streams = streams();
        let with = CatalogWithFunctions { streams: &streams, functions: Some(&Plugins) };
        let compile = |sql: &str, cat: &dyn Catalog| crate::compile_rule(sql, cat, RuleOptions::default());
        compile("SELECT echo(a) FROM demo", &with).expect("scalar plugin function");
        let plan =
            compile("SELECT countPlusOne(a) FROM demo GROUP BY TUMBLINGWINDOW(ss, 1)", &with).expect("aggregate");
        let mut node = &plan.root;
        let aggregates = loop {
            match node {
                LogicalPlan::Aggregate { aggregates, .. } => break aggregates,
                LogicalPlan::Project { input, .. } => node = input,
                other => panic!("unexpected node {other:?}"),
            }
        };
        assert_eq!(aggregates[0].name, "countplusone");
        let e = compile("SELECT echo(a, 'x') FROM demo", &with).expect_err("plugin validate").to_string();
        assert!(e.contains("echo expects 1 argument, got 2"), "{e}");
        // Built-ins win, and without a resolver plugin names are unknown.
        compile("SELECT upper('x') FROM demo", &with).expect("built-in");
        let bare = CatalogWithFunctions { streams: &streams, functions: None };
        assert!(compile("SELECT echo(a) FROM demo", &bare).is_err());
    }
}
