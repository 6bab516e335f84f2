//! `delay(ms, x)` end to end: a rule whose SELECT calls it emits every row,
//! in input order, each no earlier than its delay after it went in, while
//! another rule on the same (single) worker reading the same stream is not
//! held up: all its rows are out before the first delayed one. Invalid
//! delays are refused when the rule is created.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::*;

use oort_operators::value::{Map, Value};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_rows_keep_order_and_do_not_hold_up_other_rules() {
    let (mgr, _runtime) = memory_manager(1);
    mgr.create_stream(r#"CREATE STREAM s (id BIGINT) WITH (DATASOURCE="delay/in", TYPE="memory")"#).unwrap();

    assert!(mgr.create_rule(memory_rule("neg", "SELECT delay(-5, id) FROM s", "x")).is_err());
    assert!(mgr.create_rule(memory_rule("str", r#"SELECT delay("5", id) FROM s"#, "x")).is_err());
    assert!(mgr.create_rule(memory_rule("one", "SELECT delay(5) FROM s", "x")).is_err());

    let bus = &mgr.env().memory;
    let mut slow_out = bus.subscribe("delay/slow", 100);
    let mut fast_out = bus.subscribe("delay/fast", 100);
    // Row i is due 1500 - 100 i ms after it goes in: later rows are due
    // earlier, but must still come out after the rows before them.
    mgr.create_rule(memory_rule("slow", "SELECT id, delay(1500 - id * 100, id) AS d FROM s", "delay/slow")).unwrap();
    mgr.create_rule(memory_rule("fast", "SELECT id FROM s", "delay/fast")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let n = 10;
    let mut sent = Vec::new();
    for i in 0..n {
        let mut m = Map::new();
        m.insert("id".into(), Value::Int(i));
        sent.push(Instant::now());
        bus.publish("delay/in", vec![m]).await;
    }
    let mut fast = Vec::new();
    let mut fast_last = None;
    while fast.len() < n as usize {
        let (_, m) = tokio::time::timeout(Duration::from_secs(10), fast_out.recv()).await.unwrap().unwrap();
        fast.push(m.get("id").cloned().unwrap());
        fast_last = Some(Instant::now());
    }
    let mut slow = Vec::new();
    let mut slow_at = Vec::new();
    while slow.len() < n as usize {
        let (_, m) = tokio::time::timeout(Duration::from_secs(10), slow_out.recv()).await.unwrap().unwrap();
        assert_eq!(m.get("d"), m.get("id"), "delay returns its value");
        slow.push(m.get("id").cloned().unwrap());
        slow_at.push(Instant::now());
    }
    let ids: Vec<Value> = (0..n).map(Value::Int).collect();
    assert_eq!(fast, ids, "the other rule got every row");
    assert_eq!(slow, ids, "every delayed row, in input order");
    for (i, at) in slow_at.iter().enumerate() {
        let due = Duration::from_millis(1500 - 100 * i as u64);
        assert!(*at - sent[i] >= due, "row {i} came {:?} after it went in, before its delay {due:?}", *at - sent[i]);
    }
    assert!(fast_last.unwrap() <= slow_at[0], "the undelayed rule was held up by the delayed one");
    mgr.stop_rule("slow").unwrap();
    mgr.stop_rule("fast").unwrap();
}
