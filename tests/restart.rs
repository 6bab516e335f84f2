//! End to end through the real server process: a stream and a rule created
//! over HTTP, data read from a JSON-lines file and written by a file sink,
//! status metrics checked, then the process is killed with SIGKILL and
//! started again on the same data directory: the rule is running again and
//! produces again. A stopped rule stays stopped across a graceful (SIGTERM)
//! restart.

mod common;
use common::*;

use oort::api::client::{Client, Reply};
use serde_json::{Value as Json, json};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Polls the rule status until `records_in_total`/`records_out_total` reach the expected counts.
async fn wait_status(c: &Client, id: &str, rin: u64, rout: u64) -> serde_json::Map<String, Json> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c.get(&format!("/rules/{id}/status")).await.expect("status");
        assert_eq!(r.status, 200, "{}", r.body);
        let m = r.json().and_then(|j| j.as_object().cloned()).expect("status object");
        let done = m["records_in_total"] == json!(rin) && m["records_out_total"] == json!(rout);
        if done || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(rows: &[Json]) -> Vec<i64> {
    let mut v: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    v.sort();
    v
}

fn expect(r: Reply, status: u16) -> Reply {
    assert_eq!(r.status, status, "unexpected answer: {}", r.body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_survives_sigkill_and_produces_again() {
    let dir = temp_dir("restart");
    let input = dir.join("input.jsonl");
    let out = dir.join("out.jsonl");
    let mut text = String::new();
    for i in 0..10 {
        text.push_str(&json!({"id": i, "temperature": 15 + i}).to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).expect("input");

    let server = start_server(&dir, "server1.log", 2).await;
    let c = &server.client;
    let sql = format!(
        r#"CREATE STREAM sensors (id BIGINT, temperature FLOAT) WITH (DATASOURCE="{}", TYPE="file", FORMAT="json")"#,
        input.display()
    );
    let r = expect(c.post("/streams", &json!({ "sql": sql })).await.expect("post"), 201);
    assert_eq!(r.body, "Stream sensors is created.");
    let rule = json!({
        "id": "hot",
        "sql": "SELECT id, temperature FROM sensors WHERE temperature > 20",
        "actions": [{"file": {"path": out.display().to_string(), "sendSingle": true}}]
    });
    let r = expect(c.post("/rules", &rule).await.expect("post"), 201);
    assert_eq!(r.body, "Rule hot was created successfully.");

    let rows = wait_json_lines(&out, 4, Duration::from_secs(30)).await;
    assert_eq!(ids(&rows), [6, 7, 8, 9], "log:\n{}", read_log(&dir, "server1.log"));
    let status = wait_status(c, "hot", 10, 4).await;
    assert_eq!(status["status"], json!("running"));
    assert_eq!(status["records_in_total"], json!(10), "{status:?}");
    assert_eq!(status["records_out_total"], json!(4), "{status:?}");
    assert_eq!(status["exceptions_total"], json!(0), "{status:?}");
    assert_eq!(status["source_sensors_0_records_in_total"], json!(10), "{status:?}");
    for m in oort::api::rules::METRIC_NAMES {
        assert!(status.contains_key(*m), "status lacks {m}: {status:?}");
    }
    let metrics = expect(c.get("/metrics").await.expect("metrics"), 200).body;
    assert!(metrics.contains(r#"kuiper_rule_records_in_total{rule="hot"} 10"#), "{metrics}");
    assert!(metrics.contains(r#"kuiper_rule_status{rule="hot"} 1"#), "{metrics}");

    // kill -9: nothing graceful happens.
    let mut server = server;
    server.child.kill().expect("SIGKILL");
    let st = server.child.wait().expect("wait");
    assert!(!st.success(), "killed process reports {st:?}");
    drop(server);

    let server = start_server(&dir, "server2.log", 2).await;
    let c = &server.client;
    let r = expect(c.get("/rules").await.expect("rules"), 200);
    assert_eq!(r.json(), Some(json!([{"id": "hot", "status": "running"}])));
    let r = expect(c.get("/streams").await.expect("streams"), 200);
    assert_eq!(r.json(), Some(json!(["sensors"])));
    // The file source reads its file again from the start: four more rows.
    let rows = wait_json_lines(&out, 8, Duration::from_secs(30)).await;
    assert_eq!(ids(&rows), [6, 6, 7, 7, 8, 8, 9, 9], "log:\n{}", read_log(&dir, "server2.log"));
    let status = wait_status(c, "hot", 10, 4).await;
    assert_eq!(status["status"], json!("running"));
    assert_eq!((&status["records_in_total"], &status["records_out_total"]), (&json!(10), &json!(4)));

    // A stopped rule stays stopped across a graceful restart.
    let r = expect(c.request("POST", "/rules/hot/stop", None).await.expect("stop"), 200);
    assert_eq!(r.body, "Rule hot was stopped.");
    let mut server = server;
    terminate(&mut server.child);
    let st = server.child.wait().expect("wait");
    assert!(st.success(), "graceful shutdown exit status {st:?}; log:\n{}", read_log(&dir, "server2.log"));
    drop(server);
    let log = read_log(&dir, "server2.log");
    assert!(log.contains("shutting down"), "{log}");

    let server = start_server(&dir, "server3.log", 2).await;
    let c = &server.client;
    let r = expect(c.get("/rules/hot/status").await.expect("status"), 200);
    assert_eq!(r.json().map(|j| j["status"].clone()), Some(json!("stopped")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(json_lines(&out).len(), 8, "a stopped rule produced output");
    // Starting it again is remembered too, and it produces.
    expect(c.request("POST", "/rules/hot/start", None).await.expect("start"), 200);
    assert_eq!(wait_json_lines(&out, 12, Duration::from_secs(30)).await.len(), 12);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends SIGTERM (graceful shutdown).
fn terminate(child: &mut Child) {
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(st.success());
}
