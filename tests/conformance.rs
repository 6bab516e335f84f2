//! Runs every eKuiper rule vector in `../shared/conformance/ekuiper/` through
//! the same code as `oort check`, against `tests/conformance/known_failures.txt`
//! (one case name per line; lines starting with `#` are comments). Fails on a failure not in the list,
//! and on a listed case that now passes, so the list only shrinks.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/ekuiper")
}

fn known_failures() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/known_failures.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        // A `#` starts a comment only at the start of a line: case names contain `#`.
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn ekuiper_conformance_vectors() {
    let dir = vectors_dir();
    assert!(dir.is_dir(), "conformance vectors not found at {}", dir.display());
    let cases = oort::check::load(&[dir]).expect("vectors load");
    assert!(!cases.is_empty(), "no vectors found");
    let results = oort::check::run_cases(cases);
    let known = known_failures();
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for r in &results {
        match (r.passed, known.contains(&r.name)) {
            (false, false) => unexpected.push(format!("{}\n{}", r.name, r.detail)),
            (true, true) => fixed.push(r.name.clone()),
            _ => {}
        }
    }
    let names: BTreeSet<&String> = results.iter().map(|r| &r.name).collect();
    let stale: Vec<&String> = known.iter().filter(|k| !names.contains(k)).collect();
    eprintln!("conformance: {passed} passed, {failed} failed");
    assert!(unexpected.is_empty(), "cases failing that are not in known_failures.txt:\n{}", unexpected.join("\n"));
    assert!(fixed.is_empty(), "cases now passing: remove them from known_failures.txt:\n{}", fixed.join("\n"));
    assert!(stale.is_empty(), "known_failures.txt names unknown cases: {stale:?}");
}
