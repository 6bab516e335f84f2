//! `get_keyed_state` with the Redis backend (`store.extStateType: redis`):
//! needs a Redis server at `OORT_REDIS` (default 127.0.0.1:6379), so it is
//! `#[ignore]`d and run by `.ci/keyed_state_redis.sh`, which starts
//! redis-server when none runs. A value set in Redis is read by a rule,
//! and a new value is seen after the cache's refresh interval.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

use oort::config::{KeyedStateConfig, RedisConfig};
use oort::connectors::{ConnectorEnv, memory::MemoryBus};
use oort::keyed_state::RedisKeyedState;
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::value::{Map, Value};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: run by .ci/keyed_state_redis.sh"]
async fn a_rule_reads_keyed_state_from_redis() {
    let addr = std::env::var("OORT_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".into());
    let (host, port) = addr.rsplit_once(':').unwrap();
    let redis =
        RedisConfig { host: host.into(), port: port.parse().unwrap(), refresh_interval: 100, ..RedisConfig::default() };
    let key = format!("oort:test:{}", std::process::id());
    let client = RedisKeyedState::new(&redis);
    client.set(&key, "41").unwrap();
    client.delete(&format!("{key}:absent")).unwrap();
    let cfg = KeyedStateConfig { ext_state_type: "redis".into(), redis };
    oort::keyed_state::install(&cfg, &std::env::temp_dir()).unwrap();

    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 1 }, clock.clone()).unwrap());
    let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()));
    let mgr = RuleManager::new(runtime, env, clock);
    mgr.create_stream(r#"CREATE STREAM s (k STRING) WITH (DATASOURCE="ksr/in", TYPE="memory")"#).unwrap();
    let mut out = mgr.env().memory.subscribe("ksr/out", 1000);
    let action = json!({"memory": {"topic": "ksr/out", "sendSingle": true}});
    mgr.create_rule(RuleDef {
        id: "ksr".into(),
        sql: r#"SELECT get_keyed_state(k, "bigint", -1) AS v, get_keyed_state(concat(k, ":absent"), "string", "none") AS a FROM s"#.into(),
        actions: vec![action.as_object().unwrap().clone()],
        options: serde_json::Map::new(),
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let send = |k: String| {
        let mut m = Map::new();
        m.insert("k".into(), Value::from(k.as_str()));
        m
    };
    mgr.env().memory.publish("ksr/in", vec![send(key.clone())]).await;
    let (_, m) = tokio::time::timeout(Duration::from_secs(10), out.recv()).await.unwrap().unwrap();
    assert_eq!(m.get("v"), Some(&Value::Int(41)));
    assert_eq!(m.get("a"), Some(&Value::from("none")));

    // A new value reaches the rule once the cache refreshes.
    client.set(&key, "42").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        mgr.env().memory.publish("ksr/in", vec![send(key.clone())]).await;
        let (_, m) = tokio::time::timeout(Duration::from_secs(10), out.recv()).await.unwrap().unwrap();
        if m.get("v") == Some(&Value::Int(42)) {
            break;
        }
        assert!(Instant::now() < deadline, "the new value never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.delete(&key).unwrap();
    mgr.stop_rule("ksr").unwrap();
}
