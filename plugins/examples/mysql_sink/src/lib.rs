//! The `mysql` sink: writes rows into a MySQL/MariaDB table (eKuiper's SQL sink for MySQL).
//!
//! Properties:
//! - `url` (required): `mysql://user:password@host:3306/database`.
//! - `table` (required): the table to insert into.
//! - `fields` (optional list): the columns to write, in order; default: the keys of each row.
//!
//! Values always travel as statement parameters (`INSERT ... VALUES (?, ?)`); SQL text is never
//! built from data. Table and column names cannot be parameters, so they must be plain
//! identifiers (letters, digits, `_`), checked before use, and are quoted with backticks.
//!
//! `collect` buffers rows; `flush` writes them in one batch (rows with the same columns share a
//! prepared statement) and keeps them buffered if the write fails, so `close` — which flushes —
//! loses nothing that was accepted. While the server is unreachable `is_ready` answers false and
//! the host keeps data queued.

use mysql::prelude::Queryable;
use oort_plugin_sdk::{Error, Props, Record, Result, Sink, SinkContext, Value};

/// The `mysql` sink.
#[derive(Default)]
pub struct MysqlSink {
    url: String,
    table: String,
    fields: Option<Vec<String>>,
    pool: Option<mysql::Pool>,
    buffer: Vec<Record>,
}

fn identifier(kind: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok { Ok(format!("`{name}`")) } else { Err(Error::msg(format!("mysql sink: invalid {kind} name {name:?}"))) }
}

fn param(v: &Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Bool(b) => mysql::Value::Int(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => mysql::Value::Int(i),
            (None, Some(u), _) => mysql::Value::UInt(u),
            (_, _, Some(f)) => mysql::Value::Double(f),
            _ => mysql::Value::NULL,
        },
        Value::String(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
        other => mysql::Value::Bytes(other.to_string().into_bytes()),
    }
}

impl MysqlSink {
    fn write(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let pool = self.pool.as_ref().ok_or_else(|| Error::msg("mysql sink: not open"))?;
        let mut conn = pool.get_conn()?;
        let table = identifier("table", &self.table)?;
        // Group consecutive rows by column list so each group is one prepared statement.
        let mut start = 0;
        while start < self.buffer.len() {
            let columns: Vec<String> = match &self.fields {
                Some(f) => f.clone(),
                None => self.buffer[start].keys().cloned().collect(),
            };
            let end = (start..self.buffer.len())
                .find(|&i| self.fields.is_none() && !self.buffer[i].keys().eq(columns.iter()))
                .unwrap_or(self.buffer.len());
            let quoted = columns.iter().map(|c| identifier("column", c)).collect::<Result<Vec<_>>>()?;
            let marks = vec!["?"; columns.len()].join(", ");
            let statement = format!("INSERT INTO {table} ({}) VALUES ({marks})", quoted.join(", "));
            let rows = self.buffer[start..end]
                .iter()
                .map(|r| columns.iter().map(|c| param(r.get(c).unwrap_or(&Value::Null))).collect::<Vec<_>>());
            conn.exec_batch(statement, rows)?;
            start = end;
        }
        self.buffer.clear();
        Ok(())
    }
}

impl Sink for MysqlSink {
    fn configure(&mut self, props: &Props) -> Result<()> {
        let text = |key: &str| -> Result<String> {
            props
                .get(key)
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| Error::msg(format!("mysql sink: property `{key}` (string) is required")))
        };
        self.url = text("url")?;
        self.table = text("table")?;
        identifier("table", &self.table)?;
        self.fields = match props.get("fields") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|f| {
                        let f = f.as_str().ok_or_else(|| Error::msg("mysql sink: `fields` must be strings"))?;
                        identifier("column", f)?;
                        Ok(f.to_string())
                    })
                    .collect::<Result<_>>()?,
            ),
            Some(other) => return Err(Error::msg(format!("mysql sink: `fields` must be a list, got {other}"))),
        };
        Ok(())
    }

    fn open(&mut self, _ctx: SinkContext) -> Result<()> {
        let opts = mysql::Opts::from_url(&self.url).map_err(|e| Error::msg(format!("mysql sink: bad url: {e}")))?;
        let pool = mysql::Pool::new(opts)?;
        pool.get_conn()?;
        self.pool = Some(pool);
        Ok(())
    }

    fn is_ready(&mut self) -> bool {
        self.pool.as_ref().is_some_and(|p| p.try_get_conn(std::time::Duration::from_millis(200)).is_ok())
    }

    fn collect(&mut self, batch: Vec<Record>) -> Result<()> {
        self.buffer.extend(batch);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.write()
    }

    fn close(&mut self) -> Result<()> {
        let result = self.write();
        self.pool = None;
        result
    }
}

oort_plugin_sdk::export_plugin! {
    name: "mysql",
    version: env!("CARGO_PKG_VERSION"),
    sinks: ["mysql" => MysqlSink],
}
