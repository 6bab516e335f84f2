//! HTTP sources end to end: clients POST JSON (an object or an array of
//! objects) to an `httppush` stream's path and the rows come out of the
//! rule; a path no stream reads answers 404; a body that is not JSON is a
//! counted error. An `httppull` stream polls a local server.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::*;

use oort::connectors::ConnectorEnv;
use oort::connectors::memory::{MemoryBus, MemoryMessage};
use oort::rule::manager::RuleManager;
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::value::Value;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn manager(name: &str, yaml: &str) -> RuleManager {
    let conf = std::env::temp_dir().join(format!("oort-http-{name}-{}", std::process::id()));
    std::fs::create_dir_all(conf.join("sources")).unwrap();
    std::fs::write(conf.join(format!("sources/{name}.yaml")), yaml).unwrap();
    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 1 }, clock.clone()).unwrap());
    let env = ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()).with_conf_dir(conf);
    RuleManager::new(runtime, Arc::new(env), clock)
}

async fn values(rx: &mut mpsc::Receiver<MemoryMessage>, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some((_, m))) => match m.get("v") {
                Some(Value::Int(i)) => out.push(*i),
                other => panic!("unexpected row {other:?}"),
            },
            _ => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_post_json_to_an_httppush_stream() {
    let port = free_port();
    let mgr = manager("httppush", &format!("default:\n  server: 127.0.0.1:{port}\n"));
    mgr.create_stream(
        r#"CREATE STREAM pushed (v BIGINT) WITH (DATASOURCE="/api/data", TYPE="httppush", FORMAT="JSON")"#,
    )
    .unwrap();
    let mut rx = mgr.env().memory.subscribe("pushed/out", 1024);
    mgr.create_rule(memory_rule("push", "SELECT v FROM pushed", "pushed/out")).unwrap();

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/data");
    let r = http.post(&url).body(json!({"v": 1}).to_string()).send().await.unwrap();
    assert!(r.status().is_success());
    let r = http.post(&url).body(json!([{"v": 2}, {"v": 3}]).to_string()).send().await.unwrap();
    assert!(r.status().is_success());
    let r = http.post(&url).body("{not json").send().await.unwrap();
    assert!(r.status().is_success());
    let r = http.post(format!("http://127.0.0.1:{port}/nobody")).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 404);

    assert_eq!(values(&mut rx, 3).await, vec![1, 2, 3]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while mgr.metrics("push").unwrap().exceptions.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the bad body was not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mgr.stop_rule("push").unwrap();
    // Once the rule is gone its path answers 404.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http.post(&url).body("{}").send().await.unwrap();
        if r.status() == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "path still routed after the rule stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_httppull_stream_polls_a_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let c = counter.clone();
    let app = axum::Router::new().route(
        "/readings",
        axum::routing::get(move || {
            let c = c.clone();
            async move { json!({"v": c.fetch_add(1, Ordering::SeqCst)}).to_string() }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mgr = manager("httppull", &format!("default:\n  url: http://{addr}\n  interval: 20\n"));
    mgr.create_stream(
        r#"CREATE STREAM pulled (v BIGINT) WITH (DATASOURCE="/readings", TYPE="httppull", FORMAT="JSON")"#,
    )
    .unwrap();
    let mut rx = mgr.env().memory.subscribe("pulled/out", 1024);
    mgr.create_rule(memory_rule("pull", "SELECT v FROM pulled", "pulled/out")).unwrap();
    assert_eq!(values(&mut rx, 5).await, vec![0, 1, 2, 3, 4]);
    mgr.stop_rule("pull").unwrap();
}
