//! The REST sink against a local HTTP server that fails for a while and
//! then recovers: with `enableCache` every row is delivered, in order, once
//! the server is back (the cache spills to disk on the way), and each
//! failure counts in `exceptions_total`.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use oort::connectors::ConnectorEnv;
use oort::connectors::memory::MemoryBus;
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::value::{Map, Value};
use serde_json::{Value as Json, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Target {
    failures_left: AtomicUsize,
    received: Mutex<Vec<(String, Json)>>,
}

async fn receive(State(t): State<Arc<Target>>, headers: axum::http::HeaderMap, body: String) -> StatusCode {
    if t.failures_left.load(Ordering::SeqCst) > 0 {
        t.failures_left.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let token = headers.get("x-token").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    t.received.lock().unwrap().push((token, serde_json::from_str(&body).unwrap_or(Json::String(body))));
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_sink_delivers_every_row_in_order_after_the_target_recovers() {
    let target = Arc::new(Target { failures_left: AtomicUsize::new(25), ..Default::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/ingest", axum::routing::put(receive)).with_state(target.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 1 }, clock.clone()).unwrap());
    // Its own data directory: the sink's cache persists there.
    let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), common::temp_dir("rest-sink")));
    let mgr = RuleManager::new(runtime, env, clock);
    mgr.create_stream(r#"CREATE STREAM s (seq BIGINT, name STRING) WITH (DATASOURCE="rest/in", TYPE="memory")"#)
        .unwrap();
    let action = json!({"rest": {
        "url": format!("http://{addr}/ingest"),
        "method": "put",
        "headers": {"x-token": "t-{{.name}}"},
        "sendSingle": true,
        "dataTemplate": r#"{"n":{{.seq}},"who":"{{.name}}"}"#,
        "enableCache": true,
        "retryInterval": 10,
        "maxRetryInterval": 100,
        "memoryCacheThreshold": 5,
        "maxDiskCache": 10000
    }});
    mgr.create_rule(RuleDef {
        id: "rest".into(),
        sql: "SELECT seq, name FROM s".into(),
        actions: vec![action.as_object().unwrap().clone()],
        options: serde_json::Map::new(),
    })
    .unwrap();

    let n = 200;
    for i in 0..n {
        let mut m = Map::new();
        m.insert("seq".into(), Value::Int(i));
        m.insert("name".into(), Value::from(format!("p{}", i % 4).as_str()));
        mgr.env().memory.publish("rest/in", vec![m]).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.received.lock().unwrap().len() < n as usize {
        assert!(Instant::now() < deadline, "only {} rows arrived", target.received.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = target.received.lock().unwrap().clone();
    let seqs: Vec<i64> = got.iter().map(|(_, v)| v["n"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "every row, in order, exactly once");
    for (token, v) in &got {
        assert_eq!(token, &format!("t-{}", v["who"].as_str().unwrap()));
    }
    assert_eq!(target.failures_left.load(Ordering::SeqCst), 0);
    let exceptions = mgr.metrics("rest").unwrap().exceptions.load(Ordering::Relaxed);
    assert_eq!(exceptions, 25, "each failed delivery is counted");
    mgr.stop_rule("rest").unwrap();
}
