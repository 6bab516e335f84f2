//! `oort-bench`: measurements anyone can re-run, on the standard workload
//! of WORKLOAD.md.
//!
//! - `oort-bench run --query q1 --feed memory --workers 1 --events 2000000 [--json]`
//!   runs one query through the engine (in-process, from a file, or over
//!   MQTT) and the reference floor on the same input, and reports events/s,
//!   CPU seconds, peak RSS, output rows, the output checksum, the floor's
//!   events/s and the ratio. `--rate R` makes it a latency run (memory feed,
//!   paced at R events/s: Q1 arrival → sink, Q2/Q3 window close → result).
//!   Q5 takes `--rules` and `--seconds` and reports CPU % and RSS. A
//!   two-worker memory run also times two floor copies at once and two
//!   one-worker engines at once, each against one alone
//!   (`floor_two_cores_vs_one`, `engine_two_copies_vs_one`).
//! - `oort-bench idle` — CPU and RSS of idle rules; `oort-bench server` —
//!   the `oort` binary's start-to-ready time and idle RSS.
//! - `oort-bench all` runs everything (the in-process throughput runs in
//!   rounds, each configuration kept as its median round: `oort_bench::rounds`)
//!   and writes `benches/report/`
//!   (results.jsonl, REPORT.md, throughput.svg); `oort-bench report`
//!   rebuilds the page and chart from results.jsonl.
//! - `oort-bench gen OUT [N]` writes the workload (byte-identical to gen.py).

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use oort_bench::checksum::Checksum;
use oort_bench::engine::{self, EngineResult, Input, RunSpec};
use oort_bench::floor::{self, FloorResult};
use oort_bench::mqtt::{self, Broker};
use oort_bench::queries::{Feed, Query};
use oort_bench::sys::round;
use oort_bench::workload::{self, DEFAULT_EVENTS, Workload};
use oort_bench::{many_rules, report, rounds, server};
use serde_json::{Value as Json, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "oort-bench", about = "Oort benchmark harness (the standard IoT workload of WORKLOAD.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The query.
    #[arg(long, value_enum)]
    query: Query,
    /// Where events come from.
    #[arg(long, value_enum, default_value = "memory")]
    feed: Feed,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Events of the workload (Q5: taken from its start at --rate).
    #[arg(long, default_value_t = DEFAULT_EVENTS)]
    events: u64,
    /// Events per second: makes it a latency run (Q1, Q2, Q3; memory feed). Q5: the feed rate.
    #[arg(long)]
    rate: Option<u64>,
    /// Q5: installed rules.
    #[arg(long, default_value_t = 10_000)]
    rules: usize,
    /// Q5: seconds to feed.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// One JSON line per run on stdout (no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// One run: a query, a feed, a worker count.
    Run(RunArgs),
    /// CPU and memory of idle windowed rules.
    Idle {
        /// Installed rules.
        #[arg(long, default_value_t = 1000)]
        rules: usize,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Seconds to measure.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Window of every rule in seconds (`TUMBLINGWINDOW(ss, N)`); 0 = rules without a window.
        #[arg(long, default_value_t = 1)]
        window: u64,
    },
    /// Start-to-ready time and idle RSS of the `oort` server binary.
    Server {
        /// The binary (default: `oort` beside this one).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Every run; writes results.jsonl, REPORT.md and throughput.svg.
    All {
        /// Events of the throughput runs.
        #[arg(long, default_value_t = DEFAULT_EVENTS)]
        events: u64,
        /// Events of the MQTT runs (the broker moves ~10⁵ messages/s here).
        #[arg(long, default_value_t = 500_000)]
        mqtt_events: u64,
        /// Rules of the Q5 run.
        #[arg(long, default_value_t = 10_000)]
        q5_rules: usize,
        /// Rounds of the in-process throughput runs: each configuration runs
        /// this many times, one and two workers alternating, and the report
        /// keeps the median run with every round's figures (five: on a noisy
        /// host the median of three swung by a tenth between runs).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Where the report goes.
        #[arg(long, default_value = "benches/report")]
        out: PathBuf,
        /// Print each run's JSON line as it finishes (no progress bar).
        #[arg(long)]
        json: bool,
    },
    /// Rebuild REPORT.md and throughput.svg from results.jsonl.
    Report {
        /// The report folder.
        #[arg(long, default_value = "benches/report")]
        dir: PathBuf,
    },
    /// Write the workload as JSON lines (byte-identical to gen.py).
    Gen {
        /// Output path, `-` for stdout.
        out: PathBuf,
        /// Events.
        #[arg(default_value_t = DEFAULT_EVENTS)]
        events: u64,
    },
}

/// WORKLOAD.md's check figures for N = 2,000,000: `Some(true)` when the output matches them.
fn check_figures(query: Query, events: u64, c: &Checksum) -> Option<bool> {
    if events != DEFAULT_EVENTS {
        return None;
    }
    match query {
        Query::Q1 => Some(c.rows == 998_887),
        Query::Q2 => Some(c.rows == 199_993 && c.sum_c == 2_000_000 && c.sum_h == 18_080_848),
        Query::Q3 => Some(c.rows == 400_978 && c.sum_c == 4_000_000),
        _ => None,
    }
}

fn work_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("oort-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("etc"))?;
    Ok(dir)
}

fn make_input(events: u64, dir: &Path) -> Input {
    let demo = Arc::new(workload::generate(Workload::new(), events));
    let events2 = events / 10;
    let demo2 = Arc::new(workload::generate(Workload::demo2(), events2));
    Input::new(demo, events, demo2, events2, dir.to_path_buf())
}

fn floor_of(query: Query, input: &Input, rules: usize) -> FloorResult {
    floor::run(query, input.messages("demo"), input.messages("demo2"), rules)
}

/// How much two cores of this machine give over one, right now: the floor
/// run on two threads at once (each over the whole input, nothing shared)
/// against the floor alone, timed just before and just after (the machine's
/// speed drifts). A yardstick for the two-worker run, not a ceiling: that run
/// is timed at another moment, and its workers hold half the keys' state each.
fn floor_pair_of(query: Query, input: &Input, before: &FloorResult) -> Option<f64> {
    let runs: Vec<FloorResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| floor_of(query, input, 0))).collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let after = floor_of(query, input, 0);
    let slowest = runs.iter().map(|r| r.secs).fold(0.0, f64::max);
    let alone = (before.events_per_sec() + after.events_per_sec()) / 2.0;
    (runs.len() == 2 && slowest > 0.0 && alone > 0.0).then(|| {
        let pair = (runs[0].events + runs[1].events) as f64 / slowest;
        pair / alone
    })
}

/// What two workers could give, in the engine, on this machine right now:
/// two one-worker engines run side by side, each over the whole input with
/// its own feed and sink (nothing crosses between them; they start feeding
/// together), against one such engine alone just before. A split of one
/// rule over two workers does that work plus its own crossing, so it comes
/// near this at best (a little above it is possible: each of its workers
/// holds only half the keys' state).
fn engine_pair_of(spec: RunSpec, input: &Input) -> Option<f64> {
    let one = RunSpec { workers: 1, ..spec };
    let alone = engine::run(one, input, None, false).ok().filter(|r| r.complete)?;
    let gate = std::sync::Barrier::new(2);
    let runs: Vec<EngineResult> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..2).map(|_| s.spawn(|| engine::run_gated(one, input, None, false, Some(&gate)))).collect();
        handles.into_iter().filter_map(|h| h.join().ok()?.ok()).filter(|r| r.complete).collect()
    });
    let [a, b] = runs.as_slice() else { return None };
    // From the first feed's start to the last result out of either.
    let secs = a.span.1.max(b.span.1).saturating_duration_since(a.span.0.min(b.span.0)).as_secs_f64();
    (secs > 0.0).then(|| ((a.events + b.events) as f64 / secs) / alone.events_per_sec().max(1e-9))
}

fn progress_wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A throughput or latency run with its floor (and broker pair for MQTT).
fn measured_run(
    spec: RunSpec,
    input: &Input,
    floor: &FloorResult,
    broker: Option<&Broker>,
    bar: bool,
) -> anyhow::Result<Json> {
    // The broker's ceiling is measured before and after the engine's run (the machine is shared).
    let ceiling_runs = |b: &Broker| -> anyhow::Result<(mqtt::PairResult, Option<Result<mqtt::PairResult, String>>)> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let pair = rt.block_on(mqtt::broker_pair(b, input.demo.clone(), input.events)).map_err(|e| anyhow!(e))?;
        let file = input.file("demo")?;
        let mosq = rt.block_on(mqtt::mosquitto_pub_pair(b, &file, input.events));
        Ok((pair, mosq))
    };
    let before = match (spec.feed, broker) {
        (Feed::Mqtt, Some(b)) => Some(ceiling_runs(b)?),
        _ => None,
    };
    let r = engine::run(spec, input, broker, bar)?;
    let after = match (spec.feed, broker) {
        (Feed::Mqtt, Some(b)) => Some(ceiling_runs(b)?),
        _ => None,
    };
    let eps = r.events_per_sec();
    let floor_eps = floor.events_per_sec();
    let c = &r.checksum;
    let mut rec = json!({
        "kind": if spec.rate.is_some() { "latency" } else { "throughput" },
        "query": spec.query.name(),
        "feed": spec.feed.name(),
        "workers": spec.workers,
        "events": r.events,
        "events_per_sec": round(eps, 0),
        "secs": round(r.secs, 3),
        "cpu_s": round(r.cpu_s, 2),
        "events_per_cpu_s": round(r.events as f64 / r.cpu_s.max(1e-9), 0),
        "peak_rss_mb": round(r.peak_rss_mb, 1),
        "base_rss_mb": round(r.base_rss_mb, 1),
        "rows": c.rows,
        "checksum": c.hex(),
        "sum_c": c.sum_c,
        "sum_h": c.sum_h,
        "late": r.late,
        "exceptions": r.exceptions,
        "complete": r.complete,
        "floor_events_per_sec": round(floor_eps, 0),
        "floor_rows": floor.checksum.rows,
        "floor_checksum": floor.checksum.hex(),
        "ratio_to_floor": round(eps / floor_eps.max(1e-9), 3),
        "matches_floor": floor.checksum == *c,
        "check_figures": check_figures(spec.query, r.events, c),
    });
    if let Some(rate) = spec.rate {
        rec["rate"] = json!(rate);
    }
    if let Some(h) = &r.latency {
        rec["samples"] = json!(h.len());
        rec["p50_us"] = json!(h.value_at_quantile(0.50));
        rec["p90_us"] = json!(h.value_at_quantile(0.90));
        rec["p99_us"] = json!(h.value_at_quantile(0.99));
        rec["p999_us"] = json!(h.value_at_quantile(0.999));
        rec["max_us"] = json!(h.max());
    }
    if let Some(b) = broker
        && spec.feed == Feed::Mqtt
    {
        // The ceiling is the fastest complete plain pair (the stricter comparison).
        let complete = |p: &mqtt::PairResult| p.received == input.events;
        let rumqttc: Vec<mqtt::PairResult> = before.iter().chain(after.iter()).map(|(p, _)| *p).collect();
        let mosquitto: Vec<&Result<mqtt::PairResult, String>> =
            before.iter().chain(after.iter()).filter_map(|(_, m)| m.as_ref()).collect();
        let best =
            |v: &[mqtt::PairResult]| v.iter().filter(|p| complete(p)).map(|p| p.per_sec()).fold(f64::NAN, f64::max);
        let rumqttc_best = best(&rumqttc);
        let mosq_ok: Vec<mqtt::PairResult> = mosquitto.iter().filter_map(|m| m.as_ref().ok().copied()).collect();
        let mosq_best = best(&mosq_ok);
        rec["broker"] = json!(b.description);
        rec["rumqttc_pair_events_per_sec"] = json!(rumqttc.iter().map(|p| round(p.per_sec(), 0)).collect::<Vec<_>>());
        rec["rumqttc_pair_received"] = json!(rumqttc.iter().map(|p| p.received).collect::<Vec<_>>());
        rec["mosquitto_pub_pair_events_per_sec"] =
            json!(mosq_ok.iter().map(|p| round(p.per_sec(), 0)).collect::<Vec<_>>());
        rec["mosquitto_pub_pair_received"] = json!(mosq_ok.iter().map(|p| p.received).collect::<Vec<_>>());
        if let Some(Err(e)) = mosquitto.iter().find(|m| m.is_err()) {
            rec["mosquitto_pub_pair_error"] = json!(e);
        } else if mosquitto.is_empty() {
            rec["mosquitto_pub_pair_error"] = json!("mosquitto_pub is not installed");
        }
        let ceiling = rumqttc_best.max(mosq_best);
        rec["broker_pair_events_per_sec"] = json!(round(ceiling, 0));
        rec["ratio_to_broker"] = json!(round(eps / ceiling, 3));
    }
    Ok(rec)
}

fn q5_record(workers: usize, rules: usize, rate: u64, seconds: u64) -> anyhow::Result<Json> {
    let messages = workload::Messages::frame(Arc::new(workload::generate(Workload::new(), rate * seconds)));
    let floor = floor::q5(messages.iter(), rules);
    let r = many_rules::run_q5(workers, rules, rate, seconds, messages.data())?;
    // Only the events actually fed count for the floor's rows.
    let floor_fed = floor::q5(messages.iter().take(r.events as usize), rules);
    let floor_eps = floor.events_per_sec();
    Ok(json!({
        "kind": "many_rules",
        "query": "q5",
        "feed": "memory",
        "workers": workers,
        "rules": rules,
        "rate": rate,
        "events": r.events,
        "events_per_sec": round(r.events_per_sec, 1),
        "secs": round(r.secs, 2),
        "install_s": round(r.install_s, 2),
        "cpu_s": round(r.cpu_s, 2),
        "cpu_percent": round(r.cpu_percent, 1),
        "rss_mb": round(r.rss_mb, 1),
        "peak_rss_mb": round(r.peak_rss_mb, 1),
        "base_rss_mb": round(r.base_rss_mb, 1),
        "rows": r.checksum.rows,
        "records_out": r.records_out,
        "complete": r.complete,
        "checksum": r.checksum.hex(),
        "floor_events_per_sec": round(floor_eps, 0),
        "floor_cpu_percent_at_rate": round(rate as f64 / floor_eps.max(1e-9) * 100.0, 3),
        "floor_rows": floor_fed.checksum.rows,
        "floor_checksum": floor_fed.checksum.hex(),
        "matches_floor": floor_fed.checksum == r.checksum,
        "ratio_to_floor": Json::Null,
    }))
}

fn idle_record(workers: usize, rules: usize, seconds: u64, window_s: u64) -> anyhow::Result<Json> {
    let r = many_rules::run_idle(workers, rules, seconds, window_s)?;
    Ok(json!({
        "kind": "idle_rules",
        "window_s": window_s,
        "workers": workers,
        "rules": r.rules,
        "install_s": round(r.install_s, 2),
        "secs": round(r.secs, 2),
        "cpu_percent": round(r.cpu_percent, 2),
        "rss_mb": round(r.rss_mb, 1),
        "base_rss_mb": round(r.base_rss_mb, 1),
    }))
}

fn server_record(binary: Option<PathBuf>, dir: &Path) -> Json {
    let Some(bin) = binary.or_else(server::find_binary) else {
        return json!({"kind": "skipped", "what": "server footprint",
            "reason": "no oort binary beside oort-bench (cargo build --release -p oort --bin oort)"});
    };
    match server::measure(&bin, dir, Duration::from_secs(3)) {
        Ok(r) => json!({
            "kind": "server",
            "binary": shown_path(&r.binary),
            "ready_ms": round(r.median_ready_ms(), 1),
            "ready_ms_starts": r.ready_ms.iter().map(|m| round(*m, 1)).collect::<Vec<_>>(),
            "idle_rss_mb": round(r.idle_rss_mb, 1),
        }),
        Err(e) => json!({"kind": "skipped", "what": "server footprint", "reason": e.to_string()}),
    }
}

/// A path relative to the current folder when it is under it.
fn shown_path(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|d| p.strip_prefix(d).ok().map(Path::to_path_buf));
    rel.unwrap_or_else(|| p.to_path_buf()).display().to_string()
}

fn print_record(rec: &Json, json_lines: bool) {
    if json_lines {
        println!("{rec}");
    } else {
        println!("{}", serde_json::to_string_pretty(rec).unwrap_or_default());
    }
}

fn run_one(a: RunArgs) -> anyhow::Result<()> {
    if a.query == Query::Q5 {
        let rec = q5_record(a.workers, a.rules, a.rate.unwrap_or(1000), a.seconds)?;
        print_record(&rec, a.json);
        return Ok(());
    }
    if a.rate.is_some() && a.feed != Feed::Memory {
        return Err(anyhow!("latency runs (--rate) use the memory feed"));
    }
    let dir = work_dir()?;
    let result = run_in(&a, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(a: &RunArgs, dir: &Path) -> anyhow::Result<()> {
    let input = make_input(a.events, dir);
    let floor = floor_of(a.query, &input, 0);
    // Scaling runs also measure what two cores give on this machine now.
    let scaling = a.workers > 1 && a.rate.is_none() && a.feed == Feed::Memory;
    let two_cores = scaling.then(|| floor_pair_of(a.query, &input, &floor)).flatten();
    let broker = match a.feed {
        Feed::Mqtt => Some(mqtt::start_broker(dir).map_err(|e| anyhow!("MQTT unavailable: {e}"))?),
        _ => None,
    };
    let spec = RunSpec { query: a.query, feed: a.feed, workers: a.workers, rate: a.rate };
    let mut rec = measured_run(spec, &input, &floor, broker.as_ref(), progress_wanted(a.json))?;
    if let Some(x) = two_cores {
        rec["floor_two_cores_vs_one"] = json!(round(x, 2));
    }
    if let Some(e) = scaling.then(|| engine_pair_of(spec, &input)).flatten() {
        rec["engine_two_copies_vs_one"] = json!(round(e, 2));
    }
    print_record(&rec, a.json);
    Ok(())
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores ({cpu})")
}

/// One measurement in a fresh process (`oort-bench <args> --json`), so that
/// each run's RSS and CPU are its own; its last stdout line is the record.
fn child_run(args: &[String]) -> Json {
    let what = args.join(" ");
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return json!({"kind": "skipped", "what": what, "reason": e.to_string()}),
    };
    match std::process::Command::new(exe).args(args).stdin(std::process::Stdio::null()).output() {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.lines().rev().find_map(|l| serde_json::from_str::<Json>(l).ok()) {
                Some(rec) if out.status.success() => rec,
                _ => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let reason = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string();
                    json!({"kind": "skipped", "what": what, "reason": reason})
                }
            }
        }
        Err(e) => json!({"kind": "skipped", "what": what, "reason": e.to_string()}),
    }
}

/// What `oort-bench all` runs.
struct AllArgs {
    events: u64,
    mqtt_events: u64,
    q5_rules: usize,
    rounds: usize,
}

fn run_all(a: AllArgs, out: &Path, json_lines: bool) -> anyhow::Result<()> {
    let AllArgs { events, mqtt_events, q5_rules, rounds } = a;
    let rounds = rounds.max(1);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let dir = work_dir()?;
    let args = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let (n, m, rules) = (events.to_string(), mqtt_events.to_string(), q5_rules.to_string());
    let plan: Vec<Vec<String>> = vec![
        args(&["idle", "--rules", "1000", "--workers", "2", "--seconds", "10"]),
        args(&[
            "run",
            "--query",
            "q5",
            "--workers",
            "2",
            "--rules",
            &rules,
            "--rate",
            "1000",
            "--seconds",
            "10",
            "--json",
        ]),
        args(&["run", "--query", "q1", "--workers", "1", "--rate", "10000", "--events", "50000", "--json"]),
        args(&["run", "--query", "q2", "--workers", "1", "--rate", "20000", "--events", "200000", "--json"]),
    ];
    // In-process throughput: one and two workers of each query, run in rounds.
    let queries = ["q1", "q2", "q3", "q4"];
    let scaling =
        |q: &str, w: &str| args(&["run", "--query", q, "--feed", "memory", "--workers", w, "--events", &n, "--json"]);
    let mut once_after: Vec<Vec<String>> = Vec::new();
    for q in ["q1", "q2"] {
        once_after.push(args(&["run", "--query", q, "--feed", "file", "--workers", "1", "--events", &n, "--json"]));
    }
    once_after.push(args(&["run", "--query", "q1", "--feed", "mqtt", "--workers", "1", "--events", &m, "--json"]));
    let total = plan.len() + rounds * queries.len() * 2 + once_after.len();

    let bar = progress_wanted(json_lines).then(|| {
        let b = indicatif::ProgressBar::new(total as u64 + 1);
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_prefix("oort-bench all");
        b
    });
    let started = std::time::Instant::now();
    // Each finished measurement: printed (--json) and counted on the bar.
    let done = |rec: Json| {
        if json_lines {
            println!("{rec}");
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
        rec
    };
    let run = |a: &[String]| {
        if let Some(b) = &bar {
            b.set_message(a.join(" "));
        }
        done(child_run(a))
    };
    if let Some(b) = &bar {
        b.set_message("server footprint");
    }
    let mut records: Vec<Json> = vec![done(server_record(None, &dir))];
    records.extend(plan.iter().map(|a| run(a)));
    // Per query, per worker count (1, 2): its runs in round order.
    let mut scaling_runs: Vec<[Vec<Json>; 2]> = vec![[Vec::new(), Vec::new()]; queries.len()];
    for _ in 0..rounds {
        for (q, by_workers) in queries.iter().zip(scaling_runs.iter_mut()) {
            for (w, runs) in ["1", "2"].iter().zip(by_workers.iter_mut()) {
                runs.push(run(&scaling(q, w)));
            }
        }
    }
    for [one, two] in scaling_runs {
        let speedups = rounds::speedups(&one, &two);
        records.extend(rounds::combine(one));
        if let Some(mut two) = rounds::combine(two) {
            if !speedups.is_empty() {
                two["vs_one_worker_by_round"] = json!(speedups);
            }
            records.push(two);
        }
    }
    records.extend(once_after.iter().map(|a| run(a)));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(out.join("results.jsonl"), text)?;
    let header = format!(
        "Measured by `cargo run --release -p oort-bench -- all --events {events}` on {} in {:.0} s, \
         {} events per throughput run ({} over MQTT), each run in its own process; the in-process runs in {} \
         rounds, one and two workers alternating, each row the median round. CPU seconds count the whole \
         process (engine workers, the harness's feeder and sink); on a machine shared with other work, \
         events per CPU second is the steadier figure.",
        machine_line(),
        started.elapsed().as_secs_f64(),
        events,
        mqtt_events,
        rounds
    );
    write_report(&records, out, &header)?;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("wrote {0}/results.jsonl, {0}/REPORT.md and {0}/throughput.svg", out.display());
    Ok(())
}

fn write_report(records: &[Json], out: &Path, header: &str) -> anyhow::Result<()> {
    std::fs::write(out.join("REPORT.md"), report::markdown(records, header))?;
    report::chart(records, &out.join("throughput.svg"))?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(a) => run_one(a),
        Command::Idle { rules, workers, seconds, window } => {
            print_record(&idle_record(workers, rules, seconds, window)?, true);
            Ok(())
        }
        Command::Server { binary } => {
            let dir = work_dir()?;
            print_record(&server_record(binary, &dir), true);
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Command::All { events, mqtt_events, q5_rules, rounds, out, json } => {
            run_all(AllArgs { events, mqtt_events, q5_rules, rounds }, &out, json)
        }
        Command::Report { dir } => {
            let text = std::fs::read_to_string(dir.join("results.jsonl"))?;
            let records: Vec<Json> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
            let old = std::fs::read_to_string(dir.join("REPORT.md")).unwrap_or_default();
            let header = old.lines().nth(2).unwrap_or("").to_string();
            write_report(&records, &dir, &header)
        }
        Command::Gen { out, events } => {
            if out.as_os_str() == "-" {
                let stdout = std::io::stdout();
                let mut lock = std::io::BufWriter::new(stdout.lock());
                workload::write_to(&mut lock, events)?;
            } else {
                let mut f = std::io::BufWriter::new(std::fs::File::create(&out)?);
                workload::write_to(&mut f, events)?;
            }
            Ok(())
        }
    }
}
