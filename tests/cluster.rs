//! Past one machine: two `oort serve` processes form a timely cluster on
//! loopback (2 processes × 2 workers, then 2 × 1) and must produce what one process
//! produces on the same input. Each process reads its share of a JSON-lines
//! file (every other line); a filter rule and an event-time windowed
//! aggregation by key (records exchanged across the processes by key) run on
//! both, results are gathered to process 0 and written by its file sinks.
//! Dropping a rule works across the cluster, and stopping process 0 stops
//! the other process.

mod common;
use common::*;

use oort::api::client::Client;
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, name: &str, args: &[String]) -> Proc {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.log"))).expect("log");
    let err = log.try_clone().expect("log");
    let data = dir.join(format!("data-{name}"));
    let child = Command::new(env!("CARGO_BIN_EXE_oort"))
        .arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(&data)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(log)
        .stderr(err)
        .spawn()
        .expect("spawn oort serve");
    Proc { child }
}

fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

fn all_logs(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "log") {
            out.push_str(&format!("== {}\n{}\n", p.display(), std::fs::read_to_string(&p).unwrap_or_default()));
        }
    }
    out
}

async fn wait_ping(client: &Client, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get("/ping").await
            && r.status == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not answer /ping; logs:\n{}", all_logs(dir));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 400 readings of 10 devices, 100 ms apart in event time, then one far-future
/// reading per process so every process's watermark passes every window.
fn write_input(path: &Path) {
    let t0: i64 = 1_700_000_000_000;
    let mut text = String::new();
    for i in 0..400i64 {
        let row = json!({"deviceId": format!("d{}", i % 10), "temperature": 10 + (i * 7) % 31, "ts": t0 + i * 100});
        text.push_str(&row.to_string());
        text.push('\n');
    }
    for k in 0..2 {
        text.push_str(&json!({"deviceId": "zz", "temperature": 0, "ts": t0 + 3_600_000 + k}).to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("input");
}

fn sorted(rows: Vec<Json>) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

struct Outputs {
    filtered: PathBuf,
    windows: PathBuf,
}

/// Creates the stream and both rules through `client`.
async fn install(client: &Client, input: &Path, out: &Outputs) {
    let sql = format!(
        r#"CREATE STREAM readings (deviceId STRING, temperature BIGINT, ts BIGINT) WITH (DATASOURCE="{}", TYPE="file", FORMAT="json", TIMESTAMP="ts")"#,
        input.display()
    );
    let r = client.post("/streams", &json!({ "sql": sql })).await.expect("post stream");
    assert_eq!(r.status, 201, "{}", r.body);
    let hot = json!({
        "id": "hot",
        "sql": "SELECT deviceId, temperature, ts FROM readings WHERE temperature > 30",
        "actions": [{"file": {"path": out.filtered.display().to_string(), "sendSingle": true}}]
    });
    let r = client.post("/rules", &hot).await.expect("post rule");
    assert_eq!(r.status, 201, "{}", r.body);
    let win = json!({
        "id": "win",
        "sql": "SELECT deviceId, count(*) AS n, max(temperature) AS hottest, sum(temperature) AS total, window_end() AS we \
                FROM readings GROUP BY deviceId, TUMBLINGWINDOW(ss, 5)",
        "options": {"isEventTime": true, "lateTolerance": 1000},
        "actions": [{"file": {"path": out.windows.display().to_string(), "sendSingle": true}}]
    });
    let r = client.post("/rules", &win).await.expect("post rule");
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Rows over 30 °C: temperature = 10 + (i*7) % 31 > 30 only when (i*7) % 31 == 21.
fn expected_filtered() -> usize {
    (0..400i64).filter(|i| 10 + (i * 7) % 31 > 30).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_produce_what_one_process_produces() {
    let dir = temp_dir("cluster");
    let input = dir.join("input.jsonl");
    write_input(&input);
    // 8 windows of 5 s (400 × 100 ms = 40 s) × 10 devices.
    let windows_expected = 80;
    let filtered_expected = expected_filtered();
    assert!(filtered_expected > 0);

    // One process, one worker.
    let single = Outputs { filtered: dir.join("single-hot.jsonl"), windows: dir.join("single-win.jsonl") };
    let port = free_port();
    let p = spawn(&dir, "single", &["--bind".into(), format!("127.0.0.1:{port}"), "--workers".into(), "1".into()]);
    let client = Client::new(&format!("http://127.0.0.1:{port}"), None).expect("client");
    wait_ping(&client, &dir).await;
    install(&client, &input, &single).await;
    let single_hot = wait_json_lines(&single.filtered, filtered_expected, Duration::from_secs(60)).await;
    let single_win = wait_json_lines(&single.windows, windows_expected, Duration::from_secs(60)).await;
    drop(p);
    assert_eq!(single_hot.len(), filtered_expected, "single:\n{}", read_log(&dir, "single"));
    assert_eq!(single_win.len(), windows_expected, "single:\n{}", read_log(&dir, "single"));
    let counted: i64 = single_win.iter().filter_map(|r| r["n"].as_i64()).sum();
    assert_eq!(counted, 400);

    // Two processes × two workers, then two processes × one worker (kept running for the rest).
    let (mut p0, mut p1, client) = {
        let mut last = None;
        for workers in [2usize, 1] {
            if let Some((a, b, _)) = last.take() {
                drop::<(Proc, Proc)>((a, b));
            }
            let tag = format!("{workers}w");
            let hosts = format!("127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
            let port = free_port();
            let cluster_args = |process: usize| -> Vec<String> {
                vec![
                    "--workers".into(),
                    workers.to_string(),
                    "--cluster-hosts".into(),
                    hosts.clone(),
                    "--cluster-process".into(),
                    process.to_string(),
                    "--bind".into(),
                    format!("127.0.0.1:{port}"),
                ]
            };
            let (n0, n1) = (format!("p0-{tag}"), format!("p1-{tag}"));
            let p0 = spawn(&dir, &n0, &cluster_args(0));
            let p1 = spawn(&dir, &n1, &cluster_args(1));
            let client = Client::new(&format!("http://127.0.0.1:{port}"), None).expect("client");
            wait_ping(&client, &dir).await;
            let clustered = Outputs {
                filtered: dir.join(format!("cluster-{tag}-hot.jsonl")),
                windows: dir.join(format!("cluster-{tag}-win.jsonl")),
            };
            install(&client, &input, &clustered).await;
            let cluster_hot = wait_json_lines(&clustered.filtered, filtered_expected, Duration::from_secs(60)).await;
            let cluster_win = wait_json_lines(&clustered.windows, windows_expected, Duration::from_secs(60)).await;
            let logs = format!("p0:\n{}\np1:\n{}", read_log(&dir, &n0), read_log(&dir, &n1));
            assert_eq!(sorted(cluster_hot), sorted(single_hot.clone()), "2 × {workers} workers\n{logs}");
            assert_eq!(sorted(cluster_win), sorted(single_win.clone()), "2 × {workers} workers\n{logs}");
            // Process 1 joined: its share of the file made half the rows.
            assert!(read_log(&dir, &n1).contains("oort cluster process ready"), "{logs}");
            last = Some((p0, p1, client));
        }
        last.expect("ran")
    };
    let logs = || format!("p0:\n{}\np1:\n{}", read_log(&dir, "p0-1w"), read_log(&dir, "p1-1w"));

    // Dropping a rule works across the cluster; the other keeps its state.
    let r = client.request("DELETE", "/rules/hot", None).await.expect("delete");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = client.get("/rules").await.expect("rules");
    assert_eq!(r.json(), Some(json!([{"id": "win", "status": "running"}])), "{}", logs());

    // Stopping process 0 stops the cluster: process 1 leaves on its own.
    let st = Command::new("kill").args(["-TERM", &p0.child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let (s0, s1) = loop {
        let s0 = p0.child.try_wait().expect("wait p0");
        let s1 = p1.child.try_wait().expect("wait p1");
        if let (Some(a), Some(b)) = (s0, s1) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "the cluster did not stop\n{}", logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(s0.success(), "process 0 exit {s0:?}\n{}", logs());
    assert!(s1.success(), "process 1 exit {s1:?}\n{}", logs());
    assert!(read_log(&dir, "p1-1w").contains("the cluster shut down"), "{}", logs());
    drop((p0, p1));
    let _ = std::fs::remove_dir_all(&dir);
}
