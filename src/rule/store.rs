//! Persistence: streams, tables, rules (with whether they should run) and
//! installed plugins, in one embedded SQLite database (`oort.db` in the data
//! directory).
//!
//! The database runs in WAL mode with `synchronous=FULL`, so every write is on
//! disk when the call returns: a REST call that changed something has made it
//! durable before it answers, and a `kill -9` right after loses nothing. Rows
//! keep their insertion order (SQLite rowid), so streams are restored in the
//! order they were created. The store holds definitions only; the
//! [`RuleManager`](super::manager::RuleManager) holds the live state, and the
//! server restores one from the other at boot.

use super::manager::RuleDef;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The database file name inside the data directory.
pub const DB_FILE: &str = "oort.db";

/// The schema version written by this build.
const SCHEMA_VERSION: i64 = 1;

/// What can go wrong reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored row could not be decoded.
    #[error("store {path}: bad {what} row {key}: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// `rule`, `plugin`.
        what: &'static str,
        /// The row key.
        key: String,
        /// Why it does not decode.
        message: String,
    },
    /// The database was written by a newer Oort.
    #[error("store {path}: schema version {found} is newer than this build's {SCHEMA_VERSION}")]
    Version {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
}

/// A stored stream or table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    /// Name as declared.
    pub name: String,
    /// `stream` or `table`.
    pub kind: String,
    /// The `CREATE` statement.
    pub sql: String,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    /// The definition as submitted.
    pub def: RuleDef,
    /// Whether the rule should run (it was started and not stopped by a user).
    pub running: bool,
}

/// A stored plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlugin {
    /// `sources`, `sinks`, `functions`, ...
    pub kind: String,
    /// Plugin name.
    pub name: String,
    /// Its install request / descriptor.
    pub def: Json,
}

/// The SQLite store.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) `oort.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        Self::init(path, conn)
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        Self::init(path, conn)
    }

    fn init(path: PathBuf, conn: Connection) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        // WAL + FULL: a committed transaction is fsynced before commit returns.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS streams (name TEXT PRIMARY KEY, kind TEXT NOT NULL, sql TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS rules (id TEXT PRIMARY KEY, def TEXT NOT NULL, running INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS plugins (kind TEXT NOT NULL, name TEXT NOT NULL, def TEXT NOT NULL,
                                                 PRIMARY KEY (kind, name));",
        )
        .map_err(err)?;
        let version: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        match version {
            Some(v) if v > SCHEMA_VERSION => return Err(StoreError::Version { path, found: v }),
            Some(_) => {}
            None => {
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?1)", params![SCHEMA_VERSION])
                    .map_err(err)?;
            }
        }
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Self { path, conn: Mutex::new(conn) })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Saves a stream or table (insert or replace; the creation order is kept).
    pub fn put_stream(&self, name: &str, kind: &str, sql: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO streams (name, kind, sql) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, sql = excluded.sql",
                params![name, kind, sql],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets a stream or table (case-insensitive name). Returns whether it was stored.
    pub fn delete_stream(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM streams WHERE name = ?1 COLLATE NOCASE", params![name])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every stored stream and table, in creation order.
    pub fn streams(&self) -> Result<Vec<StoredStream>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, kind, sql FROM streams ORDER BY rowid").map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok(StoredStream { name: r.get(0)?, kind: r.get(1)?, sql: r.get(2)? }))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Saves a rule and whether it should run.
    pub fn put_rule(&self, def: &RuleDef, running: bool) -> Result<(), StoreError> {
        let json = serde_json::to_string(def).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            what: "rule",
            key: def.id.clone(),
            message: e.to_string(),
        })?;
        self.conn()
            .execute(
                "INSERT INTO rules (id, def, running) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET def = excluded.def, running = excluded.running",
                params![def.id, json, running],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records whether a rule should run. Returns whether the rule is stored.
    pub fn set_rule_running(&self, id: &str, running: bool) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("UPDATE rules SET running = ?2 WHERE id = ?1", params![id, running])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Forgets a rule. Returns whether it was stored.
    pub fn delete_rule(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute("DELETE FROM rules WHERE id = ?1", params![id]).map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every stored rule, in creation order.
    pub fn rules(&self) -> Result<Vec<StoredRule>, StoreError> {
        let raw: Vec<(String, String, bool)> = {
            let conn = self.conn();
            let mut stmt =
                conn.prepare("SELECT id, def, running FROM rules ORDER BY rowid").map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))?
        };
        raw.into_iter()
            .map(|(id, json, running)| {
                let def: RuleDef = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    what: "rule",
                    key: id,
                    message: e.to_string(),
                })?;
                Ok(StoredRule { def, running })
            })
            .collect()
    }

    /// Saves an installed plugin.
    pub fn put_plugin(&self, kind: &str, name: &str, def: &Json) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO plugins (kind, name, def) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, name) DO UPDATE SET def = excluded.def",
                params![kind, name, def.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets a plugin. Returns whether it was stored.
    pub fn delete_plugin(&self, kind: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM plugins WHERE kind = ?1 AND name = ?2", params![kind, name])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every stored plugin, in installation order.
    pub fn plugins(&self) -> Result<Vec<StoredPlugin>, StoreError> {
        let raw: Vec<(String, String, String)> = {
            let conn = self.conn();
            let mut stmt =
                conn.prepare("SELECT kind, name, def FROM plugins ORDER BY rowid").map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))?
        };
        raw.into_iter()
            .map(|(kind, name, def)| {
                let def = serde_json::from_str(&def).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    what: "plugin",
                    key: format!("{kind}/{name}"),
                    message: e.to_string(),
                })?;
                Ok(StoredPlugin { kind, name, def })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(id: &str) -> RuleDef {
        RuleDef {
            id: id.into(),
            sql: "SELECT * FROM demo".into(),
            actions: vec![json!({"log": {}}).as_object().cloned().unwrap_or_default()],
            options: serde_json::Map::new(),
        }
    }

    #[test]
    fn round_trips_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("oort-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        {
            let s = Store::open(&dir).expect("open");
            s.put_stream("demo", "stream", "CREATE STREAM demo () WITH (TYPE=\"memory\")").expect("put");
            s.put_stream("t", "table", "CREATE TABLE t () WITH (TYPE=\"memory\")").expect("put");
            s.put_stream("demo", "stream", "CREATE STREAM demo (a BIGINT) WITH (TYPE=\"memory\")").expect("replace");
            s.put_rule(&rule("r1"), true).expect("rule");
            s.put_rule(&rule("r2"), true).expect("rule");
            assert!(s.set_rule_running("r2", false).expect("set"));
            assert!(!s.set_rule_running("nope", false).expect("set"));
            s.put_plugin("functions", "echo", &json!({"file": "x.so"})).expect("plugin");
        }
        let s = Store::open(&dir).expect("reopen");
        let streams = s.streams().expect("streams");
        assert_eq!(streams.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), ["demo", "t"]);
        assert!(streams[0].sql.contains("a BIGINT"));
        let rules = s.rules().expect("rules");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].def, rule("r1"));
        assert!(rules[0].running);
        assert!(!rules[1].running);
        assert!(s.delete_stream("DEMO").expect("delete"));
        assert!(s.delete_rule("r1").expect("delete"));
        assert_eq!(s.streams().expect("streams").len(), 1);
        assert_eq!(s.rules().expect("rules").len(), 1);
        assert_eq!(s.plugins().expect("plugins")[0].def, json!({"file": "x.so"}));
        assert!(s.delete_plugin("functions", "echo").expect("delete"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
