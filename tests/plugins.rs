//! The server's plugin manager: install from a zip, list, get, use a plugin sink as a built-in
//! sink and a plugin function as a scalar, hot-reload, restore after a restart, delete.
//!
//! Builds the example plugins with a nested cargo into a private target directory (see
//! `plugins/host/tests/plugins.rs` for the loader-level tests).

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::io::Write;
use std::path::{Path, PathBuf};

use oort::plugins::{PluginInfo, PluginManager};
use oort_operators::value::Value;
use oort_plugin_host::PluginKind;
use serde_json::json;

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Build `lib` (with `features`) and answer the library's path (copied, so later builds don't
/// overwrite it).
fn build(lib: &str, features: &str, copy_as: &str) -> PathBuf {
    let target = tmp().join("plugin-build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let pkg = format!("oort-plugin-example-{}", lib.replace('_', "-"));
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-q", "-p", &pkg]).current_dir(env!("CARGO_MANIFEST_DIR")).env("CARGO_TARGET_DIR", &target);
    if !features.is_empty() {
        cmd.args(["--features", features]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dest = tmp().join(copy_as);
    std::fs::copy(target.join(format!("debug/lib{lib}.so")), &dest).unwrap();
    dest
}

fn zip(path: &Path, entries: &[(&str, Vec<u8>)]) -> String {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
    format!("file://{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_use_reload_restore_delete() {
    let file_v1 = build("file_sink", "", "server-Jsonl@v1.0.0.so");
    let file_v2 = build("file_sink", "v2", "server-Jsonl@v2.0.0.so");
    let echo = build("echo_function", "", "server-Echo@v1.0.0.so");
    let base = tmp().join(format!("server-plugins-{}", std::process::id()));
    let (data, etc) = (base.join("data"), base.join("etc"));
    let manager = PluginManager::new(&data, &etc);

    // Install a sink from a zip; GET answers name and version.
    let url = zip(&base.with_extension("v1.zip"), &[("Jsonl@v1.0.0.so", std::fs::read(&file_v1).unwrap())]);
    std::fs::create_dir_all(&base).unwrap();
    let info = manager.install(PluginKind::Sink, "jsonl", &url).unwrap();
    assert_eq!(info, PluginInfo { name: "jsonl".into(), version: "1.0.0".into(), functions: vec![] });
    assert_eq!(serde_json::to_value(&info).unwrap(), json!({"name": "jsonl", "version": "1.0.0"}));
    assert_eq!(manager.list(PluginKind::Sink), ["jsonl"]);

    // The plugin sink behaves as a built-in sink.
    let out = base.join("out.jsonl");
    let props = json!({"path": out.to_str().unwrap()});
    let mut sink = manager.build_sink("jsonl", props.as_object().unwrap(), "rule1").unwrap().unwrap();
    sink.collect(&json!([{"a": 1}, {"a": 2}])).await.unwrap();
    sink.collect(&json!({"a": 3})).await.unwrap();
    sink.close().await.unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    assert!(manager.build_sink("nosuch", props.as_object().unwrap(), "rule1").is_none());

    // Functions.
    manager.install(PluginKind::Function, "echo", echo.to_str().unwrap()).unwrap_err(); // name must match the file
    let echo_named = tmp().join("Echo@v1.0.0.so");
    std::fs::copy(&echo, &echo_named).unwrap();
    let info = manager.install(PluginKind::Function, "echo", echo_named.to_str().unwrap()).unwrap();
    assert_eq!(info.functions, ["echo"]);
    let f = manager.function("echo").unwrap().unwrap();
    assert!(!f.is_aggregate());
    assert_eq!(f.call("rule2", &[Value::Int(5)]).unwrap(), Value::Int(5));

    // Hot reload: v2 for new instances, no restart.
    let url = zip(&base.with_extension("v2.zip"), &[("Jsonl@v2.0.0.so", std::fs::read(&file_v2).unwrap())]);
    assert_eq!(manager.install(PluginKind::Sink, "jsonl", &url).unwrap().version, "2.0.0");
    let mut sink = manager.build_sink("jsonl", props.as_object().unwrap(), "rule1").unwrap().unwrap();
    sink.collect(&json!({"a": 4})).await.unwrap();
    sink.close().await.unwrap();
    assert!(std::fs::read_to_string(&out).unwrap().ends_with("{\"a\":4,\"sink_version\":2}\n"));

    // A refused zip (escaping entry) leaves v2 installed.
    let url = zip(&base.with_extension("evil.zip"), &[("Jsonl@v3.0.0.so", vec![1]), ("../evil", vec![1])]);
    let e = manager.install(PluginKind::Sink, "jsonl", &url).unwrap_err().to_string();
    assert!(e.contains("entry `../evil` escapes the target folder; refused"), "{e}");
    assert_eq!(manager.get(PluginKind::Sink, "jsonl").unwrap().version, "2.0.0");

    // Persistence: a new manager over the same folders restores what was installed.
    let restarted = PluginManager::new(&data, &etc);
    assert!(restarted.restore().is_empty());
    assert_eq!(restarted.get(PluginKind::Sink, "jsonl").unwrap().version, "2.0.0");
    assert_eq!(restarted.list(PluginKind::Function), ["echo"]);

    // Delete: refused while rules use it, then done.
    let e = restarted.delete(PluginKind::Sink, "jsonl", &["rule1".into()]).unwrap_err().to_string();
    assert_eq!(e, "sinks plugin `jsonl` is used by rules rule1; stop or delete them first");
    restarted.delete(PluginKind::Sink, "jsonl", &[]).unwrap();
    assert!(PluginManager::new(&data, &etc).restore().is_empty());
    assert!(restarted.list(PluginKind::Sink).is_empty());
}
