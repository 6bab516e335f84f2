//! Golden planner tests: one query per `tests/queries/*.sql` file.
//!
//! A file starts with optional header lines — `-- stream: CREATE STREAM …` (a
//! catalog entry), `-- options: {"isEventTime": true}`, `--fail=<text>` (the
//! compile error must contain `<text>`) — then the query. Without `--fail`, the
//! EXPLAIN output must equal the sibling `.explain` file; run with `BLESS=1` to
//! (re)write those files.

mod common;

use std::path::Path;

use common::TestCatalog;
use oort_compiler::plan::RuleOptions;
use oort_compiler::{compile_rule, explain};

#[test]
fn golden_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/queries");
    let bless = std::env::var("BLESS").is_ok_and(|v| v == "1");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/queries")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "expected at least 20 query files");
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read .sql");
        let mut ddls = Vec::new();
        let mut fail = None;
        let mut options = RuleOptions::default();
        let mut query = String::new();
        for line in text.lines() {
            let t = line.trim();
            if let Some(d) = t.strip_prefix("-- stream:") {
                ddls.push(d.trim().to_string());
            } else if let Some(f) = t.strip_prefix("--fail=") {
                fail = Some(f.to_string());
            } else if let Some(o) = t.strip_prefix("-- options:") {
                let v: serde_json::Value = serde_json::from_str(o.trim()).expect("options json");
                options.is_event_time = v["isEventTime"].as_bool().unwrap_or(false);
            } else if t.starts_with("--") && query.is_empty() {
                // comment
            } else {
                query.push_str(line);
                query.push('\n');
            }
        }
        let query = query.trim();
        let cat = TestCatalog::from_ddl(&ddls);
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let result = compile_rule(query, &cat, options);
        match (fail, result) {
            (Some(f), Err(e)) => {
                if !e.to_string().contains(&f) {
                    failures.push(format!("{name}: error {e:?} does not contain {f:?}"));
                }
            }
            (Some(f), Ok(_)) => failures.push(format!("{name}: expected failure {f:?}, compiled")),
            (None, Err(e)) => failures.push(format!("{name}: compile error: {e}")),
            (None, Ok(plan)) => {
                let got = format!("{query}\n\n{}", explain(&plan));
                let golden = path.with_extension("explain");
                if bless {
                    std::fs::write(&golden, &got).expect("write golden");
                } else {
                    match std::fs::read_to_string(&golden) {
                        Ok(want) if want == got => {}
                        Ok(want) => failures.push(format!(
                            "{name}: EXPLAIN differs (run with BLESS=1 to accept)\n--- want\n{want}\n--- got\n{got}"
                        )),
                        Err(_) => failures.push(format!("{name}: missing {} (run with BLESS=1)", golden.display())),
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
