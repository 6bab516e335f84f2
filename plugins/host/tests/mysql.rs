//! random → filter → mysql, with the mysql sink installed from a zip, against a real
//! MySQL/MariaDB server.
//!
//! Needs a server, so it is ignored by default (and says so in the test list). Run it with
//! `OORT_MYSQL_URL=mysql://root@127.0.0.1:3306/test cargo test -p oort-plugin-host --test mysql -- --ignored`.
//! It builds `plugins/examples/mysql_sink` (a cargo project of its own) and checks the rows with
//! the `mariadb`/`mysql` command-line client.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oort_plugin_host::{DriverConfig, EmitOutcome, Loader, PluginKind, PluginRegistry, SinkDriver, stage};
use serde_json::{Value, json};

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn cargo_build(dir: &Path, target: &Path, package: Option<&str>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q"]).current_dir(dir).env("CARGO_TARGET_DIR", target);
    if let Some(p) = package {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// (user, password, host, port, database) of a `mysql://user[:password]@host[:port]/db` URL.
fn parse_url(url: &str) -> (String, String, String, String, String) {
    let rest = url.strip_prefix("mysql://").expect("OORT_MYSQL_URL must start with mysql://");
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (user.into(), password.into(), host.into(), port.into(), db.into())
}

fn sql(url: &str, statement: &str) -> String {
    let (user, password, host, port, db) = parse_url(url);
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

#[test]
#[ignore = "needs MySQL/MariaDB: OORT_MYSQL_URL=mysql://root@127.0.0.1:3306/test cargo test -p oort-plugin-host --test mysql -- --ignored"]
fn random_filter_mysql_lands_rows() {
    let url = std::env::var("OORT_MYSQL_URL")
        .expect("set OORT_MYSQL_URL=mysql://root@127.0.0.1:3306/test to run this test (it needs a server)");
    let table = format!("oort_plugin_test_{}", std::process::id());
    sql(&url, &format!("CREATE TABLE {table} (temperature BIGINT, site VARCHAR(32), note TEXT)"));

    // Build the sink (its own cargo project) and the random source; zip the sink eKuiper-style.
    let mysql_target = tmp().join("mysql-target");
    cargo_build(&root().join("plugins/examples/mysql_sink"), &mysql_target, None);
    let build = tmp().join("plugin-build");
    cargo_build(&root(), &build, Some("oort-plugin-example-random-source"));
    let zip_path = tmp().join("mysql.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    zip.start_file("Mysql@v1.0.0.so", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(&std::fs::read(mysql_target.join("debug/libmysql_sink.so")).unwrap()).unwrap();
    zip.finish().unwrap();

    let registry = PluginRegistry::new(Loader::new(tmp().join("mysql-loaded")));
    let staged =
        stage(PluginKind::Sink, "mysql", &format!("file://{}", zip_path.display()), &tmp().join("mysql-staging"))
            .unwrap();
    registry.install(PluginKind::Sink, "mysql", &staged.library).unwrap();
    assert_eq!(registry.get(PluginKind::Sink, "mysql").unwrap().version(), "1.0.0");
    let source_plugin = Loader::new(tmp().join("mysql-loaded")).load(&build.join("debug/librandom_source.so")).unwrap();

    let mut sink = registry.new_sink("mysql").unwrap().unwrap();
    let props = json!({"url": url, "table": table, "fields": ["temperature", "site", "note"]});
    sink.configure(props.as_object().unwrap()).unwrap();
    sink.open("rule-mysql", Arc::new(|e| panic!("sink error: {e}"))).unwrap();

    let mut source = source_plugin.new_source("random").unwrap();
    // The `note` field carries SQL syntax: it must land as data (parameterized statements).
    let pattern = json!({"pattern": {"temperature": 1, "site": "edge-1", "note": "x'); DROP TABLE t; --"}, "interval": 1, "seed": 100});
    source.configure("", pattern.as_object().unwrap()).unwrap();
    let (tx, rx) = sync_channel::<Vec<Value>>(4);
    let tx = Mutex::new(tx);
    source
        .open(
            "rule-mysql",
            Arc::new(move |records, _| match tx.lock().unwrap().try_send(records) {
                Ok(()) => EmitOutcome::Accepted,
                Err(TrySendError::Full(_)) => EmitOutcome::Retry,
                Err(TrySendError::Disconnected(_)) => EmitOutcome::Closed("stopped".into()),
            }),
            Arc::new(|e| panic!("source error: {e}")),
        )
        .unwrap();
    let mut driver =
        SinkDriver::new(sink, DriverConfig { batch_size: 5, linger: Duration::from_millis(50), queue_capacity: 50 });
    let (mut kept, deadline) = (0, Instant::now() + Duration::from_secs(60));
    while kept < 30 {
        assert!(Instant::now() < deadline, "too slow");
        let Ok(batch) = rx.recv_timeout(Duration::from_millis(50)) else { continue };
        let mut rows: Vec<Value> = batch.into_iter().filter(|r| r["temperature"].as_i64().unwrap() > 50).collect();
        kept += rows.len();
        while !rows.is_empty() {
            rows = driver.offer(rows);
            driver.poll(Instant::now()).unwrap();
        }
    }
    source.close().unwrap();
    driver.shutdown(false, Instant::now() + Duration::from_secs(10)).unwrap();

    let count: usize = sql(&url, &format!("SELECT COUNT(*) FROM {table}")).trim().parse().unwrap();
    let below: usize =
        sql(&url, &format!("SELECT COUNT(*) FROM {table} WHERE temperature <= 50")).trim().parse().unwrap();
    let notes = sql(&url, &format!("SELECT DISTINCT note FROM {table}"));
    sql(&url, &format!("DROP TABLE {table}"));
    assert_eq!(count, kept, "every accepted row landed");
    assert_eq!(below, 0, "the filter ran before the sink");
    assert_eq!(notes.trim(), "x'); DROP TABLE t; --");
}
