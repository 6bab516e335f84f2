//! Component micro-benchmarks (criterion), so a regression shows up in the
//! part that regressed: JSON decode into rows, WHERE + SELECT evaluation,
//! keyed window aggregation, and one call into a function plugin.
//! Inputs are the standard workload's events (WORKLOAD.md).
//!
//! `cargo bench -p oort-bench` (add a filter such as `decode` to run one group).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use oort_bench::queries::{Query, StreamSource, stream_ddl};
use oort_bench::workload::{self, Workload};
use oort_compiler::catalog::StreamDef;
use oort_compiler::plan::{RuleOptions, RulePlan};
use oort_operators::query::{Emission, RowQuery};
use oort_operators::render;
use oort_operators::source::{Item, Payload, SourceDecoder, SourceRecord};
use oort_operators::time::{self, Time};
use oort_operators::value::RowDecoder;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const EVENTS: usize = 10_000;

fn plan(query: Query, event_time: bool) -> RulePlan {
    let mut catalog: BTreeMap<String, StreamDef> = BTreeMap::new();
    for name in query.streams() {
        let def = oort_compiler::parse_stream_ddl(&stream_ddl(name, &StreamSource::Mock)).expect("workload DDL parses");
        catalog.insert(def.name.clone(), def);
    }
    let opts = RuleOptions { is_event_time: event_time, late_tolerance_ms: 0, ..Default::default() };
    oort_compiler::compile_rule(&query.sql(0), &catalog, opts).expect("workload query compiles")
}

fn records() -> Vec<SourceRecord> {
    let data = workload::generate(Workload::new(), EVENTS as u64);
    workload::lines(&data)
        .map(|l| SourceRecord { payload: Payload::Bytes(bytes::Bytes::copy_from_slice(l)), meta: None, ts: 0 })
        .collect()
}

fn decoder(plan: &RulePlan) -> SourceDecoder {
    let used = oort_operators::plan_exprs::referenced_slots(plan);
    let mut d = SourceDecoder::new(&plan.sources[0], plan.width, plan.options.is_event_time);
    d.restrict_to(&used);
    d
}

fn decode(c: &mut Criterion) {
    let recs = records();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(recs.len() as u64));
    let q1 = plan(Query::Q1, false);
    let names: Vec<String> = q1.sources[0].slots.iter().map(|s| s.name.clone()).collect();
    let rows = RowDecoder::new(&names, 0, q1.sources[0].rest_slot, q1.width);
    g.bench_function("row_decoder_all_fields", |b| {
        b.iter(|| {
            for r in &recs {
                if let Payload::Bytes(bytes) = &r.payload {
                    black_box(rows.decode(bytes).ok());
                }
            }
        })
    });
    let q1_decoder = decoder(&q1);
    g.bench_function("source_decoder_q1_fields", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(q1_decoder.decode(r));
            }
        })
    });
    g.finish();
}

fn evaluate(c: &mut Criterion) {
    let recs = records();
    let q1 = Arc::new(plan(Query::Q1, false));
    let d = decoder(&q1);
    let items: Vec<Item> = recs.iter().map(|r| d.decode(r)).collect();
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(items.len() as u64));
    g.bench_function("q1_where_and_select", |b| {
        let mut query = RowQuery::new(q1.clone()).expect("Q1 renders as a row query");
        let mut out: Vec<Emission> = Vec::with_capacity(items.len());
        b.iter(|| {
            for item in &items {
                query.process(item, &mut out);
            }
            black_box(out.len());
            out.clear();
        })
    });
    g.finish();
}

/// Q2's whole dataflow (event time, 10 s tumbling, GROUP BY deviceId) on one
/// timely worker over decoded rows: the keyed window aggregation and its emission.
fn window(c: &mut Criterion) {
    let n = 100_000u64;
    let data = workload::generate(Workload::new(), n);
    let q2 = Arc::new(plan(Query::Q2, true));
    let d = decoder(&q2);
    let items: Vec<Item> = workload::lines(&data)
        .map(|l| {
            d.decode(&SourceRecord { payload: Payload::Bytes(bytes::Bytes::copy_from_slice(l)), meta: None, ts: 0 })
        })
        .collect();
    let last_ms = workload::T0_MS + n + 60_000;
    let mut g = c.benchmark_group("window");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    // A single-thread worker built here (execute_directly wants a Send closure, criterion's group is not).
    let alloc = timely::communication::Allocator::Thread(timely::communication::allocator::Thread::default());
    let mut worker =
        timely::worker::Worker::new(timely::WorkerConfig::default(), alloc, Some(std::time::Instant::now()));
    let worker = &mut worker;
    {
        g.bench_function("q2_tumbling_group_by_1000_keys", |b| {
            b.iter_batched(
                || items.clone(),
                |batch| {
                    let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let counted = rows.clone();
                    let sink: render::SinkFn = Box::new(move |_t, es| {
                        for e in es.drain(..) {
                            if let Emission::Rows(r) = e {
                                counted.fetch_add(r.len() as u64, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    });
                    let index = worker.next_dataflow_index();
                    let handles = worker
                        .dataflow::<Time, _, _>(|scope| render::build(scope, q2.clone(), sink))
                        .expect("Q2 renders");
                    let mut inputs = handles.inputs;
                    let input = &mut inputs[0];
                    for chunk in batch.chunks(1024) {
                        for item in chunk {
                            input.send(item.clone());
                        }
                        worker.step();
                    }
                    input.advance_to(time::of_ms(last_ms));
                    drop(inputs);
                    while !handles.probe.done() {
                        worker.step();
                    }
                    worker.drop_dataflow(index);
                    black_box(rows.load(std::sync::atomic::Ordering::Relaxed))
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

/// The echo function plugin: `target/release/libecho_function.so` when it
/// is built, else built here into cargo's bench scratch folder.
fn echo_library() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("libecho_function.so");
        if p.is_file() {
            return Some(p);
        }
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "--release", "-p", "oort-plugin-example-echo-function"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .ok()?;
    let p = target.join("release/libecho_function.so");
    (status.success() && p.is_file()).then_some(p)
}

fn plugin(c: &mut Criterion) {
    let Some(lib) = echo_library() else {
        println!("plugin/echo_call skipped: the echo_function plugin could not be built");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-loaded-bench");
    let loaded = match oort_plugin_host::Loader::new(dir).load(&lib) {
        Ok(p) => p,
        Err(e) => {
            println!("plugin/echo_call skipped: {e}");
            return;
        }
    };
    let echo = match loaded.new_function("echo") {
        Ok(f) => f,
        Err(e) => {
            println!("plugin/echo_call skipped: {e}");
            return;
        }
    };
    let arg = [serde_json::json!({"deviceId": "d7", "temperature": 50.5})];
    let mut g = c.benchmark_group("plugin");
    g.throughput(Throughput::Elements(1));
    g.bench_function("echo_call", |b| b.iter(|| black_box(echo.exec("bench", 0, black_box(&arg)).ok())));
    g.finish();
}

criterion_group!(components, decode, evaluate, window, plugin);
criterion_main!(components);
