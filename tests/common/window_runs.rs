//! Windowed rules run through the real worker pool (the harness of
//! `parallel.rs` and `parallel_two_phase.rs`).
//!
//! Event time makes the window boundaries independent of scheduling: records
//! carry a `ts` field and the rule sets `isEventTime`. Batches are handed to
//! the workers round-robin, so a worker may see a later batch before an
//! earlier one; `lateTolerance` (longer than the whole feed) covers that
//! skew. Once every record has been taken in (`records_in`), a final record
//! far in the future moves the watermark past every window, which closes
//! them all. Results are compared as sorted multisets (without ORDER BY the
//! order of groups inside a window depends on which worker received which
//! record).

use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::Value;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

const BASE: u64 = 1_700_000_000_000;
const RECORDS: u64 = 3_000;

/// A record in one of several layouts, so that a key-partitioned input
/// (`oort_operators::partition`) meets each way a key can be written: the
/// key first (most records), after other fields, escaped, and repeated (the
/// last one counts, so the key read first is not the row's: the row is
/// decoded on one worker and moved to its key's).
pub fn record(device: u64, v: i64, ts: u64) -> SourceRecord {
    let body = match ts % 13 {
        3 => format!(r#"{{"v":{v},"ts":{ts},"deviceId":"d{device}"}}"#),
        5 => format!(r#"{{ "deviceId" : "\u0064{device}", "v":{v},"ts":{ts}}}"#),
        7 => format!(r#"{{"deviceId":"x{device}","v":{v},"deviceId":"d{device}","ts":{ts}}}"#),
        _ => json!({"deviceId": format!("d{device}"), "v": v, "ts": ts}).to_string(),
    };
    SourceRecord { payload: Payload::Bytes(body.into_bytes().into()), meta: None, ts }
}

/// The i-th record of stream `s`: 23 keys, integer values, 7 ms apart.
pub fn nth(s: u64, i: u64) -> SourceRecord {
    let v = ((i * 37 + s * 11) % 101) as i64 - 20;
    record((i * 13 + s) % 23, v, BASE + i * 7)
}

pub fn render(m: &oort_operators::value::Map) -> String {
    let mut keys: Vec<_> = m.keys().cloned().collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            let v = match m.get(k) {
                Some(Value::Float(f)) => format!("{f:.6}"),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// How a run is fed: records per batch, and the rule's `lateTolerance`.
#[derive(Clone, Copy)]
pub struct Feeding {
    pub batch: u64,
    pub late_tolerance: &'static str,
}

/// Batches of 50 records (350 ms of event time) and a tolerance longer than the feed.
pub const SHORT_BATCHES: Feeding = Feeding { batch: 50, late_tolerance: "100s" };

/// Runs `sql` over `streams` mock streams on `workers` workers; the sorted output rows.
pub async fn run(workers: usize, sql: &str, streams: u64, feeding: Feeding) -> Vec<String> {
    let (mgr, runtime) = super::memory_manager(workers);
    for s in 0..streams {
        mgr.create_stream(&format!(
            r#"CREATE STREAM demo{s} (deviceId STRING, v BIGINT, ts BIGINT) WITH (DATASOURCE="demo{s}", TYPE="mock", FORMAT="json", TIMESTAMP="ts")"#
        ))
        .expect("stream");
    }
    let topic = format!("par-out-{workers}");
    let mut out = mgr.env().memory.subscribe(&topic, 1_000_000);
    let mut rule = super::memory_rule("par", sql, &topic);
    let options = json!({"isEventTime": true, "lateTolerance": feeding.late_tolerance, "bufferLength": 100000});
    rule.options = options.as_object().expect("object").clone();
    mgr.create_rule(rule).expect("rule");
    let feeds: Vec<_> = (0..streams).map(|s| mgr.feed("par", &format!("demo{s}")).expect("feed")).collect();
    for start in (0..RECORDS).step_by(feeding.batch as usize) {
        for (s, feed) in feeds.iter().enumerate() {
            let batch: Vec<_> = (start..(start + feeding.batch).min(RECORDS)).map(|i| nth(s as u64, i)).collect();
            feed.send(batch).await.expect("send");
        }
    }
    let metrics = mgr.metrics("par").expect("metrics");
    let total = RECORDS * streams;
    for _ in 0..1000 {
        if metrics.records_in.load(Ordering::Relaxed) >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.records_in.load(Ordering::Relaxed), total);
    // Far past the last window: the watermark closes every window.
    for feed in &feeds {
        feed.send(vec![record(999, 0, BASE + RECORDS * 7 + 200_000)]).await.expect("send");
    }
    let mut rows = Vec::new();
    while let Ok(Some((_, m))) = tokio::time::timeout(Duration::from_millis(1500), out.recv()).await {
        rows.push(render(&m));
    }
    assert_eq!(metrics.late.load(Ordering::Relaxed), 0, "late records on {workers} workers");
    mgr.stop_all();
    runtime.shutdown();
    rows.sort();
    rows
}

/// Runs `sql` on 1, 2 and 4 workers and checks the three give the same rows; those rows (sorted).
pub async fn same_on_1_2_4(sql: &str, streams: u64) -> Vec<String> {
    same_on_1_2_4_fed(sql, streams, SHORT_BATCHES).await
}

/// [`same_on_1_2_4`] fed as `feeding` says.
pub async fn same_on_1_2_4_fed(sql: &str, streams: u64, feeding: Feeding) -> Vec<String> {
    let one = run(1, sql, streams, feeding).await;
    assert!(!one.is_empty(), "no output for {sql}");
    for workers in [2, 4] {
        let many = run(workers, sql, streams, feeding).await;
        assert_eq!(one.len(), many.len(), "row count on {workers} workers for {sql}");
        assert_eq!(one, many, "rows on {workers} workers for {sql}");
    }
    one
}
