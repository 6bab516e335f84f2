//! The external keyed-state store that `get_keyed_state(key, type, default)`
//! reads (eKuiper's `store.extStateType`): SQLite in the data directory (the
//! default) or Redis (`store.extStateType: redis`, `store.redis.*` in
//! `oort.yaml`). Values are stored as text, JSON or plain (`42`, `"x"`,
//! `on`); the function converts them to the asked type.
//!
//! The evaluator calls [`KeyedStateStore::get`] on a worker thread, once per
//! row, so the read path must not wait on the network per row:
//!
//! * **SQLite** is read synchronously: a point lookup in a local file (a
//!   prepared statement behind a mutex), microseconds, no network.
//! * **Redis** is read through a cache ([`CachedStore`]): a key's first read
//!   fetches it once (bounded by `store.redis.timeout`), after which rows
//!   read the cached value, and a background thread refreshes every cached
//!   key each `store.redis.refreshInterval` ms. A value written to Redis is
//!   therefore seen by rules within that interval; a read error keeps the
//!   last value (or gives the default for a key never read).

use crate::config::{KeyedStateConfig, RedisConfig};
use oort_operators::functions::keyed_state::KeyedStateStore;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// Why the keyed-state store cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyedStateError {
    /// SQLite failed.
    #[error("keyed state (sqlite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Redis failed or answered something unexpected.
    #[error("keyed state (redis {addr}): {message}")]
    Redis {
        /// `host:port`.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The configuration names an unknown backend.
    #[error("unknown store.extStateType {0}; expected sqlite or redis")]
    UnknownType(String),
}

/// Opens the store the configuration names and makes it the one
/// `get_keyed_state` reads.
pub fn install(cfg: &KeyedStateConfig, data_dir: &Path) -> Result<(), KeyedStateError> {
    let store: Arc<dyn KeyedStateStore> = match cfg.ext_state_type.to_ascii_lowercase().as_str() {
        "sqlite" | "" => Arc::new(SqliteKeyedState::open(&data_dir.join("keyed_state.sqlite"))?),
        "redis" => CachedStore::start(
            RedisKeyedState::new(&cfg.redis),
            Duration::from_millis(cfg.redis.refresh_interval.max(10)),
        ),
        other => return Err(KeyedStateError::UnknownType(other.to_string())),
    };
    oort_operators::functions::keyed_state::install(store);
    Ok(())
}

/// Keyed state in a SQLite table `keyed_state(key, value)`.
pub struct SqliteKeyedState {
    conn: Mutex<rusqlite::Connection>,
}

impl SqliteKeyedState {
    /// Opens (creating) the database file and its table.
    pub fn open(path: &Path) -> Result<Self, KeyedStateError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_millis(200))?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS keyed_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    /// Stores `value` (text) under `key`.
    pub fn set(&self, key: &str, value: &str) -> Result<(), KeyedStateError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO keyed_state (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )?;
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<(), KeyedStateError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute("DELETE FROM keyed_state WHERE key = ?1", [key])?;
        Ok(())
    }

    fn read(&self, key: &str) -> Result<Option<String>, KeyedStateError> {
        use rusqlite::OptionalExtension;
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached("SELECT value FROM keyed_state WHERE key = ?1")?;
        Ok(stmt.query_row([key], |r| r.get::<_, String>(0)).optional()?)
    }
}

impl KeyedStateStore for SqliteKeyedState {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.read(key).map_err(|e| e.to_string())
    }
}

/// A minimal Redis client (RESP over TCP): `GET`, `SET`, `DEL`, with `AUTH`
/// and `SELECT` on connect. One connection, reopened after an error.
pub struct RedisKeyedState {
    cfg: RedisConfig,
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

impl RedisKeyedState {
    /// A client for the configured server (connects on first use).
    pub fn new(cfg: &RedisConfig) -> Self {
        Self { cfg: cfg.clone(), conn: Mutex::new(None) }
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.cfg.host, self.cfg.port)
    }

    fn err(&self, message: impl Into<String>) -> KeyedStateError {
        KeyedStateError::Redis { addr: self.addr(), message: message.into() }
    }

    fn connect(&self) -> Result<BufReader<TcpStream>, KeyedStateError> {
        use std::net::ToSocketAddrs;
        let timeout = Duration::from_millis(self.cfg.timeout.max(1));
        let addr = self
            .addr()
            .to_socket_addrs()
            .map_err(|e| self.err(e.to_string()))?
            .next()
            .ok_or_else(|| self.err("no address"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| self.err(e.to_string()))?;
        stream.set_read_timeout(Some(timeout)).map_err(|e| self.err(e.to_string()))?;
        stream.set_write_timeout(Some(timeout)).map_err(|e| self.err(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let mut conn = BufReader::new(stream);
        if let Some(pw) = self.cfg.password.as_deref().filter(|p| !p.is_empty()) {
            self.round_trip(&mut conn, &["AUTH", pw])?;
        }
        if self.cfg.db != 0 {
            self.round_trip(&mut conn, &["SELECT", &self.cfg.db.to_string()])?;
        }
        Ok(conn)
    }

    fn round_trip(&self, conn: &mut BufReader<TcpStream>, args: &[&str]) -> Result<Option<String>, KeyedStateError> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        conn.get_mut().write_all(&req).map_err(|e| self.err(e.to_string()))?;
        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| self.err(e.to_string()))?;
        let line = line.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" | ":" => Ok(Some(rest.to_string())),
            "-" => Err(self.err(rest.to_string())),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| self.err(format!("bad reply {line}")))?;
                if n < 0 {
                    return Ok(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                std::io::Read::read_exact(conn, &mut buf).map_err(|e| self.err(e.to_string()))?;
                buf.truncate(n as usize);
                String::from_utf8(buf).map(Some).map_err(|_| self.err("value is not UTF-8"))
            }
            _ => Err(self.err(format!("unexpected reply {line}"))),
        }
    }

    /// Sends one command on the shared connection (opening it when needed;
    /// dropping it after an error).
    fn command(&self, args: &[&str]) -> Result<Option<String>, KeyedStateError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.connect()?);
        }
        let Some(conn) = guard.as_mut() else { return Err(self.err("not connected")) };
        let r = self.round_trip(conn, args);
        if r.is_err() {
            *guard = None;
        }
        r
    }

    /// `SET key value`.
    pub fn set(&self, key: &str, value: &str) -> Result<(), KeyedStateError> {
        self.command(&["SET", key, value]).map(|_| ())
    }

    /// `DEL key`.
    pub fn delete(&self, key: &str) -> Result<(), KeyedStateError> {
        self.command(&["DEL", key]).map(|_| ())
    }

    /// `GET key`.
    pub fn fetch(&self, key: &str) -> Result<Option<String>, KeyedStateError> {
        self.command(&["GET", key])
    }
}

impl KeyedStateStore for RedisKeyedState {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.fetch(key).map_err(|e| e.to_string())
    }
}

/// Most keys a [`CachedStore`] keeps (and refreshes); beyond that, reads
/// of new keys go to the backend each time.
pub const CACHED_KEYS_MAX: usize = 100_000;

/// A read-through cache in front of a remote store: the first read of a
/// key asks the backend, later reads answer from memory, and a background
/// thread re-reads every cached key each `refresh` (it stops when the cache
/// is dropped).
pub struct CachedStore<S> {
    backend: S,
    values: RwLock<HashMap<String, Option<String>>>,
}

impl<S: KeyedStateStore + 'static> CachedStore<S> {
    /// Starts the cache and its refresh thread.
    pub fn start(backend: S, refresh: Duration) -> Arc<Self> {
        let me = Arc::new(Self { backend, values: RwLock::new(HashMap::new()) });
        let weak: Weak<Self> = Arc::downgrade(&me);
        let spawned = std::thread::Builder::new().name("oort-keyed-state-refresh".into()).spawn(move || {
            loop {
                std::thread::sleep(refresh);
                let Some(me) = weak.upgrade() else { return };
                me.refresh();
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "keyed state: cannot start the refresh thread; values will not be refreshed");
        }
        me
    }

    /// Re-reads every cached key.
    pub fn refresh(&self) {
        let keys: Vec<String> = match self.values.read() {
            Ok(v) => v.keys().cloned().collect(),
            Err(_) => return,
        };
        for k in keys {
            match self.backend.get(&k) {
                Ok(v) => {
                    if let Ok(mut values) = self.values.write() {
                        values.insert(k, v);
                    }
                }
                Err(e) => {
                    tracing::warn!(key = %k, error = %e, "keyed state: refresh failed; keeping the last value");
                    return;
                }
            }
        }
    }
}

impl<S: KeyedStateStore> KeyedStateStore for CachedStore<S> {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        if let Ok(values) = self.values.read()
            && let Some(v) = values.get(key)
        {
            return Ok(v.clone());
        }
        let v = self.backend.get(key)?;
        if let Ok(mut values) = self.values.write()
            && values.len() < CACHED_KEYS_MAX
        {
            values.insert(key.to_string(), v.clone());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        reads: AtomicUsize,
        value: Mutex<Option<String>>,
    }

    impl KeyedStateStore for Counting {
        fn get(&self, _key: &str) -> Result<Option<String>, String> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.value.lock().unwrap().clone())
        }
    }

    #[test]
    fn the_cache_reads_a_key_once_then_refreshes_it() {
        let backend = Counting { reads: AtomicUsize::new(0), value: Mutex::new(Some("1".into())) };
        let cache = CachedStore::start(backend, Duration::from_secs(3600));
        for _ in 0..5 {
            assert_eq!(cache.get("k").unwrap().as_deref(), Some("1"));
        }
        assert_eq!(cache.backend.reads.load(Ordering::SeqCst), 1);
        *cache.backend.value.lock().unwrap() = Some("2".into());
        cache.refresh();
        assert_eq!(cache.get("k").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn sqlite_stores_and_reads() {
        let dir = std::env::temp_dir().join(format!("oort-keyed-state-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = SqliteKeyedState::open(&dir.join("ks.sqlite")).unwrap();
        assert_eq!(s.get("a").unwrap(), None);
        s.set("a", "42").unwrap();
        s.set("a", "43").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some("43"));
        s.delete("a").unwrap();
        assert_eq!(s.get("a").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
