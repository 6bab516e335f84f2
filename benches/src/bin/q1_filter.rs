//! `q1_filter`: the in-process throughput of Q1 (`SELECT deviceId,
//! temperature FROM demo WHERE temperature > 50`, WORKLOAD.md), a stop-gap
//! measurement for the decode → filter → project path until the full Q1–Q5
//! harness lands in `oort-bench`.
//!
//! `q1_filter --records 10000000 --workers 1` generates the standard workload
//! (splitmix64 seed 42) as JSON lines up front, outside the timed part, feeds
//! it in batches of 1,000 through a `TYPE="mock"` stream into a `nop` sink,
//! and prints one JSON line: records/s from the first batch in to the last
//! output row counted by the rule (`records_out`), and the rows (998,887 for
//! 2,000,000 records).

use oort::connectors::{ConnectorEnv, memory::MemoryBus};
use oort::rule::manager::{RuleDef, RuleManager};
use oort::runtime::clock::SystemClock;
use oort::runtime::{Runtime, RuntimeConfig};
use oort_operators::source::{Payload, SourceRecord};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// splitmix64 draws, seed 42 (WORKLOAD.md).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let records = arg("--records", 2_000_000);
    let workers = arg("--workers", 1).max(1) as usize;
    let mut draws = Draws(42);
    let lines: Vec<Arc<[u8]>> = (0..records)
        .map(|i| {
            let (a, b, c) = (draws.next(), draws.next(), draws.next());
            let t = b % 10_001;
            let line = format!(
                "{{\"deviceId\":\"d{}\",\"temperature\":{}.{:02},\"humidity\":{},\"ts\":{}}}",
                a % 1000,
                t / 100,
                t % 100,
                c % 101,
                1_700_000_000_000 + i
            );
            Arc::from(line.into_bytes().into_boxed_slice())
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = rt.block_on(async move {
        let clock = Arc::new(SystemClock);
        let runtime = Arc::new(Runtime::start(RuntimeConfig { workers }, clock.clone())?);
        let env = Arc::new(ConnectorEnv::new(MemoryBus::default(), std::env::temp_dir()));
        let mgr = RuleManager::new(runtime.clone(), env, clock);
        mgr.create_stream(
            r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, humidity BIGINT, ts BIGINT) WITH (DATASOURCE="demo", TYPE="mock", FORMAT="JSON", TIMESTAMP="ts")"#,
        )?;
        let action = json!({"nop": {}});
        let options = json!({"bufferLength": 1024});
        mgr.create_rule(RuleDef {
            id: "q1".into(),
            sql: "SELECT deviceId, temperature FROM demo WHERE temperature > 50".into(),
            actions: vec![action.as_object().cloned().unwrap_or_default()],
            options: options.as_object().cloned().unwrap_or_default(),
        })?;
        let feed = mgr.feed("q1", "demo").ok_or_else(|| anyhow::anyhow!("no feed"))?;
        let metrics = mgr.metrics("q1").ok_or_else(|| anyhow::anyhow!("no metrics"))?;
        let t0 = Instant::now();
        for (n, chunk) in lines.chunks(1000).enumerate() {
            let base = n as u64 * 1000;
            let batch = chunk
                .iter()
                .enumerate()
                .map(|(j, l)| SourceRecord {
                    payload: Payload::Bytes(l.clone()),
                    meta: None,
                    ts: 1_700_000_000_000 + base + j as u64,
                })
                .collect();
            feed.send(batch).await?;
        }
        while metrics.records_in.load(Ordering::Relaxed) < records {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The last row is out once records_out has not moved for 100 ms.
        let (mut out, mut last) = (metrics.records_out.load(Ordering::Relaxed), Instant::now());
        while last.elapsed() < Duration::from_millis(100) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let now = metrics.records_out.load(Ordering::Relaxed);
            if now != out {
                (out, last) = (now, Instant::now());
            }
        }
        let wall = last.duration_since(t0).as_secs_f64();
        mgr.stop_all();
        runtime.shutdown();
        anyhow::Ok(json!({
            "bench": "q1_filter", "records": records, "workers": workers,
            "wall_s": (wall * 1000.0).round() / 1000.0,
            "records_per_s": (records as f64 / wall).round(),
            "rows": out,
        }))
    })?;
    println!("{report}");
    Ok(())
}
