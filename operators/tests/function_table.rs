//! `docs/functions.md` is generated from the function catalog: this test
//! renders it and fails when the checked-in file differs (run with `BLESS=1`
//! to rewrite it), so the table can never be hand-kept or stale.

use oort_compiler::functions::{FunctionKind, all};
use std::fmt::Write;
use std::path::PathBuf;

fn render() -> String {
    let sigs = all();
    let done = sigs.iter().filter(|s| s.implemented).count();
    let mut out = String::new();
    let _ = writeln!(out, "# Built-in functions\n");
    let _ = writeln!(
        out,
        "Generated from the function catalog (`compiler/src/functions/`) by `operators/tests/function_table.rs`; \
         do not edit by hand (`BLESS=1 cargo test -p oort-operators --test function_table` rewrites it).\n"
    );
    let _ = writeln!(out, "{done} of {} functions done.\n", sigs.len());
    let _ = writeln!(out, "| function | category | kind | arguments | state |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for s in &sigs {
        let args = match s.max_args {
            Some(m) if m == s.min_args => format!("{m}"),
            Some(m) => format!("{}–{m}", s.min_args),
            None => format!("{}+", s.min_args),
        };
        let kind = match s.kind {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Analytic => "analytic",
            FunctionKind::SetReturning => "set-returning",
            FunctionKind::Context => "context",
        };
        let state = if s.implemented { "done" } else { "not yet" };
        let _ = writeln!(out, "| `{}` | {:?} | {kind} | {args} | {state} |", s.name, s.category);
    }
    out
}

#[test]
fn functions_doc_is_generated_from_the_catalog() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/functions.md");
    let want = render();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/functions.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/functions.md is stale: run `BLESS=1 cargo test -p oort-operators --test function_table`"
    );
}

#[test]
fn every_catalogued_function_marked_done_can_run() {
    for s in all() {
        let engine = matches!(s.kind, FunctionKind::Context | FunctionKind::SetReturning);
        if s.implemented && !engine {
            assert!(
                oort_operators::functions::is_implemented(&s.name),
                "{} is marked done but has no implementation",
                s.name
            );
        }
    }
}
