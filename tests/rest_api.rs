//! The REST API and the CLI against the real server process: eKuiper's paths,
//! answers and error codes for streams, tables and rules; the rule lifecycle;
//! the bearer token and the body limit from a configuration file; the CLI
//! subcommands; and the generated OpenAPI document.

mod common;
use common::*;

use oort::api::client::{Client, Reply};
use serde_json::{Value as Json, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    client: Client,
    url: String,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `oort serve` in `dir` (no etc/oort.yaml there) with extra arguments.
async fn start(name: &str, extra: &[&str], token: Option<&str>) -> Server {
    let dir = temp_dir(name);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("server.log")).expect("log");
    let mut args: Vec<String> =
        vec!["serve".into(), "--bind".into(), format!("127.0.0.1:{port}"), "--workers".into(), "1".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    if !extra.contains(&"--config") {
        args.push("--data-dir".into());
        args.push(dir.join("data").display().to_string());
    }
    let child = Command::new(env!("CARGO_BIN_EXE_oort"))
        .args(&args)
        .current_dir(&dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn oort serve");
    let client = Client::new(&url, token.map(str::to_string)).expect("client");
    let server = Server { child, client, url, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = server.client.get("/ping").await
            && r.status == 200
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "no /ping answer; log:\n{}",
            std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn expect(r: Reply, status: u16) -> Reply {
    assert_eq!(r.status, status, "unexpected answer: {}", r.body);
    r
}

fn message(r: &Reply) -> String {
    let j = r.json().unwrap_or_else(|| panic!("error body is not JSON: {}", r.body));
    assert!(j["error"].is_u64(), "{j}");
    j["message"].as_str().expect("message").to_string()
}

const DEMO: &str = r#"CREATE STREAM demo (id BIGINT, temperature FLOAT, tags ARRAY(STRING)) WITH (DATASOURCE="demo", TYPE="memory", FORMAT="json")"#;

fn rule(id: &str, sql: &str) -> Json {
    json!({"id": id, "sql": sql, "actions": [{"log": {}}, {"memory": {"topic": format!("out/{id}")}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_tables_and_rules_over_http() {
    let s = start("rest", &[], None).await;
    let c = &s.client;

    let info = expect(c.get("/").await.expect("root"), 200).json().expect("json");
    assert_eq!(info["version"], json!(env!("CARGO_PKG_VERSION")));
    assert!(info["upTimeSeconds"].is_u64());
    expect(c.get("/ping").await.expect("ping"), 200);

    // Streams.
    let r = expect(c.post("/streams", &json!({"sql": DEMO})).await.expect("create"), 201);
    assert_eq!(r.body, "Stream demo is created.");
    let r = expect(c.post("/streams", &json!({"sql": DEMO})).await.expect("dup"), 409);
    assert!(message(&r).contains("demo"), "{}", r.body);
    let r =
        expect(c.post("/streams", &json!({"sql": "CREATE STREAM bad (id BIGINT WITH ()"})).await.expect("bad"), 400);
    let j = r.json().expect("json");
    assert!(message(&r).contains("line 1"), "{}", r.body);
    assert_eq!(j["line"], json!(1), "{j}");
    expect(c.post("/streams", &json!({"nosql": 1})).await.expect("no sql"), 400);
    expect(c.request("POST", "/streams", Some("{not json".into())).await.expect("not json"), 400);
    assert_eq!(expect(c.get("/streams").await.expect("list"), 200).json(), Some(json!(["demo"])));
    let d = expect(c.get("/streams/demo").await.expect("describe"), 200).json().expect("json");
    assert_eq!(d["Name"], json!("demo"));
    assert_eq!(d["StreamFields"][0], json!({"Name": "id", "FieldType": {"Type": 1}}));
    assert_eq!(d["Options"]["DATASOURCE"], json!("demo"));
    assert_eq!(d["Options"]["TYPE"], json!("memory"));
    let schema = expect(c.get("/streams/demo/schema").await.expect("schema"), 200).json().expect("json");
    assert_eq!(
        schema,
        json!({"id": {"type": "bigint"}, "temperature": {"type": "float"}, "tags": {"type": "array", "items": {"type": "string"}}})
    );
    let details = expect(c.get("/streamdetails").await.expect("details"), 200).json().expect("json");
    assert_eq!(details, json!([{"name": "demo", "type": "memory", "format": "json"}]));
    let r = expect(c.get("/streams/nope").await.expect("missing"), 404);
    assert!(message(&r).contains("nope"));

    // Tables live on their own paths.
    let r = expect(
        c.post("/tables", &json!({"sql": r#"CREATE TABLE lookup (id BIGINT, name STRING) WITH (DATASOURCE="lk", TYPE="memory", KEY="id")"#}))
            .await
            .expect("table"),
        201,
    );
    assert_eq!(r.body, "Table lookup is created.");
    assert_eq!(expect(c.get("/tables").await.expect("tables"), 200).json(), Some(json!(["lookup"])));
    expect(c.get("/tables/demo").await.expect("not a table"), 404);
    expect(c.get("/streams/lookup").await.expect("not a stream"), 404);
    assert_eq!(
        expect(c.get("/tables/lookup").await.expect("describe"), 200).json().expect("json")["StreamType"],
        json!(1)
    );
    assert_eq!(expect(c.delete("/tables/lookup").await.expect("drop"), 200).body, "Table lookup is dropped.");

    // Rules: errors say what and where.
    let r = expect(c.post("/rules", &rule("r0", "SELECT * FROM missing")).await.expect("missing stream"), 400);
    assert!(message(&r).contains("missing"), "{}", r.body);
    let mut bad_sink = rule("r0", "SELECT * FROM demo");
    bad_sink["actions"] = json!([{"kafkaesque": {}}]);
    let r = expect(c.post("/rules", &bad_sink).await.expect("unknown sink"), 400);
    assert!(message(&r).contains("kafkaesque"), "{}", r.body);
    let r = expect(c.post("/rules", &rule("r0", "SELECT id FROM demo WHERE")).await.expect("syntax"), 400);
    assert!(message(&r).contains("line"), "{}", r.body);
    expect(c.post("/rules", &json!({"id": "r0"})).await.expect("no sql"), 400);
    assert_eq!(expect(c.get("/rules").await.expect("list"), 200).json(), Some(json!([])), "failed creates left a rule");

    // Create, list, describe, status, topo, explain.
    let r1 = rule("r1", "SELECT id, temperature FROM demo WHERE temperature > 20");
    let r = expect(c.post("/rules", &r1).await.expect("create"), 201);
    assert_eq!(r.body, "Rule r1 was created successfully.");
    expect(c.post("/rules", &r1).await.expect("dup"), 409);
    assert_eq!(
        expect(c.get("/rules").await.expect("list"), 200).json(),
        Some(json!([{"id": "r1", "status": "running"}]))
    );
    let d = expect(c.get("/rules/r1").await.expect("describe"), 200).json().expect("json");
    assert_eq!(d["sql"], r1["sql"]);
    assert_eq!(d["actions"], r1["actions"]);
    let st = expect(c.get("/rules/r1/status").await.expect("status"), 200).json().expect("json");
    assert_eq!(st["status"], json!("running"));
    for m in oort::api::rules::METRIC_NAMES {
        assert!(st.get(*m).is_some(), "status lacks {m}: {st}");
    }
    assert!(st.get("sink_log_0_0_records_in_total").is_some(), "{st}");
    assert!(st.get("sink_memory_1_0_records_in_total").is_some(), "{st}");
    let topo = expect(c.get("/rules/r1/topo").await.expect("topo"), 200).json().expect("json");
    assert_eq!(topo["sources"], json!(["source_demo"]));
    let edges = topo["edges"].as_object().expect("edges");
    assert!(edges.contains_key("source_demo"), "{topo}");
    let into_sinks: Vec<&Json> = edges.values().flat_map(|v| v.as_array().into_iter().flatten()).collect();
    assert!(into_sinks.contains(&&json!("sink_log_0")) && into_sinks.contains(&&json!("sink_memory_1")), "{topo}");
    let ex = expect(c.get("/rules/r1/explain").await.expect("explain"), 200).body;
    assert!(ex.contains("demo"), "{ex}");
    expect(c.get("/rules/nope/status").await.expect("status"), 404);
    expect(c.get("/rules/nope").await.expect("describe"), 404);
    expect(c.request("POST", "/rules/nope/start", None).await.expect("start"), 404);

    // Validate.
    let v = expect(
        c.post("/rules/validate", &json!({"sql": "SELECT * FROM demo", "actions": [{"log": {}}]})).await.expect("v"),
        200,
    );
    assert_eq!(v.json(), Some(json!({"valid": true, "sources": ["demo"]})));
    let v = expect(
        c.post("/rules/validate", &json!({"sql": "SELECT * FROM nope", "actions": [{"log": {}}]})).await.expect("v"),
        422,
    );
    assert!(message(&v).contains("nope"));

    // A stream in use cannot be dropped; the answer names the rule.
    let r = expect(c.delete("/streams/demo").await.expect("drop"), 400);
    assert!(message(&r).contains("r1"), "{}", r.body);

    // Lifecycle.
    assert_eq!(
        expect(c.request("POST", "/rules/r1/stop", None).await.expect("stop"), 200).body,
        "Rule r1 was stopped."
    );
    let st = expect(c.get("/rules/r1/status").await.expect("status"), 200).json().expect("json");
    assert_eq!(st["status"], json!("stopped"));
    expect(c.get("/rules/r1").await.expect("kept"), 200);
    assert_eq!(
        expect(c.request("POST", "/rules/r1/start", None).await.expect("start"), 200).body,
        "Rule r1 was started"
    );
    assert_eq!(
        expect(c.request("POST", "/rules/r1/restart", None).await.expect("restart"), 200).body,
        "Rule r1 was restarted"
    );
    let mut upd = rule("r1", "SELECT id FROM demo");
    upd.as_object_mut().expect("obj").remove("id");
    assert_eq!(expect(c.put("/rules/r1", &upd).await.expect("put"), 200).body, "Rule r1 was updated successfully.");
    assert_eq!(
        expect(c.get("/rules/r1").await.expect("describe"), 200).json().expect("json")["sql"],
        json!("SELECT id FROM demo")
    );
    assert_eq!(
        expect(c.get("/rules/r1/status").await.expect("status"), 200).json().expect("json")["status"],
        json!("running")
    );
    // A bad update leaves the rule as it was.
    expect(c.put("/rules/r1", &rule("r1", "SELECT nope( FROM demo")).await.expect("bad put"), 400);
    assert_eq!(
        expect(c.get("/rules/r1").await.expect("describe"), 200).json().expect("json")["sql"],
        json!("SELECT id FROM demo")
    );
    expect(c.put("/rules/r1", &rule("other", "SELECT id FROM demo")).await.expect("id mismatch"), 400);
    // PUT creates a missing rule; triggered=false creates it stopped.
    let mut r2 = rule("r2", "SELECT * FROM demo");
    r2["triggered"] = json!(false);
    expect(c.put("/rules/r2", &r2).await.expect("upsert"), 200);
    assert_eq!(
        expect(c.get("/rules/r2/status").await.expect("status"), 200).json().expect("json")["status"],
        json!("stopped")
    );

    let metrics = expect(c.get("/metrics").await.expect("metrics"), 200).body;
    assert!(metrics.contains(r#"kuiper_rule_status{rule="r1"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"kuiper_rule_status{rule="r2"} 0"#), "{metrics}");
    assert!(metrics.contains("# TYPE kuiper_rule_records_in_total counter"), "{metrics}");

    assert_eq!(expect(c.delete("/rules/r1").await.expect("drop"), 200).body, "Rule r1 is dropped.");
    expect(c.delete("/rules/r2").await.expect("drop"), 200);
    expect(c.get("/rules/r1").await.expect("gone"), 404);
    expect(c.delete("/rules/r1").await.expect("gone"), 404);

    // PUT /streams replaces; the statement must name the same stream.
    let replaced = DEMO.replace("tags ARRAY(STRING)", "name STRING");
    assert_eq!(
        expect(c.put("/streams/demo", &json!({"sql": replaced})).await.expect("put"), 200).body,
        "Stream demo is replaced."
    );
    assert!(
        expect(c.get("/streams/demo/schema").await.expect("schema"), 200).json().expect("json").get("name").is_some()
    );
    expect(c.put("/streams/demo", &json!({"sql": DEMO.replace("demo (", "other (")})).await.expect("mismatch"), 400);
    assert_eq!(expect(c.delete("/streams/demo").await.expect("drop"), 200).body, "Stream demo is dropped.");
    expect(c.delete("/streams/demo").await.expect("gone"), 404);

    // Metadata.
    let sinks = expect(c.get("/metadata/sinks").await.expect("sinks"), 200).json().expect("json");
    assert!(sinks.as_array().expect("array").iter().any(|s| s["name"] == json!("file")), "{sinks}");
    let sources = expect(c.get("/metadata/sources").await.expect("sources"), 200).json().expect("json");
    assert!(sources.as_array().expect("array").iter().any(|s| s["name"] == json!("memory")), "{sources}");
    let funcs = expect(c.get("/metadata/functions").await.expect("functions"), 200).json().expect("json");
    assert!(funcs.as_array().expect("array").iter().any(|f| f["name"] == json!("abs")), "{funcs}");

    // Unknown paths are JSON 404s; the OpenAPI document is served.
    expect(c.get("/no/such/thing").await.expect("404"), 404);
    let doc = expect(c.get("/openapi.json").await.expect("openapi"), 200).json().expect("json");
    assert!(doc["paths"]["/rules/{id}/status"]["get"].is_object(), "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_body_limit_and_config_file() {
    // The config file's relative data_dir resolves beside the file.
    let conf_dir = temp_dir("rest-conf");
    let conf = conf_dir.join("oort.yaml");
    std::fs::write(&conf, "rest:\n  token: s3cret\n  max_body_bytes: 4096\ndata_dir: state\nworkers: 1\n")
        .expect("conf");
    let s = start("rest-token", &["--config", conf.to_str().expect("path")], None).await;
    let anon = &s.client;
    expect(anon.get("/ping").await.expect("ping"), 200);
    let r = expect(anon.get("/streams").await.expect("no token"), 401);
    assert!(message(&r).contains("Bearer"), "{}", r.body);
    expect(anon.get("/openapi.json").await.expect("no token"), 401);
    let wrong = Client::new(&s.url, Some("nope".into())).expect("client");
    expect(wrong.get("/streams").await.expect("wrong token"), 401);
    let c = Client::new(&s.url, Some("s3cret".into())).expect("client");
    expect(c.get("/streams").await.expect("token"), 200);
    expect(c.post("/streams", &json!({"sql": DEMO})).await.expect("create"), 201);
    assert!(conf_dir.join("state").join("oort.db").is_file(), "store not beside the config file");
    let big = json!({"sql": "x".repeat(10_000)});
    expect(c.post("/streams", &big).await.expect("big"), 413);
    drop(s);
    let _ = std::fs::remove_dir_all(&conf_dir);
}

fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oort"))
        .arg("--server")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run oort");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_speaks_ekuiper() {
    let s = start("rest-cli", &[], None).await;
    let url = s.url.clone();
    let dir = s.dir.clone();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                cli(&url, &a)
            })
            .await
            .expect("cli")
        }
    };
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (ok, out, err) = run(v(&[
        "create",
        "stream",
        "demo",
        r#"(id BIGINT, temperature FLOAT) WITH (DATASOURCE="demo", TYPE="memory")"#,
    ]))
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Stream demo is created.");
    let file = dir.join("table.sql");
    std::fs::write(&file, r#"lk (id BIGINT) WITH (DATASOURCE="lk", TYPE="memory");"#).expect("write");
    let (ok, out, err) = run(v(&["create", "table", "-f", file.to_str().expect("path")])).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Table lk is created.");
    let (ok, out, _) = run(v(&["show", "streams"])).await;
    assert!(ok);
    assert_eq!(out.trim(), "demo");
    let (ok, out, _) = run(v(&["describe", "stream", "demo"])).await;
    assert!(ok);
    assert!(out.contains("id\tbigint") && out.contains("DATASOURCE: demo"), "{out}");
    let (ok, out, err) =
        run(v(&["create", "rule", "r1", r#"{"sql": "SELECT * FROM demo", "actions": [{"log": {}}]}"#])).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Rule r1 was created successfully.");
    let (ok, out, _) = run(v(&["show", "rules"])).await;
    assert!(ok);
    assert_eq!(serde_json::from_str::<Json>(&out).expect("json"), json!([{"id": "r1", "status": "running"}]));
    let (ok, out, _) = run(v(&["stop", "rule", "r1"])).await;
    assert!(ok);
    assert_eq!(out.trim(), "Rule r1 was stopped.");
    let (ok, out, _) = run(v(&["getstatus", "rule", "r1"])).await;
    assert!(ok);
    assert_eq!(serde_json::from_str::<Json>(&out).expect("json")["status"], json!("stopped"));
    let (ok, _, _) = run(v(&["start", "rule", "r1"])).await;
    assert!(ok);
    let (ok, _, _) = run(v(&["restart", "rule", "r1"])).await;
    assert!(ok);
    let (ok, out, _) = run(v(&["gettopo", "rule", "r1"])).await;
    assert!(ok);
    assert_eq!(serde_json::from_str::<Json>(&out).expect("json")["sources"], json!(["source_demo"]));
    let (ok, _, err) = run(v(&["drop", "stream", "demo"])).await;
    assert!(!ok);
    assert!(err.contains("r1"), "{err}");
    let (ok, out, _) = run(v(&["drop", "rule", "r1"])).await;
    assert!(ok);
    assert_eq!(out.trim(), "Rule r1 is dropped.");
    let (ok, _, err) = run(v(&["describe", "rule", "r1"])).await;
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
    let (ok, out, _) = run(v(&["drop", "stream", "demo"])).await;
    assert!(ok);
    assert_eq!(out.trim(), "Stream demo is dropped.");
}

#[test]
fn openapi_document_describes_every_route() {
    let doc = serde_json::to_value(oort::api::openapi::document()).expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for (p, methods) in [
        ("/", &["get"][..]),
        ("/ping", &["get"]),
        ("/metrics", &["get"]),
        ("/streams", &["get", "post"]),
        ("/streams/{name}", &["get", "put", "delete"]),
        ("/streams/{name}/schema", &["get"]),
        ("/tables", &["get", "post"]),
        ("/tables/{name}", &["get", "put", "delete"]),
        ("/rules", &["get", "post"]),
        ("/rules/validate", &["post"]),
        ("/rules/{id}", &["get", "put", "delete"]),
        ("/rules/{id}/start", &["post"]),
        ("/rules/{id}/stop", &["post"]),
        ("/rules/{id}/restart", &["post"]),
        ("/rules/{id}/status", &["get"]),
        ("/rules/{id}/topo", &["get"]),
        ("/rules/{id}/explain", &["get"]),
        ("/metadata/functions", &["get"]),
        ("/metadata/sources", &["get"]),
        ("/metadata/sinks", &["get"]),
    ] {
        for m in methods {
            assert!(paths.get(p).and_then(|x| x.get(*m)).is_some(), "{m} {p} missing from the document");
        }
    }
    // Operation ids are unique (OpenAPI requires it).
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|m| m.as_object().into_iter().flatten())
        .filter_map(|(_, op)| op.get("operationId").and_then(Json::as_str))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate operationId");
    // Every $ref resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().expect("name");
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
}
