//! `get_keyed_state(key, type, default)` end to end with the default SQLite
//! backend: values written to the store's table in the data directory are
//! read by a rule, converted to the asked type, and absent keys give the
//! default. A bad type is refused when the rule is created. (The Redis
//! backend is tested by `tests/keyed_state_redis.rs`, run by
//! `.ci/keyed_state_redis.sh`.)

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::*;

use oort::config::KeyedStateConfig;
use oort::connectors::{ConnectorEnv, memory::MemoryBus};
use oort::keyed_state::SqliteKeyedState;
use oort::rule::manager::RuleManager;
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::value::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_reads_keyed_state_from_sqlite() {
    let data = common::temp_dir("keyed-state");
    let store = SqliteKeyedState::open(&data.join("keyed_state.sqlite")).unwrap();
    store.set("dev1:threshold", "42").unwrap();
    store.set("flag", "true").unwrap();
    store.set("ratio", "2.5").unwrap();
    store.set("name", "plain text").unwrap();
    store.set("quoted", "\"json text\"").unwrap();
    store.set("ts", "1700000000000").unwrap();
    oort::keyed_state::install(&KeyedStateConfig::default(), &data).unwrap();

    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 2 }, clock.clone()).unwrap());
    let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), data.clone()));
    let mgr = RuleManager::new(runtime, env, clock);
    mgr.create_stream(r#"CREATE STREAM s (id BIGINT) WITH (DATASOURCE="ks/in", TYPE="memory")"#).unwrap();
    assert!(mgr.create_rule(memory_rule("bad", r#"SELECT get_keyed_state("k", "int", 0) FROM s"#, "x")).is_err());
    assert!(mgr.create_rule(memory_rule("two", r#"SELECT get_keyed_state("k", "bigint") FROM s"#, "x")).is_err());

    let mut out = mgr.env().memory.subscribe("ks/out", 100);
    let sql = r#"SELECT id,
        get_keyed_state(concat("dev", cast(id, "string"), ":threshold"), "bigint", -1) AS th,
        get_keyed_state("flag", "boolean", false) AS f,
        get_keyed_state("ratio", "float", 0.0) AS r,
        get_keyed_state("ratio", "string", "") AS rs,
        get_keyed_state("name", "string", "none") AS n,
        get_keyed_state("quoted", "string", "none") AS q,
        get_keyed_state("ts", "datetime", 0) AS t,
        cast(1700000000000, "datetime") AS t_want,
        get_keyed_state("missing", "bigint", 7) AS m
        FROM s"#;
    mgr.create_rule(memory_rule("ks", sql, "ks/out")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for id in [1, 2] {
        let mut m = Map::new();
        m.insert("id".into(), Value::Int(id));
        mgr.env().memory.publish("ks/in", vec![m]).await;
    }
    let mut rows = Vec::new();
    for _ in 0..2 {
        let (_, m) = tokio::time::timeout(Duration::from_secs(10), out.recv()).await.unwrap().unwrap();
        rows.push(m);
    }
    rows.sort_by_key(|m| m.get("id").and_then(|v| if let Value::Int(i) = v { Some(*i) } else { None }));
    let get = |r: &Map, k: &str| r.get(k).cloned().unwrap_or(Value::Null);
    assert_eq!(get(&rows[0], "th"), Value::Int(42));
    assert_eq!(get(&rows[1], "th"), Value::Int(-1), "an absent key gives the default");
    for r in &rows {
        assert_eq!(get(r, "f"), Value::Bool(true));
        assert_eq!(get(r, "r"), Value::Float(2.5));
        assert_eq!(get(r, "rs"), Value::from("2.5"));
        assert_eq!(get(r, "n"), Value::from("plain text"));
        assert_eq!(get(r, "q"), Value::from("json text"));
        assert_eq!(get(r, "t"), get(r, "t_want"));
        assert_eq!(get(r, "m"), Value::Int(7));
    }
    mgr.stop_rule("ks").unwrap();
}
