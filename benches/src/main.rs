//! `oort-bench`: measurements anyone can re-run.
//!
//! `oort-bench idle --rules 1000 --workers 2 --seconds 10` installs that many
//! windowed rules with no data and reports the process's CPU use and RSS
//! while they sit idle (the cost of an idle rule should be nothing between
//! window boundaries).

use clap::{Parser, Subcommand};
use oort::connectors::{ConnectorEnv, memory::MemoryBus};
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use serde_json::json;
use std::sync::Arc;
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
        Command::Idle { rules, workers, seconds, window } => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(async move {
                let clock = Arc::new(SystemClock);
                let runtime = Arc::new(Runtime::start(RuntimeConfig { workers }, clock.clone())?);
                let env = Arc::new(ConnectorEnv { memory: MemoryBus::default(), data_dir: std::env::temp_dir() });
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
