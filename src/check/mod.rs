//! `oort check`: runs rule-vector files (eKuiper's end-to-end rule tests in
//! JSON) against the engine, deterministically, with a manual clock.
//!
//! Each case gets its own single-worker timely instance; its rule is compiled
//! and rendered by the same code as in the server (`compile_rule`,
//! `render::build`). The driver follows the vector README: the clock starts
//! at `clock_start`; for each input it first moves the clock to the input's
//! time — advancing the dataflow's inputs, so that every window due by then
//! fires, in order — then delivers the tuple and steps the dataflow until the
//! probe shows it fully processed. Event-time rules advance by watermark
//! instead: to just past `of_ms(watermark)`, so that windows ending at the
//! watermark fire and rows stamped at it are released, as in eKuiper; the
//! watermark is the minimum over the rule's streams (not its tables). Rows of
//! tables loaded at rule start are fed before any stream tuple. Nothing is
//! flushed after the last input.

pub mod compare;
pub mod vector;

use compare::{CompareMode, emissions_match};
use oort_compiler::catalog::{StreamDef, StreamKind};
use oort_compiler::plan::RulePlan;
use oort_operators::query::Emission;
use oort_operators::render;
use oort_operators::source::{Item, Payload, SourceRecord};
use oort_operators::time;
use oort_operators::value::{self, Value};
use serde_json::Value as Json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use vector::Case;

/// The verdict on one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// File it came from.
    pub file: PathBuf,
    /// Passed?
    pub passed: bool,
    /// For a failure: what was expected and what happened.
    pub detail: String,
}

/// Loads every case of the given files and directories (`*.json` files whose
/// top level is an array of cases; others, like a manifest, are skipped).
pub fn load(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Case)>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p.clone());
        }
    }
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let json: Json = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        let Json::Array(items) = json else { continue };
        for (i, item) in items.into_iter().enumerate() {
            let case: Case = serde_json::from_value(item).map_err(|e| format!("{} case #{i}: {e}", f.display()))?;
            cases.push((f.clone(), case));
        }
    }
    Ok(cases)
}

/// Runs cases and returns their verdicts.
pub fn run_cases(cases: Vec<(PathBuf, Case)>) -> Vec<CaseResult> {
    cases
        .into_iter()
        .map(|(file, case)| {
            let name = case.name.clone();
            let (passed, detail) = run_case(case);
            CaseResult { name, file, passed, detail }
        })
        .collect()
}

/// Runs one case: `(passed, detail)`.
pub fn run_case(case: Case) -> (bool, String) {
    let mode = CompareMode {
        unordered_rows: case.compare.as_deref() == Some("unordered_rows"),
        unordered_arrays: case.array_order_insignificant,
        error_match: match case.error_match.as_deref() {
            Some("contains") => 1,
            Some("any") => 2,
            _ => 0,
        },
    };
    let plan = match compile(&case) {
        Ok(p) => p,
        Err(e) if case.may_fail_validation => return (true, format!("refused at creation: {e}")),
        Err(e) => return (false, format!("rule refused: {e}")),
    };
    let inputs = case.inputs.clone();
    let clock_start = case.clock_start;
    let run = std::panic::catch_unwind(move || {
        timely::execute_directly(move |worker| drive(worker, plan, clock_start, inputs))
    });
    let actual = match run {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return (false, format!("rule could not run: {e}")),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return (false, format!("engine panicked: {msg}"));
        }
    };
    if emissions_match(&case.expected, &actual, mode) {
        (true, String::new())
    } else {
        (false, diff(&case.expected, &actual))
    }
}

fn compile(case: &Case) -> Result<RulePlan, String> {
    let mut catalog: BTreeMap<String, StreamDef> = BTreeMap::new();
    for ddl in &case.streams {
        let def = oort_compiler::parse_stream_ddl(ddl).map_err(|e| format!("{ddl}: {e}"))?;
        catalog.insert(def.name.clone(), def);
    }
    let options = crate::rule::options::parse(&case.rule.options)?;
    let mut plan = oort_compiler::compile_rule(&case.rule.sql, &catalog, options).map_err(|e| e.to_string())?;
    plan.rule_id = case.rule.id.clone();
    Ok(plan)
}

/// Feeds the inputs through a rule dataflow on this worker and returns its emissions as JSON.
fn drive(
    worker: &mut timely::worker::Worker,
    plan: RulePlan,
    clock_start: u64,
    inputs: Vec<vector::Input>,
) -> Result<Vec<Vec<Json>>, String> {
    let plan = Arc::new(plan);
    let out: Rc<RefCell<Vec<Emission>>> = Rc::new(RefCell::new(Vec::new()));
    let out2 = out.clone();
    let send_error = plan.options.send_error;
    let sink: render::SinkFn = Box::new(move |_t, batch| {
        out2.borrow_mut().extend(batch.drain(..).filter(|e| send_error || !matches!(e, Emission::Error(_))))
    });
    let built = worker.dataflow::<time::Time, _, _>(|scope| render::build(scope, plan.clone(), sink));
    let handles = built.map_err(|e| e.to_string())?;
    let mut rule_inputs = handles.inputs;
    let decoders = handles.decoders;
    let probe = handles.probe;
    let event_time = plan.options.is_event_time;
    let tolerance = plan.options.late_tolerance_ms;
    // The watermark is the minimum over the rule's streams (tables do not hold it back).
    let is_table: Vec<bool> = plan.sources.iter().map(|s| s.def.kind == StreamKind::Table).collect();
    let mut max_ts: Vec<Option<u64>> = is_table.iter().map(|t| if *t { None } else { Some(0) }).collect();
    let mut now = clock_start;
    let mut cur = if event_time { 0 } else { time::of_ms(now) };
    let advance = |rule_inputs: &mut Vec<render::RuleInput>, t: time::Time| {
        for i in rule_inputs.iter_mut() {
            if *i.time() < t {
                i.advance_to(t);
            }
        }
    };
    advance(&mut rule_inputs, cur);
    let settle = |worker: &mut timely::worker::Worker, cur: time::Time| {
        while probe.less_than(&cur) {
            worker.step();
        }
    };
    // The rule starts at `clock_start`: its processing-time windows align to it.
    settle(worker, cur);
    for input in table_rows_first(&plan, clock_start, inputs) {
        let Some(source) = plan.sources.iter().position(|s| s.def.name.eq_ignore_ascii_case(&input.stream)) else {
            continue;
        };
        if !event_time && input.ts > now {
            now = input.ts;
            cur = cur.max(time::of_ms(now));
            advance(&mut rule_inputs, cur);
            settle(worker, cur);
        }
        let data: value::Map = input.data.iter().map(|(k, v)| (k.clone(), value::from_json(v))).collect();
        let meta =
            input.meta.as_ref().map(|m| Arc::new(m.iter().map(|(k, v)| (k.clone(), value::from_json(v))).collect()));
        let rec = SourceRecord { payload: Payload::Object(Arc::new(data)), meta, ts: input.ts.max(now) };
        let item = decoders[source].decode(&rec);
        if event_time {
            if let Item::Row(r) = &item
                && let Some(seen) = max_ts[source]
            {
                if r.ts < watermark(&max_ts, tolerance) {
                    continue;
                }
                max_ts[source] = Some(seen.max(r.ts));
            }
            rule_inputs[source].send(item);
            // Everything at or before the watermark is complete: windows ending
            // at it fire and rows stamped with it are released.
            cur = (cur + 1).max(time::of_ms(watermark(&max_ts, tolerance)) + 1);
        } else {
            rule_inputs[source].send(item);
            cur += 1;
        }
        advance(&mut rule_inputs, cur);
        settle(worker, cur);
    }
    let emissions = out.borrow().iter().map(emission_json).collect();
    Ok(emissions)
}

/// Min over the streams of the largest event time seen (a stream without
/// tuples counts as 0), minus the late tolerance. Tables (`None`) do not count.
fn watermark(max: &[Option<u64>], tolerance: u64) -> u64 {
    max.iter().flatten().copied().min().unwrap_or(0).saturating_sub(tolerance)
}

/// The inputs in feeding order: rows of tables loaded when the rule starts
/// (listed at `clock_start` or before) come before any stream tuple, the rest
/// keep their order.
fn table_rows_first(plan: &RulePlan, clock_start: u64, inputs: Vec<vector::Input>) -> Vec<vector::Input> {
    let at_start = |i: &vector::Input| {
        i.ts <= clock_start
            && plan
                .sources
                .iter()
                .any(|s| s.def.kind == StreamKind::Table && s.def.name.eq_ignore_ascii_case(&i.stream))
    };
    let (mut first, rest): (Vec<_>, Vec<_>) = inputs.into_iter().partition(at_start);
    first.extend(rest);
    first
}

/// An emission as the vectors write it: a list of row objects, bytes as `{"$bytes_b64": …}`.
pub fn emission_json(e: &Emission) -> Vec<Json> {
    match e {
        Emission::Error(msg) => vec![serde_json::json!({ "error": msg.to_string() })],
        Emission::Rows(rows) | Emission::Delayed { rows, .. } => rows
            .iter()
            .map(|r| Json::Object(r.iter().map(|(k, v)| (k.to_string(), vector_json(v))).collect()))
            .collect(),
    }
}

fn vector_json(v: &Value) -> Json {
    match v {
        Value::Bytes(b) => serde_json::json!({ "$bytes_b64": value::base64_encode(b) }),
        Value::Array(a) => Json::Array(a.iter().map(vector_json).collect()),
        Value::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), vector_json(v))).collect()),
        other => value::to_json(other),
    }
}

fn diff(expected: &[Vec<Json>], actual: &[Vec<Json>]) -> String {
    let mut s = String::new();
    let n = expected.len().max(actual.len());
    for i in 0..n {
        let e = expected.get(i).map(|x| Json::Array(x.clone()).to_string());
        let a = actual.get(i).map(|x| Json::Array(x.clone()).to_string());
        let mark = if e == a { " " } else { "≠" };
        s.push_str(&format!(
            "  {mark} #{i}\n      expected: {}\n      actual:   {}\n",
            e.unwrap_or_else(|| "(none)".into()),
            a.unwrap_or_else(|| "(none)".into())
        ));
    }
    s
}

/// Runs the vectors under `paths`, prints failures and the closing line, and
/// returns `(passed, failed)` with the per-case results.
pub fn check(paths: &[PathBuf], verbose: bool) -> Result<(usize, usize, Vec<CaseResult>), String> {
    let results = run_cases(load(paths)?);
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = results.len() - passed;
    for r in &results {
        if !r.passed {
            println!("FAIL {} ({})\n{}", r.name, short(&r.file), r.detail);
        } else if verbose {
            println!("ok   {}", r.name);
        }
    }
    println!("check: {passed} passed, {failed} failed");
    Ok((passed, failed, results))
}

fn short(p: &Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}
