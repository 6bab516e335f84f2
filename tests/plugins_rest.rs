//! Plugins end to end, over REST, against the real server process: the example plugins are
//! built, zipped eKuiper-style and installed with `POST /plugins/...`; rules bind to them (a
//! `random` source stream, the `jsonl` file sink, the `echo` scalar and `countPlusOne` aggregate
//! functions); a sink that panics stops only its rule; v2 of a sink installed while its rule
//! runs is used after a rule restart; plugins and rules come back after a server restart; a
//! plugin in use cannot be deleted.
//!
//! The MySQL variant (`random` → filter → `mysql` sink plugin into MariaDB) needs a database
//! server: it is ignored by default and run by `.ci/plugins_mysql.sh` with `OORT_MYSQL_URL` set.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;
use common::*;

use oort::api::client::{Client, Reply};
use serde_json::{Value as Json, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a condition may take to come true before the test fails (generous: the machine is
/// shared; nothing is measured).
const PATIENCE: Duration = Duration::from_secs(120);

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo build` in `dir` into `target` (a nested cargo; plugins are their own cdylibs).
fn cargo_build(dir: &Path, target: &Path, package: Option<&str>, features: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q"]).current_dir(dir).env("CARGO_TARGET_DIR", target);
    if let Some(p) = package {
        cmd.args(["-p", p]);
    }
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Build example `lib` (crate `oort-plugin-example-<lib>`) and answer the library's bytes.
fn build(lib: &str, features: &str) -> Vec<u8> {
    let target = tmp().join("plugin-build");
    cargo_build(root(), &target, Some(&format!("oort-plugin-example-{}", lib.replace('_', "-"))), features);
    std::fs::read(target.join(format!("debug/lib{lib}.so"))).unwrap()
}

/// Write a zip holding `entries` and answer its `file://` URL.
fn zip(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> String {
    let path = dir.join(name);
    let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (entry, bytes) in entries {
        w.start_file(*entry, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
    format!("file://{}", path.display())
}

struct Server {
    child: Child,
    client: Client,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `oort serve` with its working directory (and so `etc/`) and data in `dir`.
async fn start(dir: &Path) -> Server {
    let port = free_port();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_oort"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "2", "--data-dir"])
        .arg(dir.join("data"))
        .current_dir(dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let client = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
    let server = Server { child, client, dir: dir.to_path_buf() };
    wait_for("the server to answer /ping", &server, async |s| s.client.get("/ping").await.is_ok_and(|r| r.ok())).await;
    server
}

/// Polls `cond` until it holds; fails (with the server log) after [`PATIENCE`].
async fn wait_for(what: &str, s: &Server, cond: impl AsyncFn(&Server) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond(s).await {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}; server log:\n{}",
            std::fs::read_to_string(s.dir.join("server.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn expect(r: Reply, status: u16) -> Reply {
    assert_eq!(r.status, status, "unexpected answer: {}", r.body);
    r
}

async fn post(s: &Server, path: &str, body: Json, status: u16) -> Reply {
    expect(s.client.post(path, &body).await.unwrap(), status)
}

async fn rule_status(s: &Server, id: &str) -> String {
    let r = expect(s.client.get(&format!("/rules/{id}/status")).await.unwrap(), 200);
    r.json().unwrap()["status"].as_str().unwrap().to_string()
}

/// The JSON lines written so far to `path` (none when it does not exist yet).
fn lines(path: &Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

const RANDOM_YAML: &str = "\
default:
  interval: 5
  seed: 100
  pattern:
    temperature: 1
    site: edge-1
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_installed_over_rest_run_in_rules() {
    let random = build("random_source", "");
    let jsonl_v1 = build("file_sink", "");
    let jsonl_v2 = build("file_sink", "v2");
    let echo = build("echo_function", "");
    let count_plus_one = build("count_plus_one", "");
    let panic = build("panic_sink", "");
    let bad_abi = build("bad_abi", "");

    let dir = temp_dir("plugins-rest");
    let pkgs = dir.join("packages");
    std::fs::create_dir_all(&pkgs).unwrap();
    let random_zip =
        zip(&pkgs, "random.zip", &[("Random@v1.0.0.so", &random), ("random.yaml", RANDOM_YAML.as_bytes())]);
    let jsonl_zip = zip(&pkgs, "jsonl.zip", &[("Jsonl@v1.0.0.so", &jsonl_v1)]);
    let jsonl_v2_zip = zip(&pkgs, "jsonl2.zip", &[("Jsonl@v2.0.0.so", &jsonl_v2)]);
    let echo_zip = zip(&pkgs, "echo.zip", &[("Echo@v1.0.0.so", &echo)]);
    let count_zip = zip(&pkgs, "countPlusOne.zip", &[("CountPlusOne@v1.0.0.so", &count_plus_one)]);
    let panic_zip = zip(&pkgs, "panic.zip", &[("Panic@v1.0.0.so", &panic)]);
    let bad_zip = zip(&pkgs, "bad.zip", &[("Bad@v1.0.0.so", &bad_abi)]);
    let escaping_zip = zip(&pkgs, "evil.zip", &[("Jsonl@v3.0.0.so", &jsonl_v1), ("../evil.so", b"x")]);

    let s = start(&dir).await;

    // Install: eKuiper's payload and answer.
    let r = post(&s, "/plugins/sources", json!({"name": "random", "file": random_zip}), 201).await;
    assert_eq!(r.body, "source plugin random is created");
    assert_eq!(std::fs::read_to_string(dir.join("etc/sources/random.yaml")).unwrap(), RANDOM_YAML);
    post(&s, "/plugins/sinks", json!({"name": "jsonl", "file": jsonl_zip}), 201).await;
    post(&s, "/plugins/sinks", json!({"name": "panic", "file": panic_zip}), 201).await;
    post(&s, "/plugins/functions", json!({"name": "echo", "file": echo_zip}), 201).await;
    post(&s, "/plugins/functions", json!({"name": "countPlusOne", "file": count_zip}), 201).await;
    let r = expect(s.client.get("/plugins/sinks").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!(["jsonl", "panic"])));
    let r = expect(s.client.get("/plugins/sinks/jsonl").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!({"name": "jsonl", "version": "1.0.0"})));
    let r = expect(s.client.get("/plugins/functions/countPlusOne").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!({"name": "countPlusOne", "version": "1.0.0", "functions": ["countPlusOne"]})));
    expect(s.client.get("/plugins/sinks/nosuch").await.unwrap(), 404);
    expect(s.client.get("/plugins/widgets").await.unwrap(), 404);

    // Refused packages: 4xx with the reason; nothing changes.
    let r = post(&s, "/plugins/sinks", json!({"name": "bad", "file": bad_zip}), 400).await;
    let m = r.message();
    assert!(m.contains("v2") && m.contains("v1"), "{m}");
    let r = post(&s, "/plugins/sinks", json!({"name": "jsonl", "file": escaping_zip}), 400).await;
    assert!(r.message().contains("escapes the target folder"), "{}", r.body);
    let r = post(&s, "/plugins/sinks", json!({"name": "jsonl", "file": "file:///nonexistent/x.zip"}), 400).await;
    assert!(r.message().contains("/nonexistent/x.zip"), "{}", r.body);
    let r = post(&s, "/plugins/sinks", json!({"name": "file", "file": jsonl_zip}), 400).await;
    assert!(r.message().contains("built-in sink `file`"), "{}", r.body);
    post(&s, "/plugins/sinks", json!({"file": jsonl_zip}), 400).await;
    let r = expect(s.client.get("/plugins/sinks/jsonl").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!({"name": "jsonl", "version": "1.0.0"})));

    // A stream of the plugin source type, configured from etc/sources/random.yaml.
    post(&s, "/streams", json!({"sql": r#"CREATE STREAM demo () WITH (TYPE="random", DATASOURCE="demo")"#}), 201).await;

    // random → WHERE → jsonl sink plugin, calling the echo plugin function.
    let filtered = dir.join("filtered.jsonl");
    let rule = json!({
        "id": "hot",
        "sql": "SELECT temperature, echo(site) AS echoed FROM demo WHERE temperature > 50",
        "actions": [{"jsonl": {"path": filtered.display().to_string()}}],
    });
    post(&s, "/rules", rule, 201).await;
    // The plugin aggregate inside a window, beside the built-in count.
    let windows = dir.join("windows.jsonl");
    let rule = json!({
        "id": "agg",
        "sql": "SELECT countPlusOne(temperature) AS plus_one, count(*) AS n FROM demo GROUP BY TUMBLINGWINDOW(ss, 1)",
        "actions": [{"jsonl": {"path": windows.display().to_string()}}],
    });
    post(&s, "/rules", rule, 201).await;
    // A plugin function's own validation runs at rule creation.
    let bad = json!({"id": "bad", "sql": "SELECT echo(site, 1) FROM demo", "actions": [{"log": {}}]});
    let r = post(&s, "/rules", bad, 400).await;
    assert!(r.message().contains("echo expects 1 argument, got 2"), "{}", r.body);

    wait_for("10 filtered rows", &s, async |_| lines(&filtered).len() >= 10).await;
    for l in lines(&filtered) {
        let t = l["temperature"].as_i64().unwrap();
        assert!((51..100).contains(&t), "{l}");
        assert_eq!(l["echoed"], json!("edge-1"), "{l}");
        assert!(l.get("sink_version").is_none(), "{l}");
    }
    wait_for("2 window rows", &s, async |_| lines(&windows).len() >= 2).await;
    for l in lines(&windows) {
        let n = l["n"].as_i64().unwrap();
        assert!(n > 0, "{l}");
        assert_eq!(l["plus_one"], json!(n + 1), "{l}");
    }

    // A sink that panics in collect stops its rule only.
    let rule = json!({"id": "boom", "sql": "SELECT * FROM demo", "actions": [{"panic": {}}]});
    post(&s, "/rules", rule, 201).await;
    wait_for("rule boom to stop by error", &s, async |s| rule_status(s, "boom").await.starts_with("stopped by error"))
        .await;
    let status = rule_status(&s, "boom").await;
    assert!(status.contains("panic_sink refuses a batch"), "{status}");
    assert_eq!(rule_status(&s, "hot").await, "running");
    assert_eq!(rule_status(&s, "agg").await, "running");
    let seen = lines(&filtered).len();
    wait_for("more filtered rows after the panic", &s, async |_| lines(&filtered).len() > seen + 5).await;

    // Plugins in use cannot be deleted; the answer names the rules.
    let r = expect(s.client.delete("/plugins/sinks/jsonl").await.unwrap(), 409);
    assert!(r.message().contains("agg") && r.message().contains("hot"), "{}", r.body);
    let r = expect(s.client.delete("/plugins/functions/echo").await.unwrap(), 409);
    assert!(r.message().contains("hot") && !r.message().contains("agg"), "{}", r.body);
    let r = expect(s.client.delete("/plugins/functions/countPlusOne").await.unwrap(), 409);
    assert!(r.message().contains("agg"), "{}", r.body);
    let r = expect(s.client.delete("/plugins/sources/random").await.unwrap(), 409);
    assert!(r.message().contains("hot"), "{}", r.body);

    // Hot reload: v2 of the running sink, then a rule restart, no server restart.
    post(&s, "/plugins/sinks", json!({"name": "jsonl", "file": jsonl_v2_zip}), 201).await;
    let r = expect(s.client.get("/plugins/sinks/jsonl").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!({"name": "jsonl", "version": "2.0.0"})));
    expect(s.client.post("/rules/hot/restart", &json!({})).await.unwrap(), 200);
    wait_for("rows written by sink v2", &s, async |_| lines(&filtered).iter().any(|l| l["sink_version"] == json!(2)))
        .await;

    // Restart the server: plugins are restored before the rules, which run again.
    drop(s);
    let s = start(&dir).await;
    let r = expect(s.client.get("/plugins/sinks/jsonl").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!({"name": "jsonl", "version": "2.0.0"})));
    let r = expect(s.client.get("/plugins/functions").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!(["countPlusOne", "echo"])));
    wait_for("rule hot to run after the restart", &s, async |s| rule_status(s, "hot").await == "running").await;
    let seen = lines(&filtered).len();
    wait_for("rows after the restart", &s, async |_| lines(&filtered).len() > seen + 5).await;
    assert!(lines(&filtered)[seen..].iter().all(|l| l["sink_version"] == json!(2)));

    // Once no rule uses it, a plugin can be deleted, and stays deleted.
    for id in ["hot", "agg", "boom"] {
        expect(s.client.delete(&format!("/rules/{id}")).await.unwrap(), 200);
    }
    let r = expect(s.client.delete("/plugins/sinks/jsonl").await.unwrap(), 200);
    assert_eq!(r.body, "sink plugin jsonl is deleted");
    expect(s.client.get("/plugins/sinks/jsonl").await.unwrap(), 404);
    expect(s.client.delete("/plugins/sinks/jsonl").await.unwrap(), 404);
    drop(s);
    let s = start(&dir).await;
    let r = expect(s.client.get("/plugins/sinks").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!(["panic"])));
}

/// (user, password, host, port, database) of a `mysql://user[:password]@host[:port]/db` URL.
fn parse_mysql_url(url: &str) -> (String, String, String, String, String) {
    let rest = url.strip_prefix("mysql://").expect("OORT_MYSQL_URL must start with mysql://");
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (user.into(), password.into(), host.into(), port.into(), db.into())
}

/// Run `statement` with the `mariadb` (or `mysql`) client; answer its tab-separated output.
fn sql(url: &str, statement: &str) -> String {
    let (user, password, host, port, db) = parse_mysql_url(url);
    let client = if Command::new("mariadb").arg("--version").output().is_ok() { "mariadb" } else { "mysql" };
    let mut cmd = Command::new(client);
    cmd.args(["-N", "-B", "-u", &user, "-h", &host, "-P", &port, &db, "-e", statement]);
    if !password.is_empty() {
        cmd.env("MYSQL_PWD", password);
    }
    let out = cmd.output().expect("the mariadb/mysql client is needed to check the rows");
    assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL: OORT_MYSQL_URL=mysql://root@127.0.0.1:3306/test cargo test -p oort --test plugins_rest -- --ignored (or bash .ci/plugins_mysql.sh)"]
async fn random_filter_mysql_over_rest_lands_rows() {
    let url = std::env::var("OORT_MYSQL_URL")
        .expect("set OORT_MYSQL_URL=mysql://root@127.0.0.1:3306/test to run this test (it needs a database server)");
    let table = format!("oort_rest_plugin_{}", std::process::id());
    sql(&url, &format!("DROP TABLE IF EXISTS {table}"));
    sql(&url, &format!("CREATE TABLE {table} (temperature BIGINT, site VARCHAR(32), note TEXT)"));

    // The mysql sink is a cargo project of its own (own lockfile and target directory).
    let mysql_target = tmp().join("mysql-target");
    cargo_build(&root().join("plugins/examples/mysql_sink"), &mysql_target, None, "");
    let mysql = std::fs::read(mysql_target.join("debug/libmysql_sink.so")).unwrap();
    let random = build("random_source", "");

    let dir = temp_dir("plugins-rest-mysql");
    let pkgs = dir.join("packages");
    std::fs::create_dir_all(&pkgs).unwrap();
    // The note carries SQL syntax: it must land as data (the sink uses parameterized statements).
    let yaml = "default:\n  interval: 5\n  seed: 100\n  pattern:\n    temperature: 1\n    site: edge-1\n    note: \"x'); DROP TABLE t; --\"\n";
    let random_zip = zip(&pkgs, "random.zip", &[("Random@v1.0.0.so", &random), ("random.yaml", yaml.as_bytes())]);
    let mysql_zip = zip(&pkgs, "mysql.zip", &[("Mysql@v1.0.0.so", &mysql)]);

    let s = start(&dir).await;
    post(&s, "/plugins/sources", json!({"name": "random", "file": random_zip}), 201).await;
    post(&s, "/plugins/sinks", json!({"name": "mysql", "file": mysql_zip}), 201).await;
    let r = expect(s.client.get("/plugins/sinks/mysql").await.unwrap(), 200);
    assert_eq!(r.json(), Some(json!({"name": "mysql", "version": "1.0.0"})));
    post(&s, "/streams", json!({"sql": r#"CREATE STREAM demo () WITH (TYPE="random", DATASOURCE="demo")"#}), 201).await;
    let rule = json!({
        "id": "to_mysql",
        "sql": "SELECT temperature, site, note FROM demo WHERE temperature > 50",
        "actions": [{"mysql": {"url": url, "table": table, "fields": ["temperature", "site", "note"]}}],
    });
    post(&s, "/rules", rule, 201).await;

    let count = |url: &str| sql(url, &format!("SELECT COUNT(*) FROM {table}")).trim().parse::<usize>().unwrap();
    wait_for("20 rows in MariaDB", &s, async |_| count(&url) >= 20).await;
    expect(s.client.post("/rules/to_mysql/stop", &json!({})).await.unwrap(), 200);
    let rows = sql(&url, &format!("SELECT temperature, site, note FROM {table}"));
    for row in rows.lines() {
        let cols: Vec<&str> = row.split('\t').collect();
        let t: i64 = cols[0].parse().unwrap();
        assert!((51..100).contains(&t), "{row}");
        assert_eq!(cols[1], "edge-1", "{row}");
        assert_eq!(cols[2], "x'); DROP TABLE t; --", "{row}");
    }
    sql(&url, &format!("DROP TABLE {table}"));
}
