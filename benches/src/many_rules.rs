//! Rule-count scaling (Q5) and the cost of idle rules, through the
//! [`RuleManager`] as the server runs rules: every rule compiled, installed
//! on every worker and given its sink driver.
//!
//! Q5 installs `rules` rules `SELECT * FROM demo WHERE deviceId = "d<i mod
//! 1000>" AND temperature > <i mod 100>` over one `TYPE="mock"` stream, each
//! with a memory sink publishing to one topic that the harness reads and
//! checksums (rows arrive as maps, so their fields are in name order). It
//! then feeds the rules the workload at `rate` events/s — a batch every
//! 100 ms, handed once to each distinct feed, as the stream's source does
//! (stateless rules over one stream share one stream group and its feed:
//! the record is decoded once and offered to the rules whose WHERE can
//! hold) — for `seconds`, and reports the process's CPU use (percent of one core)
//! and RSS. Rules use `bufferLength` 8, so a rule that falls behind holds
//! its feeder back instead of queueing input without bound.
//!
//! The idle measurement installs `rules` windowed rules
//! (`TUMBLINGWINDOW(ss, 1)`, the case that needs timers) with `nop` sinks,
//! lets installation settle, and reports CPU use and RSS while nothing comes.

use crate::checksum::{Checksum, RowWriter};
use crate::sys::{cpu_seconds, rss_mb};
use crate::workload::lines;
use anyhow::anyhow;
use oort::connectors::{ConnectorEnv, memory::MemoryBus};
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::{Clock, SystemClock};
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::source::{Payload, SourceRecord};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a many-rules run measured.
#[derive(Debug, Clone)]
pub struct ManyRulesResult {
    /// Installed rules.
    pub rules: usize,
    /// Seconds to install them all.
    pub install_s: f64,
    /// Events handed to every rule.
    pub events: u64,
    /// Events per second achieved (the target is `rate`).
    pub events_per_sec: f64,
    /// Measured wall seconds.
    pub secs: f64,
    /// CPU seconds over the measurement.
    pub cpu_s: f64,
    /// CPU use in percent of one core.
    pub cpu_percent: f64,
    /// RSS at the end, MB.
    pub rss_mb: f64,
    /// Peak RSS, MB.
    pub peak_rss_mb: f64,
    /// RSS before any rule was installed, MB.
    pub base_rss_mb: f64,
    /// Output rows (through the memory sinks).
    pub checksum: Checksum,
    /// Rows the rules counted as emitted.
    pub records_out: u64,
    /// Whether every rule took in every fed event before the harness stopped.
    pub complete: bool,
}

fn manager(rt: &tokio::runtime::Runtime, workers: usize) -> anyhow::Result<(Arc<Runtime>, RuleManager)> {
    let _enter = rt.enter();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runtime = Arc::new(Runtime::start(RuntimeConfig { workers }, clock.clone())?);
    let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()));
    let mgr = RuleManager::new(runtime.clone(), env, clock);
    Ok((runtime, mgr))
}

/// Q5 with `rules` rules fed `rate` events/s for `seconds`.
pub fn run_q5(workers: usize, rules: usize, rate: u64, seconds: u64, data: &[u8]) -> anyhow::Result<ManyRulesResult> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    crate::sys::reset_peak_rss();
    let base_rss_mb = rss_mb();
    let (runtime, mgr) = manager(&rt, workers)?;
    mgr.create_stream(&crate::queries::stream_ddl("demo", &crate::queries::StreamSource::Mock))?;
    let topic = "oortbench/q5";
    let mut out = mgr.env().memory.subscribe(topic, 100_000);
    let reader = std::thread::spawn(move || {
        let mut sum = Checksum::default();
        let mut w = RowWriter::default();
        while let Some((_, row)) = out.blocking_recv() {
            sum.add_values(&mut w, row.iter().map(|(k, v)| (k.as_str(), v)));
        }
        sum
    });
    let t0 = Instant::now();
    let mut feeds = Vec::new();
    {
        let _enter = rt.enter();
        for i in 0..rules {
            let id = format!("q5-{i}");
            let action = json!({"memory": {"topic": topic, "sendSingle": true}});
            let options = json!({"bufferLength": 8});
            mgr.create_rule(RuleDef {
                id: id.clone(),
                sql: crate::queries::Query::Q5.sql(i),
                actions: vec![action.as_object().cloned().unwrap_or_default()],
                options: options.as_object().cloned().unwrap_or_default(),
            })?;
            let feed = mgr.feed(&id, "demo").ok_or_else(|| anyhow!("rule {id} has no feed"))?;
            if !feeds.iter().any(|f: &oort::runtime::SourceFeed| f.same_as(&feed)) {
                feeds.push(feed);
            }
        }
    }
    let install_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let clock = SystemClock;
    let per_tick = (rate / 10).max(1) as usize;
    let wanted = rate * seconds;
    let mut input = lines(data).take(wanted as usize);
    let (c0, w0) = (cpu_seconds(), Instant::now());
    // Feeding stops at the deadline even when the rules could not keep up
    // (the achieved rate is reported).
    let deadline = w0 + Duration::from_secs(seconds);
    let mut events = 0u64;
    for tick in 0u32.. {
        if Instant::now() >= deadline {
            break;
        }
        let batch: Vec<SourceRecord> = input
            .by_ref()
            .take(per_tick)
            .map(|l| SourceRecord {
                payload: Payload::Bytes(bytes::Bytes::copy_from_slice(l)),
                meta: None,
                ts: clock.now_ms(),
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        events += batch.len() as u64;
        for f in &feeds {
            f.blocking_send(batch.clone()).map_err(|e| anyhow!("feed: {e}"))?;
        }
        let due = w0 + Duration::from_millis(100) * (tick + 1);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
    let (cpu_s, secs) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    let rss = rss_mb();
    let peak_rss_mb = crate::sys::peak_rss_mb();
    // Let the last records through (at most 10 s), then stop everything.
    let metrics: Vec<_> = (0..rules).filter_map(|i| mgr.metrics(&format!("q5-{i}"))).collect();
    let wanted_in = events * rules as u64;
    let drain_until = Instant::now() + Duration::from_secs(10);
    let taken = || metrics.iter().map(|m| m.records_in.load(Ordering::Relaxed)).sum::<u64>();
    while taken() < wanted_in && Instant::now() < drain_until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let complete = taken() >= wanted_in;
    std::thread::sleep(Duration::from_millis(500));
    let records_out =
        (0..rules).filter_map(|i| mgr.metrics(&format!("q5-{i}"))).map(|m| m.records_out.load(Ordering::Relaxed)).sum();
    {
        let _enter = rt.enter();
        let sinks = mgr.stop_all_draining();
        rt.block_on(async {
            for s in sinks {
                let _ = tokio::time::timeout(Duration::from_secs(10), s).await;
            }
        });
    }
    drop(feeds);
    drop(mgr);
    runtime.shutdown();
    let checksum = reader.join().map_err(|_| anyhow!("reader panicked"))?;
    Ok(ManyRulesResult {
        rules,
        install_s,
        events,
        events_per_sec: events as f64 / secs.max(1e-9),
        secs,
        cpu_s,
        cpu_percent: cpu_s / secs.max(1e-9) * 100.0,
        rss_mb: rss,
        peak_rss_mb,
        base_rss_mb,
        checksum,
        records_out,
        complete,
    })
}

/// What an idle measurement gave.
#[derive(Debug, Clone)]
pub struct IdleResult {
    /// Installed rules.
    pub rules: usize,
    /// Seconds to install them.
    pub install_s: f64,
    /// Measured wall seconds.
    pub secs: f64,
    /// CPU use in percent of one core.
    pub cpu_percent: f64,
    /// RSS, MB.
    pub rss_mb: f64,
    /// RSS before any rule was installed, MB.
    pub base_rss_mb: f64,
}

/// `rules` idle rules (windowed with `TUMBLINGWINDOW(ss, window_s)`, or
/// plain filters when `window_s` is 0), measured for `seconds`.
pub fn run_idle(workers: usize, rules: usize, seconds: u64, window_s: u64) -> anyhow::Result<IdleResult> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let base_rss_mb = rss_mb();
    let (runtime, mgr) = manager(&rt, workers)?;
    mgr.create_stream(&crate::queries::stream_ddl("demo", &crate::queries::StreamSource::Mock))?;
    let t0 = Instant::now();
    {
        let _enter = rt.enter();
        for i in 0..rules {
            let sql = if window_s > 0 {
                format!(
                    "SELECT deviceId, avg(temperature) FROM demo WHERE deviceId = \"d{}\" \
                     GROUP BY deviceId, TUMBLINGWINDOW(ss, {window_s})",
                    i % 1000
                )
            } else {
                format!("SELECT * FROM demo WHERE deviceId = \"d{}\"", i % 1000)
            };
            let action = json!({"nop": {}});
            mgr.create_rule(RuleDef {
                id: format!("idle-{i}"),
                sql,
                actions: vec![action.as_object().cloned().unwrap_or_default()],
                options: Default::default(),
            })?;
        }
    }
    let install_s = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let (c0, w0) = (cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, secs) = (cpu_seconds(), w0.elapsed().as_secs_f64());
    let rss = rss_mb();
    {
        let _enter = rt.enter();
        mgr.stop_all();
    }
    drop(mgr);
    runtime.shutdown();
    Ok(IdleResult { rules, install_s, secs, cpu_percent: (c1 - c0) / secs.max(1e-9) * 100.0, rss_mb: rss, base_rss_mb })
}
