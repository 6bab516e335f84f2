//! End-to-end tests of the plugin host against the example plugins, built by the test itself.
//!
//! The examples are workspace members built as cdylibs; the tests run `cargo build` on them into a
//! private target directory under `CARGO_TARGET_TMPDIR` (a nested cargo must not share the outer
//! build's target directory lock), copy each library to a fixture path, and load the copies.

#![allow(clippy::unwrap_used, reason = "helpers shared by the tests: a failed unwrap is a failed test")]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use oort_plugin_host::{
    DriverConfig, EmitOutcome, LoadedPlugin, Loader, PluginError, PluginKind, PluginRegistry, SinkDriver,
};
use serde_json::{Map, Value, json};

const EXAMPLES: &[&str] =
    &["echo_function", "count_plus_one", "random_source", "file_sink", "panic_sink", "bad_abi", "not_a_plugin"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn fixtures_dir() -> PathBuf {
    let d = tmp().join("plugin-fixtures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Serializes nested cargo builds: feature builds overwrite the same output file.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn cargo(args: &[&str], dir: &Path, target_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn package(lib: &str) -> String {
    format!("oort-plugin-example-{}", lib.replace('_', "-"))
}

/// Build `lib` (with `features`) and copy the library to `plugin-fixtures/<file_name>`.
fn build(lib: &str, features: &[&str], file_name: &str) -> PathBuf {
    let _lock = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let target = tmp().join("plugin-build");
    let pkg = package(lib);
    let mut args = vec!["build", "-q", "-p", pkg.as_str()];
    let features = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", features.as_str()]);
    }
    cargo(&args, &workspace_root(), &target);
    let dest = fixtures_dir().join(file_name);
    std::fs::copy(target.join("debug").join(format!("lib{lib}.so")), &dest).unwrap();
    dest
}

/// Default builds of every example, done once (one cargo invocation).
fn example(lib: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let _lock = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let pkgs: Vec<String> = EXAMPLES.iter().map(|l| package(l)).collect();
        let mut args = vec!["build", "-q"];
        for p in &pkgs {
            args.extend(["-p", p.as_str()]);
        }
        cargo(&args, &workspace_root(), &tmp().join("plugin-build"));
    });
    let src = tmp().join("plugin-build/debug").join(format!("lib{lib}.so"));
    let dest = fixtures_dir().join(format!("{lib}-default.so"));
    let _lock = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::copy(&src, &dest).unwrap();
    dest
}

fn loader(test: &str) -> Loader {
    Loader::new(tmp().join("plugin-loaded").join(test))
}

fn load(test: &str, lib: &str) -> Arc<LoadedPlugin> {
    loader(test).load(&example(lib)).unwrap()
}

#[test]
fn echo_function_loads_and_runs() {
    let plugin = load("echo", "echo_function");
    assert_eq!((plugin.name(), plugin.version()), ("echo", "1.0.0"));
    assert_eq!(plugin.function_names(), ["echo"]);
    let echo = plugin.new_function("echo").unwrap();
    assert!(!echo.is_aggregate());
    echo.validate(&["struct"]).unwrap();
    let e = echo.validate(&[]).unwrap_err().to_string();
    assert_eq!(e, "plugin `echo`: function `echo` validate failed: echo expects 1 argument, got 0");
    let record = json!({"a": 1, "b": [1.5, "x", null], "c": {"d": true}});
    assert_eq!(echo.exec("rule1", 0, std::slice::from_ref(&record)).unwrap(), record);
    // Concurrent exec on one instance is allowed.
    std::thread::scope(|s| {
        for i in 0..4 {
            let echo = &echo;
            s.spawn(move || assert_eq!(echo.exec("r", i, &[json!(i)]).unwrap(), json!(i)));
        }
    });
    drop(echo);
    assert_eq!(Arc::strong_count(&plugin), 1, "instances release the library");
}

#[test]
fn aggregate_function_gets_the_group() {
    let plugin = load("agg", "count_plus_one");
    let f = plugin.new_function("countPlusOne").unwrap();
    assert!(f.is_aggregate());
    assert_eq!(f.exec("r", 0, &[json!([1, 2, 3])]).unwrap(), json!(4));
    let e = f.exec("r", 0, &[json!(5)]).unwrap_err().to_string();
    assert!(e.contains("expects the group's values as an array"), "{e}");
}

#[test]
fn other_abi_major_is_refused_before_any_plugin_code_runs() {
    // bad_abi's `init` aborts the process: reaching the assertions proves it never ran.
    let err = load_err("bad_abi", &example("bad_abi"));
    assert!(matches!(err, PluginError::AbiMismatch { plugin_major: 2, host_major: 1, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `bad_abi-default` was built for plugin ABI v2; this server speaks plugin ABI v1; rebuild it \
         against oort-plugin-sdk for plugin ABI v1"
    );
}

fn load_err(test: &str, path: &Path) -> PluginError {
    let dir = tmp().join("plugin-loaded").join(test);
    let err = Loader::new(&dir).load(path).unwrap_err();
    let left: Vec<_> = std::fs::read_dir(&dir).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "refused copies are removed: {left:?}");
    err
}

#[test]
fn text_file_and_plain_library_are_refused_clearly() {
    let text = fixtures_dir().join("notes.so");
    std::fs::write(&text, "this is not a library\n").unwrap();
    let err = load_err("text", &text);
    assert!(matches!(err, PluginError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot load `{}` as a plugin: not a loadable shared library", text.display())),
        "{msg}"
    );

    let lib = example("not_a_plugin");
    let err = load_err("plain", &lib);
    assert!(matches!(err, PluginError::NotAPlugin { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` is a shared library but not an Oort plugin: it exports neither `oort_plugin_declaration_v1` nor \
             `oort_plugin_abi_major` (build it with oort-plugin-sdk's export_plugin!)",
            lib.display()
        )
    );

    let missing = load_err("missing", &fixtures_dir().join("does-not-exist.so"));
    assert!(matches!(missing, PluginError::Io { .. }), "{missing:?}");
}

#[test]
fn panic_in_collect_fails_only_that_instance() {
    let plugin = load("panic", "panic_sink");
    let mut sink = plugin.new_sink("panic").unwrap();
    sink.configure(&Map::new()).unwrap();
    sink.open("rule-panics", Arc::new(|_| {})).unwrap();
    let err = sink.collect(&[json!({"a": 1})]).unwrap_err();
    assert!(matches!(err, PluginError::Panicked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin `panic`: sink `panic` collect panicked: plugin panicked: panic_sink refuses a batch of 1 records"
    );
    let again = sink.collect(&[json!({"a": 1})]).unwrap_err().to_string();
    assert!(again.contains("not called: the instance panicked earlier"), "{again}");
    drop(sink);

    // The process and other plugins keep working; a fresh instance of the same plugin too.
    let echo = load("panic-echo", "echo_function").new_function("echo").unwrap();
    assert_eq!(echo.exec("other-rule", 0, &[json!("still alive")]).unwrap(), json!("still alive"));
    let mut fresh = plugin.new_sink("panic").unwrap();
    fresh.configure(&Map::new()).unwrap();
}

/// Runs random → filter(temperature > 50) → file sink for about `n` kept rows; answers the lines.
fn run_random_to_file(source_plugin: &Arc<LoadedPlugin>, sink: oort_plugin_host::PluginSink, n: usize) {
    let mut source = source_plugin.new_source("random").unwrap();
    let props = json!({"pattern": {"temperature": 1, "humidity": 1, "site": "edge-1"}, "interval": 1, "seed": 100});
    source.configure("", props.as_object().unwrap()).unwrap();
    // A small bounded queue: the source sees "retry" when it is full (backpressure).
    let (tx, rx): (SyncSender<Vec<Value>>, Receiver<Vec<Value>>) = sync_channel(2);
    let tx = Mutex::new(tx);
    source
        .open(
            "rule-random",
            Arc::new(move |records, _ts| match tx.lock().unwrap().try_send(records) {
                Ok(()) => EmitOutcome::Accepted,
                Err(TrySendError::Full(_)) => EmitOutcome::Retry,
                Err(TrySendError::Disconnected(_)) => EmitOutcome::Closed("rule stopped".into()),
            }),
            Arc::new(|e| panic!("source error: {e}")),
        )
        .unwrap();
    let cfg = DriverConfig { batch_size: 4, linger: Duration::from_millis(20), queue_capacity: 16 };
    let mut driver = SinkDriver::new(sink, cfg);
    let (mut kept, deadline) = (0, Instant::now() + Duration::from_secs(30));
    while kept < n {
        assert!(Instant::now() < deadline, "random source too slow");
        let Ok(batch) = rx.recv_timeout(Duration::from_millis(50)) else { continue };
        let mut rows: Vec<Value> = batch.into_iter().filter(|r| r["temperature"].as_i64().unwrap() > 50).collect();
        kept += rows.len();
        while !rows.is_empty() {
            rows = driver.offer(rows);
            driver.poll(Instant::now()).unwrap();
        }
    }
    source.close().unwrap();
    driver.shutdown(false, Instant::now() + Duration::from_secs(5)).unwrap();
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn random_source_filter_file_sink_end_to_end() {
    let source_plugin = load("e2e-src", "random_source");
    let sink_plugin = load("e2e-sink", "file_sink");
    let out = fixtures_dir().join("e2e-out.jsonl");
    let _ = std::fs::remove_file(&out);
    let mut sink = sink_plugin.new_sink("jsonl").unwrap();
    sink.configure(json!({"path": out.to_str().unwrap()}).as_object().unwrap()).unwrap();
    sink.open("rule-random", Arc::new(|e| panic!("sink error: {e}"))).unwrap();
    run_random_to_file(&source_plugin, sink, 20);
    let lines = read_lines(&out);
    assert!(lines.len() >= 20, "{} lines", lines.len());
    for l in &lines {
        let t = l["temperature"].as_i64().unwrap();
        assert!(t > 50 && t < 100, "{l}");
        assert_eq!(l["site"], "edge-1");
        assert!(l.get("sink_version").is_none());
    }
    assert_eq!(Arc::strong_count(&source_plugin), 1);
    assert_eq!(Arc::strong_count(&sink_plugin), 1);
}

#[test]
fn sink_configuration_errors_are_reported() {
    let plugin = load("cfg", "file_sink");
    let mut sink = plugin.new_sink("jsonl").unwrap();
    let e = sink.configure(&Map::new()).unwrap_err().to_string();
    assert_eq!(e, "plugin `jsonl`: sink `jsonl` configure failed: jsonl sink: property `path` (string) is required");
    let e = plugin.new_source("jsonl").unwrap_err().to_string();
    assert_eq!(e, "plugin `jsonl` 1.0.0 exports no source named `jsonl`");
}

#[test]
fn two_versions_load_side_by_side_and_registry_hot_reloads() {
    let v1 = build("echo_function", &[], "Echo@v1.0.0.so");
    let v2 = build("echo_function", &["v2"], "Echo@v2.0.0.so");
    let registry = PluginRegistry::new(loader("reload"));
    assert!(registry.install(PluginKind::Function, "echo", &v1).unwrap().is_none());
    let old = registry.new_function("echo").unwrap().unwrap();
    assert_eq!(old.plugin().version(), "1.0.0");

    let previous = registry.install(PluginKind::Function, "echo", &v2).unwrap().unwrap();
    assert_eq!(previous.version(), "1.0.0");
    drop(previous);
    let new = registry.new_function("echo").unwrap().unwrap();
    assert_eq!(registry.get(PluginKind::Function, "echo").unwrap().version(), "2.0.0");
    // The running instance keeps v1 behaviour, a new one has v2's.
    assert_eq!(old.exec("running", 0, &[json!(7)]).unwrap(), json!(7));
    assert_eq!(new.exec("new", 0, &[json!(7)]).unwrap(), json!({"v2": 7}));
    let v1_lib = old.plugin().clone();
    drop(old);
    assert_eq!(Arc::strong_count(&v1_lib), 1, "v1 unloads once its last instance is gone");

    // A refused file leaves the current version active.
    let err = registry.install(PluginKind::Function, "echo", &example("bad_abi")).unwrap_err().to_string();
    assert!(err.contains("plugin ABI v2; this server speaks plugin ABI v1"), "{err}");
    assert_eq!(registry.get(PluginKind::Function, "echo").unwrap().version(), "2.0.0");

    let e = registry.remove(PluginKind::Function, "echo", &["r1".into(), "r2".into()]).unwrap_err().to_string();
    assert_eq!(e, "functions plugin `echo` is used by rules r1, r2; stop or delete them first");
    registry.remove(PluginKind::Function, "echo", &[]).unwrap();
    assert!(registry.list(PluginKind::Function).is_empty());
    assert!(registry.new_function("echo").is_none());
}

#[test]
fn sink_v2_installed_while_running_takes_effect_on_restart() {
    let v1 = build("file_sink", &[], "Jsonl@v1.0.0.so");
    let v2 = build("file_sink", &["v2"], "Jsonl@v2.0.0.so");
    let registry = PluginRegistry::new(loader("sink-reload"));
    registry.install(PluginKind::Sink, "jsonl", &v1).unwrap();
    let source_plugin = load("sink-reload-src", "random_source");
    let out = fixtures_dir().join("reload-out.jsonl");
    let _ = std::fs::remove_file(&out);
    let start = |registry: &PluginRegistry| {
        let mut sink = registry.new_sink("jsonl").unwrap().unwrap();
        sink.configure(json!({"path": out.to_str().unwrap()}).as_object().unwrap()).unwrap();
        sink.open("rule-reload", Arc::new(|_| {})).unwrap();
        sink
    };
    let running = start(&registry);
    registry.install(PluginKind::Sink, "jsonl", &v2).unwrap();
    run_random_to_file(&source_plugin, running, 5); // the running rule still has v1
    let before = read_lines(&out).len();
    assert!(read_lines(&out).iter().all(|l| l.get("sink_version").is_none()));
    run_random_to_file(&source_plugin, start(&registry), 5); // "restarted": binds to v2
    let lines = read_lines(&out);
    assert!(lines[..before].iter().all(|l| l.get("sink_version").is_none()));
    assert!(lines[before..].iter().all(|l| l["sink_version"] == json!(2)), "{:?}", &lines[before..]);
    assert_eq!(registry.list(PluginKind::Sink), ["jsonl"]);
}

#[test]
fn plugin_from_a_separate_cargo_project_loads() {
    let dir = workspace_root().join("plugins/examples/external");
    let target = tmp().join("external-target");
    cargo(&["build", "-q", "--release"], &dir, &target);
    let lib = target.join("release/libexternal_upper.so");
    let plugin = loader("external").load(&lib).unwrap();
    assert_eq!((plugin.name(), plugin.version()), ("upper", "0.3.0"));
    let upper = plugin.new_function("upper").unwrap();
    assert_eq!(upper.exec("r", 0, &[json!("edge")]).unwrap(), json!("EDGE"));
}
