//! `get_keyed_state(key, type, default)`: reads a value of eKuiper's
//! external keyed-state store. The store itself (SQLite in the data
//! directory, or Redis) belongs to the server, which installs it here once
//! with [`install`]; this module owns the [`KeyedStateStore`] trait the
//! evaluator reads through and the conversion of what it reads.
//!
//! A store answers with the stored text. Text that parses as JSON becomes
//! that value (`42`, `2.5`, `true`, `"x"`), other text a string; the value
//! is then converted to `type` (`bigint`, `float`, `string`, `boolean`,
//! `datetime`) as `cast` does. An absent key, an unreachable store or no
//! store at all gives `default` (eKuiper answers the default on any read
//! error). The store's `get` runs on the worker thread, so an
//! implementation must not wait on the network per call (see the server's
//! `keyed_state` module for the read path of each backend).

use super::{R, arg};
use crate::value::Value;
use std::sync::{Arc, RwLock};

/// The types `get_keyed_state` converts to.
pub const STATE_TYPES: &[&str] = &["bigint", "float", "string", "boolean", "datetime"];

/// A read-only view of the external keyed-state store.
pub trait KeyedStateStore: Send + Sync {
    /// The stored text of `key`; `Ok(None)` when absent.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
}

static STORE: RwLock<Option<Arc<dyn KeyedStateStore>>> = RwLock::new(None);

/// Makes `store` the one `get_keyed_state` reads (replacing any before).
pub fn install(store: Arc<dyn KeyedStateStore>) {
    let mut s = match STORE.write() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    *s = Some(store);
}

fn current() -> Option<Arc<dyn KeyedStateStore>> {
    STORE.read().ok().and_then(|s| s.clone())
}

/// The value stored text stands for: JSON when it parses, else the text.
pub fn parse_stored(text: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(j) => crate::value::from_json(&j),
        Err(_) => Value::from(text),
    }
}

pub(super) fn get_keyed_state(a: &[Value]) -> R {
    let default = arg(a, 2).clone();
    let key = match arg(a, 0) {
        Value::String(s) => s.clone(),
        other => return Err(format!("key {} is not a string", other.go_describe())),
    };
    let ty = match arg(a, 1) {
        Value::String(t) if STATE_TYPES.contains(&t.as_ref()) => t.clone(),
        other => {
            return Err(format!(
                "expect one of bigint, float, string, boolean, datetime for the type but got {}",
                other.go_describe()
            ));
        }
    };
    let Some(store) = current() else { return Ok(default) };
    let text = match store.get(&key) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(default),
        Err(e) => {
            tracing::debug!(key = %key, error = %e, "get_keyed_state: store read failed; using the default");
            return Ok(default);
        }
    };
    let cast = super::scalar("cast").ok_or("cast is missing")?;
    cast(&[parse_stored(&text), Value::String(ty)])
}
