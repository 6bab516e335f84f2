//! End-to-end tests of the worker pool and rule manager: rules installed and
//! dropped while others keep producing, and bad records counted as errors
//! while good ones still come out. Data goes in through in-process memory
//! topics and comes out of memory sinks, so no external service is needed.

mod common;
use common::*;

use oort_operators::value::{Map, Value};
use serde_json::{Value as Json, json};
use std::sync::atomic::Ordering;
use std::time::Duration;

fn record(i: i64) -> Map {
    let mut m = Map::new();
    m.insert("id".into(), Value::Int(i));
    m.insert("temperature".into(), Value::Float(20.0 + i as f64));
    m
}

async fn drop_middle_rule_while_others_run(workers: usize) {
    let (mgr, runtime) = memory_manager(workers);
    mgr.create_stream(
        r#"CREATE STREAM sensors (id BIGINT, temperature FLOAT) WITH (DATASOURCE="in", TYPE="memory", FORMAT="json")"#,
    )
    .expect("stream");
    let bus = &mgr.env().memory;
    let mut outs = Vec::new();
    for r in 1..=3 {
        outs.push(bus.subscribe(&format!("out{r}"), 100_000));
        mgr.create_rule(memory_rule(
            &format!("r{r}"),
            "SELECT id, temperature FROM sensors WHERE temperature > 0",
            &format!("out{r}"),
        ))
        .expect("rule");
    }
    // Let the sources subscribe before publishing.
    tokio::time::sleep(Duration::from_millis(100)).await;
    bus.publish("in", (0..100).map(record).collect()).await;
    for out in outs.iter_mut() {
        assert_eq!(recv_ids(out, 100).await, (0..100).collect::<Vec<_>>());
    }
    mgr.delete_rule("r2").expect("drop r2");
    bus.publish("in", (100..200).map(record).collect()).await;
    assert_eq!(recv_ids(&mut outs[0], 100).await, (100..200).collect::<Vec<_>>());
    assert_eq!(recv_ids(&mut outs[2], 100).await, (100..200).collect::<Vec<_>>());
    // The dropped rule's sink has closed: nothing more arrives on out2.
    let more = tokio::time::timeout(Duration::from_millis(300), outs[1].recv()).await;
    assert!(matches!(more, Ok(None) | Err(_)), "dropped rule still produced {more:?}");
    assert!(mgr.rule("r2").is_none());
    mgr.stop_all();
    runtime.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_middle_rule_one_worker() {
    drop_middle_rule_while_others_run(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_middle_rule_four_workers() {
    drop_middle_rule_while_others_run(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_counted_and_good_ones_still_flow() {
    let (mgr, runtime) = memory_manager(2);
    mgr.create_stream(
        r#"CREATE STREAM strict (id BIGINT, temperature FLOAT) WITH (DATASOURCE="raw", TYPE="file", FORMAT="json", STRICT_VALIDATION="true")"#,
    )
    .expect("stream");
    let dir = common::temp_dir("runtime-strict");
    let path = dir.join("raw.jsonl");
    std::fs::write(
        &path,
        concat!(
            "{\"id\":1,\"temperature\":21.5}\n",
            "{\"id\":2,\"temperature\":\n",         // malformed JSON
            "{\"id\":3,\"temperature\":\"hot\"}\n", // wrong type under STRICT_VALIDATION
            "{\"id\":4,\"temperature\":22}\n",      // int converts to FLOAT
            "not json at all\n",
            "{\"id\":5,\"temperature\":23.5}\n",
        ),
    )
    .expect("write");
    // Re-point the stream at the absolute path.
    mgr.drop_stream("strict").expect("drop");
    mgr.create_stream(&format!(
        r#"CREATE STREAM strict (id BIGINT, temperature FLOAT) WITH (DATASOURCE="{}", TYPE="file", FORMAT="json", STRICT_VALIDATION="true")"#,
        path.display()
    ))
    .expect("stream");
    let bus = &mgr.env().memory;
    let mut out = bus.subscribe("good", 100);
    let mut def = memory_rule("strict_rule", "SELECT id, temperature FROM strict", "good");
    def.options.insert("sendError".into(), json!(false));
    mgr.create_rule(def).expect("rule");
    assert_eq!(recv_ids(&mut out, 3).await, vec![1, 4, 5]);
    let metrics = mgr.metrics("strict_rule").expect("metrics");
    for _ in 0..100 {
        if metrics.exceptions.load(Ordering::Relaxed) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.exceptions.load(Ordering::Relaxed), 3);
    assert_eq!(metrics.records_in.load(Ordering::Relaxed), 6);
    assert_eq!(metrics.records_out.load(Ordering::Relaxed), 3);
    let status = mgr.status("strict_rule").expect("status");
    assert_eq!(status["status"], "running");
    let last = status["last_exception"].as_str().unwrap_or_default().to_string();
    assert!(last.starts_with("error in preprocessor"), "{last}");
    mgr.stop_all();
    runtime.shutdown();
}

/// A processing-time window closes on the real clock with several workers:
/// rows land on different workers, and every worker must advance for the
/// window's end to pass (the idle one is woken when the rule becomes active).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumbling_window_closes_across_workers() {
    let (mgr, runtime) = memory_manager(2);
    mgr.create_stream(
        r#"CREATE STREAM sensors (id BIGINT, temperature FLOAT) WITH (DATASOURCE="win_in", TYPE="memory")"#,
    )
    .expect("stream");
    let bus = &mgr.env().memory;
    let mut out = bus.subscribe("win_out", 100);
    mgr.create_rule(memory_rule(
        "win",
        "SELECT count(*) AS c, max(id) AS id FROM sensors GROUP BY TUMBLINGWINDOW(ms, 200)",
        "win_out",
    ))
    .expect("rule");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Several batches, so that both workers receive rows.
    for chunk in 0..4 {
        bus.publish("win_in", (chunk * 5..chunk * 5 + 5).map(record).collect()).await;
    }
    let mut total = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while total < 20 && tokio::time::Instant::now() < deadline {
        if let Ok(Some((_, m))) = tokio::time::timeout(Duration::from_secs(2), out.recv()).await
            && let Some(Value::Int(c)) = m.get("c")
        {
            total += c;
        }
    }
    assert_eq!(total, 20, "every row counted in exactly one closed window");
    mgr.stop_all();
    runtime.shutdown();
}

/// A rule whose operator failed fatally is reported `stopped by error: …` and
/// stopped; the other rules keep producing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rule_stops_alone() {
    let (mgr, runtime) = memory_manager(2);
    mgr.create_stream(
        r#"CREATE STREAM sensors (id BIGINT, temperature FLOAT) WITH (DATASOURCE="f_in", TYPE="memory")"#,
    )
    .expect("stream");
    let bus = &mgr.env().memory;
    let mut ok_out = bus.subscribe("f_ok", 1000);
    mgr.create_rule(memory_rule("bad", "SELECT id FROM sensors", "f_bad")).expect("rule");
    mgr.create_rule(memory_rule("good", "SELECT id FROM sensors", "f_ok")).expect("rule");
    // What the worker does when an operator of `bad` panics (see operators::query::contain_panic).
    mgr.metrics("bad").expect("metrics").fail("panic in rule operator: boom");
    let status = mgr.status("bad").expect("status");
    assert_eq!(status["status"], "stopped by error: panic in rule operator: boom");
    tokio::time::sleep(Duration::from_millis(100)).await;
    bus.publish("f_in", (0..10).map(record).collect()).await;
    assert_eq!(recv_ids(&mut ok_out, 10).await, (0..10).collect::<Vec<_>>());
    assert_eq!(mgr.status("good").expect("status")["status"], "running");
    mgr.stop_all();
    runtime.shutdown();
}

/// Backpressure: a sink that does not keep up holds the rule back (its feed
/// is not drained, the source waits) and loses nothing; once the consumer
/// reads again every record arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_slows_the_rule_and_loses_nothing() {
    let (mgr, runtime) = memory_manager(1);
    mgr.create_stream(
        r#"CREATE STREAM sensors (id BIGINT, temperature FLOAT) WITH (DATASOURCE="bp_in", TYPE="memory")"#,
    )
    .expect("stream");
    let bus = &mgr.env().memory;
    let mut out = bus.subscribe("bp_out", 1);
    let mut def = memory_rule("bp", "SELECT id FROM sensors", "bp_out");
    def.options.insert("bufferLength".into(), json!(4));
    // The sink's own queue is small too, so the backlog reaches the rule.
    if let Some(Json::Object(props)) = def.actions[0].get_mut("memory") {
        props.insert("bufferLength".into(), json!(1));
    }
    mgr.create_rule(def).expect("rule");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Small spaced chunks: the worker sees its sink queue over bufferLength
    // while records are still arriving, and must stop draining the feed.
    for chunk in 0..50 {
        bus.publish("bp_in", (chunk * 10..chunk * 10 + 10).map(record).collect()).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Nobody reads for a while: the rule must hold back, not drop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = Vec::new();
    while ids.len() < 500 {
        match tokio::time::timeout(Duration::from_secs(10), out.recv()).await {
            Ok(Some((_, m))) => {
                if let Some(Value::Int(i)) = m.get("id") {
                    ids.push(*i);
                }
            }
            _ => break,
        }
    }
    assert_eq!(ids, (0..500).collect::<Vec<_>>(), "every record, in order");
    mgr.stop_all();
    runtime.shutdown();
}
