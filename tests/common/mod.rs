//! Helpers shared by the end-to-end test crates (each `tests/*.rs` that
//! needs them says `mod common;`): a free loopback port and a fresh
//! temporary directory, readers of the JSON lines a file sink writes, an
//! in-process rule manager with memory-sink rules and their output, an MQTT
//! rule manager waiting for its clients, and the real server process.
#![allow(dead_code)]

pub mod window_runs;

use oort::api::client::Client;
use oort::connectors::ConnectorEnv;
use oort::connectors::memory::{MemoryBus, MemoryMessage};
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::value::Value;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// An empty directory `oort-<name>-<pid>` under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oort-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The JSON lines written so far to `path` (none while it does not exist);
/// blank lines are skipped, and any other line must be JSON.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Polls `path` until it holds at least `n` JSON lines or `timeout` passes;
/// returns what it holds then.
pub async fn wait_json_lines(path: &Path, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = json_lines(path);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A rule manager on `workers` workers with in-process connectors (memory
/// topics on a fresh bus, data under the system temp dir), and its runtime.
pub fn memory_manager(workers: usize) -> (Arc<RuleManager>, Arc<Runtime>) {
    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers }, clock.clone()).expect("runtime"));
    let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()));
    (Arc::new(RuleManager::new(runtime.clone(), env, clock)), runtime)
}

/// A rule running `sql` whose one action is a memory sink publishing each
/// row (`sendSingle`) to `topic`.
pub fn memory_rule(id: &str, sql: &str, topic: &str) -> RuleDef {
    let action = json!({"memory": {"topic": topic, "sendSingle": true}});
    RuleDef {
        id: id.into(),
        sql: sql.into(),
        actions: vec![action.as_object().expect("object").clone()],
        options: serde_json::Map::new(),
    }
}

/// The `id` fields of the next `n` rows on a memory topic, sorted (fewer if
/// none comes for 10 s).
pub async fn recv_ids(rx: &mut mpsc::Receiver<MemoryMessage>, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        let Ok(Some((_, m))) = msg else { break };
        if let Some(Value::Int(i)) = m.get("id") {
            ids.push(*i);
        }
    }
    ids.sort();
    ids
}

/// A rule manager on 2 workers whose MQTT connectors read profiles from
/// `conf_dir/sources` and default to `server`.
pub fn mqtt_manager(conf_dir: PathBuf, server: &str) -> Arc<RuleManager> {
    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers: 2 }, clock.clone()).expect("runtime"));
    let env =
        ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()).with_conf_dir(conf_dir).with_mqtt_server(server);
    Arc::new(RuleManager::new(runtime, Arc::new(env), clock))
}

/// Waits until the rule's MQTT clients (at least `clients` of them) all report `connected`.
pub async fn wait_connected(mgr: &RuleManager, id: &str, clients: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = mgr.env().mqtt.rule_states(id);
        if states.len() >= clients && states.values().all(|s| s == "connected") {
            return;
        }
        assert!(Instant::now() < deadline, "rule {id} not connected: {states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running `oort serve` process, killed when dropped.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// A REST client for it.
    pub client: Client,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `oort serve` on `workers` workers with no configuration file (its
/// working directory is `dir`, its data `dir/data`), appending its output to
/// `dir/<log>`; returns once it answers `/ping`.
pub async fn start_server(dir: &Path, log: &str, workers: usize) -> ServerProcess {
    let port = free_port();
    let stdout = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(log)).expect("log file");
    let stderr = stdout.try_clone().expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_oort"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", &workers.to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn oort serve");
    let client = Client::new(&format!("http://127.0.0.1:{port}"), None).expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(client.get("/ping").await, Ok(r) if r.status == 200) {
        assert!(Instant::now() < deadline, "server did not answer /ping; log:\n{}", read_log(dir, log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ServerProcess { child, client }
}

/// What the server wrote to `dir/<log>` so far.
pub fn read_log(dir: &Path, log: &str) -> String {
    std::fs::read_to_string(dir.join(log)).unwrap_or_default()
}
