//! End-to-end tests of stream groups: stateless rules over one stream share
//! one dataflow and one source, and each still sees exactly what it would
//! alone — through the predicate index, while rules join and leave, and
//! with strict validation, where a bad field fails only the rules reading it.

mod common;
use common::*;

use oort_operators::value::{Map, Value};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

/// Record `i`: device `d<i mod 10>`, temperature `i mod 100`.
fn record(i: i64) -> Map {
    let mut m = Map::new();
    m.insert("id".into(), Value::Int(i));
    m.insert("deviceId".into(), Value::str(&format!("d{}", i % 10)));
    m.insert("temperature".into(), Value::Float((i % 100) as f64));
    m
}

type Out = mpsc::Receiver<oort::connectors::memory::MemoryMessage>;

/// Nothing more arrives on `rx` for a while.
async fn quiet(rx: &mut Out) -> bool {
    tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.is_err()
}

async fn rules_in_a_group_each_get_exactly_their_rows(workers: usize) {
    let (mgr, _runtime) = memory_manager(workers);
    mgr.create_stream(
        r#"CREATE STREAM demo (id BIGINT, deviceId STRING, temperature FLOAT) WITH (DATASOURCE="in", TYPE="memory", FORMAT="json")"#,
    )
    .expect("stream");
    let bus = &mgr.env().memory;
    // 30 indexed rules (device d<r mod 10>, temperature above r), and one
    // rule whose WHERE is not indexable.
    let mut outs = Vec::new();
    for r in 0..30i64 {
        outs.push(bus.subscribe(&format!("out{r}"), 10_000));
        let sql = format!("SELECT id FROM demo WHERE deviceId = \"d{}\" AND temperature > {r}", r % 10);
        mgr.create_rule(memory_rule(&format!("r{r}"), &sql, &format!("out{r}"))).expect("rule");
    }
    let mut hot = bus.subscribe("hot", 10_000);
    mgr.create_rule(memory_rule("hot", "SELECT id FROM demo WHERE temperature >= 95", "hot")).expect("rule");
    tokio::time::sleep(Duration::from_millis(100)).await;
    bus.publish("in", (0..1000).map(record).collect()).await;
    let want = |r: i64, range: std::ops::Range<i64>| -> Vec<i64> {
        range.filter(|i| i % 10 == r % 10 && (i % 100) > r).collect()
    };
    for (r, out) in outs.iter_mut().enumerate() {
        let expected = want(r as i64, 0..1000);
        assert_eq!(recv_ids(out, expected.len()).await, expected, "rule r{r}");
        assert!(quiet(out).await, "rule r{r} got more than its rows");
    }
    let expected: Vec<i64> = (0..1000).filter(|i| i % 100 >= 95).collect();
    assert_eq!(recv_ids(&mut hot, expected.len()).await, expected);

    // Members leave; the others keep their rows. A rule joining later sees
    // only what comes after it joined.
    for r in 0..15 {
        mgr.delete_rule(&format!("r{r}")).expect("delete");
    }
    let mut late = bus.subscribe("late", 10_000);
    mgr.create_rule(memory_rule("late", "SELECT id FROM demo WHERE deviceId = \"d3\"", "late")).expect("rule");
    tokio::time::sleep(Duration::from_millis(100)).await;
    bus.publish("in", (1000..2000).map(record).collect()).await;
    for (r, out) in outs.iter_mut().enumerate().skip(15) {
        let expected = want(r as i64, 1000..2000);
        assert_eq!(recv_ids(out, expected.len()).await, expected, "rule r{r} after others left");
    }
    let expected: Vec<i64> = (1000..2000).filter(|i| i % 10 == 3).collect();
    assert_eq!(recv_ids(&mut late, expected.len()).await, expected);
    for (r, out) in outs.iter_mut().enumerate().take(15) {
        assert!(quiet(out).await, "deleted rule r{r} still emits");
    }

    // Every member leaves (the group and its source close), then a new rule
    // opens a new group with a new source.
    let ids: Vec<String> = mgr.rules().into_iter().map(|(d, _)| d.id).collect();
    for id in ids {
        mgr.delete_rule(&id).expect("delete");
    }
    let mut again = bus.subscribe("again", 10_000);
    mgr.create_rule(memory_rule("again", "SELECT id FROM demo WHERE deviceId = \"d1\"", "again")).expect("rule");
    tokio::time::sleep(Duration::from_millis(100)).await;
    bus.publish("in", (0..100).map(record).collect()).await;
    let expected: Vec<i64> = (0..100).filter(|i| i % 10 == 1).collect();
    assert_eq!(recv_ids(&mut again, expected.len()).await, expected);
    assert!(quiet(&mut again).await, "one source after reopening, not two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_in_a_group_each_get_exactly_their_rows_on_one_worker() {
    rules_in_a_group_each_get_exactly_their_rows(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_in_a_group_each_get_exactly_their_rows_on_two_workers() {
    rules_in_a_group_each_get_exactly_their_rows(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_strict_validation_a_bad_field_fails_only_the_rules_that_read_it() {
    let (mgr, _runtime) = memory_manager(1);
    mgr.create_stream(
        r#"CREATE STREAM demo (id BIGINT, deviceId STRING, temperature FLOAT) WITH (DATASOURCE="in", TYPE="memory", FORMAT="json", STRICT_VALIDATION="true")"#,
    )
    .expect("stream");
    let bus = &mgr.env().memory;
    let mut reads_temperature = bus.subscribe("t", 100);
    let mut reads_device = bus.subscribe("d", 100);
    mgr.create_rule(memory_rule("t", "SELECT id, temperature FROM demo", "t")).expect("rule");
    mgr.create_rule(memory_rule("d", "SELECT id, deviceId FROM demo", "d")).expect("rule");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut bad = record(1);
    bad.insert("temperature".into(), Value::str("hot"));
    bus.publish("in", vec![record(0), bad, record(2)]).await;
    assert_eq!(recv_ids(&mut reads_device, 3).await, vec![0, 1, 2], "deviceId rule does not read temperature");
    assert_eq!(recv_ids(&mut reads_temperature, 2).await, vec![0, 2]);
    let status = mgr.status("t").expect("status");
    assert_eq!(status["exceptions_total"], json!(1), "{status:?}");
    assert_eq!(mgr.status("d").expect("status")["exceptions_total"], json!(0));
}
