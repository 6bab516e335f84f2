//! `oort-bench`: measurements anyone can re-run.
//!
//! `oort-bench idle --rules 1000 --workers 2 --seconds 10` installs that many
//! windowed rules with no data and reports the process's CPU use and RSS
//! while they sit idle (the cost of an idle rule should be nothing between
//! window boundaries).
//!
//! `oort-bench window --records 10000000 --workers 2` feeds the standard
//! workload (WORKLOAD.md: splitmix64 seed 42, 1,000 keys, ts +1 ms per event),
//! generated batch by batch in memory, through Q2 — `SELECT deviceId,
//! COUNT(*) AS c, AVG(temperature) AS t, MAX(humidity) AS h FROM demo GROUP BY
//! deviceId, TUMBLINGWINDOW(ss, 10)` in event time — over a `TYPE="mock"`
//! stream into a memory sink drained by a counting task. It prints one JSON
//! line: records/s (first record in to last result out, generation
//! included), peak RSS (VmHWM), RSS sampled every half second (flat when
//! closed windows are freed), and check figures (rows, sum of counts, sum of
//! `MAX(humidity)`; for 2,000,000 records WORKLOAD.md gives 199,993 rows,
//! 2,000,000 and 18,080,848).

use clap::{Parser, Subcommand};
use oort::connectors::{ConnectorEnv, memory::MemoryBus};
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::Value;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "oort-bench", about = "Oort benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CPU and memory of a server holding idle rules.
    Idle {
        /// Number of installed rules.
        #[arg(long, default_value_t = 1000)]
        rules: usize,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Seconds to measure.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Window of every rule, in seconds (`TUMBLINGWINDOW(ss, N)`); 0 = rules without a window.
        #[arg(long, default_value_t = 1)]
        window: u64,
    },
    /// Throughput and memory of Q2 (10 s tumbling window GROUP BY deviceId, event time).
    Window {
        /// Number of records.
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Records per batch handed to the rule.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
    },
}

/// The standard workload's generator (WORKLOAD.md): event `i` as a JSON line without the newline.
struct Workload {
    state: u64,
}

impl Workload {
    fn new() -> Self {
        Self { state: 42 }
    }

    fn draw(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn event(&mut self, i: u64) -> String {
        let (a, b, c) = (self.draw(), self.draw(), self.draw());
        let t = b % 10_001;
        format!(
            "{{\"deviceId\":\"d{}\",\"temperature\":{}.{:02},\"humidity\":{},\"ts\":{}}}",
            a % 1000,
            t / 100,
            t % 100,
            c % 101,
            1_700_000_000_000 + i
        )
    }
}

fn record(line: String, ts: u64) -> SourceRecord {
    SourceRecord { payload: Payload::Bytes(Arc::from(line.into_bytes().into_boxed_slice())), meta: None, ts }
}

/// Peak resident set size in MB (`/proc/self/status` VmHWM).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

async fn window_bench(records: u64, workers: usize, batch: u64) -> anyhow::Result<serde_json::Value> {
    let clock = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers }, clock.clone())?);
    let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()));
    let mgr = RuleManager::new(runtime.clone(), env, clock);
    mgr.create_stream(
        r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, humidity BIGINT, ts BIGINT) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="JSON", TIMESTAMP="ts")"#,
    )?;
    let mut out = mgr.env().memory.subscribe("bench-out", 100_000);
    // Count results as they come: rows, sum of counts, sum of MAX(humidity), time of the last one.
    let counter = tokio::spawn(async move {
        let (mut rows, mut count, mut hum) = (0u64, 0i64, 0i64);
        let mut last = Instant::now();
        while let Ok(Some((_, m))) = tokio::time::timeout(Duration::from_secs(3), out.recv()).await {
            rows += 1;
            if let Some(Value::Int(c)) = m.get("c") {
                count += c;
            }
            if let Some(Value::Int(h)) = m.get("h") {
                hum += h;
            }
            last = Instant::now();
        }
        (rows, count, hum, last)
    });
    let action = json!({"memory": {"topic": "bench-out", "sendSingle": true}});
    let options = json!({"isEventTime": true, "lateTolerance": "60s", "bufferLength": 8});
    mgr.create_rule(RuleDef {
        id: "q2".into(),
        sql: "SELECT deviceId, COUNT(*) AS c, AVG(temperature) AS t, MAX(humidity) AS h FROM demo \
              GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)"
            .into(),
        actions: vec![action.as_object().cloned().unwrap_or_default()],
        options: options.as_object().cloned().unwrap_or_default(),
    })?;
    let feed = mgr.feed("q2", "demo").ok_or_else(|| anyhow::anyhow!("no feed"))?;
    let metrics = mgr.metrics("q2").ok_or_else(|| anyhow::anyhow!("no metrics"))?;
    // Sample RSS while the run goes on.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let t0 = Instant::now();
    let sampler = {
        let (sampling, metrics) = (sampling.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                samples.push(json!({
                    "s": round1(t0.elapsed().as_secs_f64()),
                    "records_in": metrics.records_in.load(Ordering::Relaxed),
                    "rss_mb": round1(rss_mb()),
                }));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            samples
        })
    };
    let mut workload = Workload::new();
    let mut i = 0;
    while i < records {
        let n = batch.min(records - i);
        let recs: Vec<SourceRecord> = (i..i + n).map(|j| record(workload.event(j), 1_700_000_000_000 + j)).collect();
        feed.send(recs).await?;
        i += n;
    }
    while metrics.records_in.load(Ordering::Relaxed) < records {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // One record far ahead moves the watermark past every window of the run.
    let last_ts = 1_700_000_000_000 + records + 60_000;
    let closer = format!(r#"{{"deviceId":"close","temperature":0.0,"humidity":0,"ts":{last_ts}}}"#);
    feed.send(vec![record(closer, last_ts)]).await?;
    let (rows, count, hum, last) = counter.await?;
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await?;
    let wall = last.duration_since(t0).as_secs_f64();
    let report = json!({
        "bench": "window", "query": "Q2", "records": records, "workers": workers, "batch": batch,
        "wall_s": (wall * 1000.0).round() / 1000.0,
        "records_per_s": (records as f64 / wall).round(),
        "peak_rss_mb": round1(peak_rss_mb()),
        "rows": rows, "sum_count": count, "sum_max_humidity": hum,
        "late": metrics.late.load(Ordering::Relaxed),
        "rss_samples": samples,
    });
    mgr.stop_all();
    runtime.shutdown();
    Ok(report)
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size in MB (`/proc/self/status` VmRSS).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Window { records, workers, batch } => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let report = rt.block_on(window_bench(records, workers, batch.max(1)))?;
            println!("{report}");
            Ok(())
        }
        Command::Idle { rules, workers, seconds, window } => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(async move {
                let clock = Arc::new(SystemClock);
                let runtime = Arc::new(Runtime::start(RuntimeConfig { workers }, clock.clone())?);
                let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()));
                let mgr = RuleManager::new(runtime.clone(), env, clock);
                mgr.create_stream(
                    r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT) WITH (DATASOURCE="demo", TYPE="mock")"#,
                )?;
                let t0 = Instant::now();
                for i in 0..rules {
                    let sql = if window > 0 {
                        format!(
                            "SELECT deviceId, avg(temperature) FROM demo WHERE deviceId = \"d{}\" GROUP BY deviceId, TUMBLINGWINDOW(ss, {window})",
                            i % 1000
                        )
                    } else {
                        format!("SELECT * FROM demo WHERE deviceId = \"d{}\"", i % 1000)
                    };
                    let action = json!({"nop": {}});
                    mgr.create_rule(RuleDef {
                        id: format!("r{i}"),
                        sql,
                        actions: vec![action.as_object().cloned().unwrap_or_default()],
                        options: Default::default(),
                    })?;
                }
                let install = t0.elapsed();
                // Let installation settle, then measure.
                tokio::time::sleep(Duration::from_secs(2)).await;
                let (c0, w0) = (cpu_seconds(), Instant::now());
                tokio::time::sleep(Duration::from_secs(seconds)).await;
                let (c1, wall) = (cpu_seconds(), w0.elapsed().as_secs_f64());
                let cpu_pct = (c1 - c0) / wall * 100.0;
                let report = json!({
                    "bench": "idle", "rules": rules, "workers": workers, "window_s": window,
                    "install_s": install.as_secs_f64(), "measured_s": wall,
                    "cpu_percent_of_one_core": (cpu_pct * 10.0).round() / 10.0,
                    "rss_mb": (rss_mb() * 10.0).round() / 10.0,
                });
                println!("{report}");
                mgr.stop_all();
                runtime.shutdown();
                anyhow::Ok(())
            })
        }
    }
}
