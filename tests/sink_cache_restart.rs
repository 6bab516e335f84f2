//! The sink cache survives the server: a rule's REST sink points at a
//! target that fails, so every row waits in the sink's cache (under the
//! data directory); the server is killed (SIGKILL), the target recovers,
//! and the restarted server resends the cached rows, in order, before the
//! rows of its new run.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::*;

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value as Json, json};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Target {
    up: AtomicBool,
    received: Mutex<Vec<Json>>,
}

async fn receive(State(t): State<Arc<Target>>, body: String) -> StatusCode {
    if !t.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    t.received.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Json::String(body)));
    StatusCode::OK
}

fn cached_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_rows_are_resent_in_order_after_a_kill_and_restart() {
    let dir = temp_dir("sink-cache-restart");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let n = 20;
    let input: String = (0..n).map(|i| format!("{}\n", json!({"seq": i}))).collect();
    std::fs::write(dir.join("data/in.jsonl"), input).unwrap();

    let target = Arc::new(Target::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/in", axum::routing::post(receive)).with_state(target.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let server = start_server(&dir, "server1.log", 1).await;
    let c = &server.client;
    let sql = r#"CREATE STREAM s (seq BIGINT) WITH (DATASOURCE="in.jsonl", TYPE="file", FORMAT="json")"#;
    assert_eq!(c.post("/streams", &json!({ "sql": sql })).await.unwrap().status, 201);
    let rule = json!({
        "id": "cached",
        "sql": "SELECT seq FROM s",
        "actions": [{"rest": {
            "url": format!("http://{addr}/in"), "method": "post", "sendSingle": true,
            "enableCache": true, "retryInterval": 50, "maxRetryInterval": 200, "memoryCacheThreshold": 4
        }}]
    });
    let r = c.post("/rules", &rule).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.body);

    // Every row ends up in the rule's cache file.
    let cache = dir.join("data/sink-cache/cached.0.rest.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while cached_lines(&cache) < n {
        assert!(
            Instant::now() < deadline,
            "{} rows cached; log:\n{}",
            cached_lines(&cache),
            std::fs::read_to_string(dir.join("server1.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL: nothing graceful
    server.child.wait().unwrap();
    drop(server);
    assert!(target.received.lock().unwrap().is_empty());

    target.up.store(true, Ordering::SeqCst);
    let server = start_server(&dir, "server2.log", 1).await;
    // The cached rows first, in order; then the new run's (the file source reads its file again).
    let deadline = Instant::now() + Duration::from_secs(30);
    while target.received.lock().unwrap().len() < 2 * n {
        assert!(
            Instant::now() < deadline,
            "only {} rows arrived; log:\n{}",
            target.received.lock().unwrap().len(),
            std::fs::read_to_string(dir.join("server2.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seqs: Vec<i64> = target.received.lock().unwrap().iter().map(|v| v["seq"].as_i64().unwrap()).collect();
    let want: Vec<i64> = (0..n as i64).chain(0..n as i64).collect();
    assert_eq!(seqs, want);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.exists() {
        assert!(Instant::now() < deadline, "the delivered cache file is still there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
