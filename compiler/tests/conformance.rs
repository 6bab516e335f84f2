//! Every stream DDL and rule SQL of the eKuiper conformance vectors
//! (`/work/shared/conformance/ekuiper/*.json`, or `$OORT_CONFORMANCE_DIR`)
//! must parse and bind.

mod common;

use std::path::PathBuf;

use common::TestCatalog;
use oort_compiler::catalog::Catalog;
use oort_compiler::plan::RuleOptions;
use oort_compiler::{compile_rule, parse_stream_ddl};

fn vector_dir() -> Option<PathBuf> {
    let dir = std::env::var("OORT_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/conformance/ekuiper"));
    dir.is_dir().then_some(dir)
}

#[test]
fn every_vector_parses_and_binds() {
    run(false);
}

/// The same with the real built-in function catalog (`functions::lookup`),
/// once it is populated.
#[test]
fn every_vector_binds_with_builtin_functions() {
    if oort_compiler::functions::lookup("count").is_none() {
        eprintln!("built-in function catalog is empty; skipping");
        return;
    }
    run(true);
}

fn run(builtin: bool) {
    let Some(dir) = vector_dir() else {
        eprintln!("conformance vectors not found; skipping");
        return;
    };
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("vector dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "MANIFEST.json"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read vector");
        let v: serde_json::Value = serde_json::from_str(&text).expect("vector json");
        for case in v.as_array().expect("array of cases") {
            cases += 1;
            let name = case["name"].as_str().unwrap_or("?");
            let ddls: Vec<String> = case["streams"]
                .as_array()
                .expect("streams")
                .iter()
                .map(|s| s.as_str().expect("ddl string").to_string())
                .collect();
            for d in &ddls {
                if let Err(e) = parse_stream_ddl(d) {
                    failures.push(format!("{name}: DDL {d}: {e}"));
                }
            }
            let cat = TestCatalog::from_ddl(&ddls);
            let builtin_cat = cat.streams.clone();
            let catalog: &dyn Catalog = if builtin { &builtin_cat } else { &cat };
            let sql = case["rule"]["sql"].as_str().expect("sql");
            let opts = &case["rule"]["options"];
            let options = RuleOptions {
                is_event_time: opts["isEventTime"].as_bool().unwrap_or(false),
                send_error: opts["sendError"].as_bool().unwrap_or(true),
                ..RuleOptions::default()
            };
            match compile_rule(sql, catalog, options) {
                Ok(plan) => {
                    assert_eq!(plan.sources.len(), ddls.len(), "{name}: source count");
                    let sum: usize = plan.sources.iter().map(|s| s.width()).sum();
                    assert_eq!(plan.width, sum, "{name}: width");
                }
                Err(e) => failures.push(format!("{name}: {sql}: {e}")),
            }
        }
    }
    assert!(cases >= 90, "only {cases} cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
