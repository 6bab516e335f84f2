//! MQTT end to end. The default tests run against the embedded broker
//! (rumqttd on a free loopback port), so `cargo test` needs nothing
//! installed: messages published to the broker go through a rule and come
//! back out of the MQTT sink; a shared stream serves two rules with one
//! subscription; profiles are picked by `CONF_KEY`; a taken port is named.
//!
//! The `#[ignore]`d tests need Mosquitto and its clients and are run by
//! `.ci/mqtt_interop.sh`: `mosquitto_pub` → rule → `mosquitto_sub` through
//! the broker at `OORT_MOSQUITTO` (default 127.0.0.1:1883), and a broker
//! restart in the middle of a stream (on a Mosquitto the test starts itself
//! on its own port, so the machine's broker is left alone), after which
//! every QoS 1 message is delivered; the same through MQTT 5
//! (`mosquitto_pub -V mqttv5` → rule with a v5 profile and a v5 sink →
//! `mosquitto_sub -V mqttv5`); and TLS against a Mosquitto the test starts
//! with generated certificates (a TLS listener and one that requires client
//! certificates). `mqtt_throughput` measures rule Q1 through Mosquitto
//! beside a plain publisher → subscriber pair.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::*;

use oort::connectors::mqtt::broker;
use oort::rule::manager::RuleDef;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value as Json, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A fresh configuration folder with a `sources/` subfolder.
fn conf_dir(name: &str) -> PathBuf {
    let d = common::temp_dir(&format!("mqtt-{name}"));
    std::fs::create_dir_all(d.join("sources")).expect("sources dir");
    d
}

/// An embedded broker on a free port; returns its `tcp://` address.
fn embedded_broker() -> (String, u16) {
    let port = free_port();
    broker::start(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    (format!("tcp://127.0.0.1:{port}"), port)
}

fn rule(id: &str, sql: &str, action: Json) -> RuleDef {
    RuleDef {
        id: id.into(),
        sql: sql.into(),
        actions: vec![action.as_object().unwrap().clone()],
        options: serde_json::Map::new(),
    }
}

/// A test subscriber that subscribes again after every reconnect.
fn subscriber(port: u16, filter: &str, qos: QoS) -> mpsc::UnboundedReceiver<(String, Vec<u8>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut o = MqttOptions::new(format!("test-sub-{}", free_port()), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 64);
    let filter = filter.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client.try_subscribe(filter.clone(), qos).unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic, p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(20)).expect("subscribed");
    rx
}

/// A publisher client; its event loop runs in the background.
async fn publisher(port: u16) -> AsyncClient {
    let mut o = MqttOptions::new(format!("test-pub-{}", free_port()), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 1024);
    tokio::spawn(async move {
        loop {
            if el.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    client
}

async fn recv_n(rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>, n: usize) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some((t, p))) => out.push((t, serde_json::from_slice(&p).unwrap_or(Json::Null))),
            _ => break,
        }
    }
    out
}

fn reading(i: i64) -> Json {
    json!({"deviceId": format!("d{}", i % 3), "temperature": (i * 7 % 100) as f64, "seq": i})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_reads_and_writes_mqtt_through_the_embedded_broker() {
    let (server, port) = embedded_broker();
    let conf = conf_dir("e2e");
    // The default profile points nowhere; the CONF_KEY section at the broker.
    std::fs::write(
        conf.join("sources/mqtt.yaml"),
        format!("default:\n  server: tcp://127.0.0.1:1\n  qos: 0\nlocal:\n  server: {server}\n  qos: 1\n"),
    )
    .unwrap();
    let mgr = mqtt_manager(conf, "tcp://127.0.0.1:1");
    mgr.create_stream(
        r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, seq BIGINT) WITH (DATASOURCE="devices/+/data", FORMAT="JSON", CONF_KEY="local")"#,
    )
    .unwrap();
    let mut out = subscriber(port, "alerts/#", QoS::AtLeastOnce);
    let action = json!({"mqtt": {"server": server, "topic": "alerts/{{.deviceId}}", "qos": 1, "sendSingle": true}});
    let mut def =
        rule("hot", "SELECT deviceId, temperature, seq, meta(topic) AS src FROM demo WHERE temperature > 50", action);
    // The bad payload below must be counted, not published: with sendError its error row
    // would reach `alerts/…` too, possibly before rows decoded on the other worker.
    def.options.insert("sendError".into(), json!(false));
    mgr.create_rule(def).unwrap();
    wait_connected(&mgr, "hot", 1).await;
    let status = mgr.status("hot").unwrap();
    assert_eq!(status["connections"]["source/demo"], "connected");

    let client = publisher(port).await;
    let n = 300;
    let mut expected = Vec::new();
    for i in 0..n {
        let r = reading(i);
        let device = r["deviceId"].as_str().unwrap().to_string();
        if r["temperature"].as_f64().unwrap() > 50.0 {
            expected.push(i);
        }
        client.publish(format!("devices/{device}/data"), QoS::AtLeastOnce, false, r.to_string()).await.unwrap();
    }
    // A payload that is not JSON is a counted error, not the end of the rule.
    client.publish("devices/bad/data", QoS::AtLeastOnce, false, "not json").await.unwrap();
    let got = recv_n(&mut out, expected.len()).await;
    let mut seqs: Vec<i64> = got.iter().map(|(_, v)| v["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, expected);
    for (topic, v) in &got {
        assert_eq!(topic, &format!("alerts/{}", v["deviceId"].as_str().unwrap()));
        assert_eq!(v["src"], json!(format!("devices/{}/data", v["deviceId"].as_str().unwrap())));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while mgr.metrics("hot").unwrap().exceptions.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the bad payload was not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mgr.stop_rule("hot").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_stream_serves_two_rules_with_one_subscription() {
    let (server, port) = embedded_broker();
    let mgr = mqtt_manager(conf_dir("shared"), &server);
    mgr.create_stream(r#"CREATE STREAM s (v BIGINT) WITH (DATASOURCE="shared/in", FORMAT="JSON", SHARED="true")"#)
        .unwrap();
    let mut outs = Vec::new();
    for r in ["r1", "r2"] {
        let bus_rx = mgr.env().memory.subscribe(&format!("out/{r}"), 1024);
        outs.push(bus_rx);
        let action = json!({"memory": {"topic": format!("out/{r}"), "sendSingle": true}});
        mgr.create_rule(rule(r, "SELECT v FROM s", action)).unwrap();
    }
    // One client for the stream, whatever the number of rules.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let states = mgr.env().mqtt.states("shared/");
        if states.get("shared/s").map(String::as_str) == Some("connected") {
            assert_eq!(states.len(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "shared client not connected: {states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The SUBACK may still be on its way; publish until the rules see data, then count.
    let client = publisher(port).await;
    for i in 0..100 {
        client.publish("shared/in", QoS::AtLeastOnce, false, json!({"v": i}).to_string()).await.unwrap();
    }
    for rx in outs.iter_mut() {
        let mut got = Vec::new();
        while got.len() < 100 {
            match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
                Ok(Some((_, m))) => got.push(format!("{:?}", m.get("v"))),
                _ => break,
            }
        }
        assert_eq!(got.len(), 100, "each rule of a shared stream sees every message");
    }
    mgr.stop_rule("r1").unwrap();
    assert!(mgr.env().mqtt.states("shared/").contains_key("shared/s"), "still serving r2");
    mgr.stop_rule("r2").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !mgr.env().mqtt.states("shared/").is_empty() {
        assert!(Instant::now() < deadline, "the last rule out closes the subscription");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_taken_port_names_the_setting_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = broker::start(addr).unwrap_err().to_string();
    assert!(err.contains("mqtt.port") && err.contains("mqtt.embedded_broker"), "{err}");
}

// ---- Against Mosquitto (run by .ci/mqtt_interop.sh) ----

fn mosquitto_addr() -> (String, u16) {
    let a = std::env::var("OORT_MOSQUITTO").unwrap_or_else(|_| "127.0.0.1:1883".into());
    let (h, p) = a.rsplit_once(':').unwrap();
    (h.to_string(), p.parse().unwrap())
}

fn workload(n: usize) -> Vec<String> {
    // The standard workload's generator (shared/bench/WORKLOAD.md).
    let mut state: u64 = 42;
    let mut draw = || {
        state = state.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|i| {
            let (a, b, c) = (draw(), draw(), draw());
            let t = b % 10001;
            format!(
                r#"{{"deviceId":"d{}","temperature":{}.{:02},"humidity":{},"ts":{}}}"#,
                a % 1000,
                t / 100,
                t % 100,
                c % 101,
                1_700_000_000_000u64 + i as u64
            )
        })
        .collect()
}

fn q1_expected(lines: &[String]) -> usize {
    lines.iter().filter(|l| serde_json::from_str::<Json>(l).unwrap()["temperature"].as_f64().unwrap() > 50.0).count()
}

/// Runs `mosquitto_sub` until it has `n` messages; returns them and the time
/// from `start` to the last one.
fn spawn_sub(host: &str, port: u16, topic: &str, n: usize, qos: u8) -> std::process::Child {
    let child = std::process::Command::new("mosquitto_sub")
        .args(["-h", host, "-p", &port.to_string(), "-t", topic, "-C", &n.to_string(), "-q", &qos.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    // mosquitto_sub gives no signal once subscribed; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    child
}

fn pub_lines(host: &str, port: u16, topic: &str, lines: &[String], qos: u8) {
    pub_lines_args(host, port, topic, lines, qos, &[]);
}

fn wait_lines(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Mosquitto: run by .ci/mqtt_interop.sh"]
async fn mosquitto_pub_through_rule_to_mosquitto_sub() {
    let (host, port) = mosquitto_addr();
    let server = format!("tcp://{host}:{port}");
    let mgr = mqtt_manager(conf_dir("interop"), &server);
    let suffix = std::process::id();
    let (in_topic, out_topic) = (format!("oort-interop/{suffix}/in"), format!("oort-interop/{suffix}/out"));
    mgr.create_stream(&format!(
        r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, humidity BIGINT, ts BIGINT) WITH (DATASOURCE="{in_topic}", FORMAT="JSON")"#
    ))
    .unwrap();
    let action = json!({"mqtt": {"server": server, "topic": out_topic, "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule("q1", "SELECT deviceId, temperature FROM demo WHERE temperature > 50", action)).unwrap();
    wait_connected(&mgr, "q1", 1).await;
    let lines = workload(2000);
    let expected = q1_expected(&lines);
    let sub = spawn_sub(&host, port, &out_topic, expected, 1);
    let (h, l, t) = (host.clone(), lines.clone(), in_topic.clone());
    tokio::task::spawn_blocking(move || pub_lines(&h, port, &t, &l, 1)).await.unwrap();
    let got = tokio::task::spawn_blocking(move || wait_lines(sub)).await.unwrap();
    assert_eq!(got.len(), expected);
    let want: Vec<Json> = lines
        .iter()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|v| v["temperature"].as_f64().unwrap() > 50.0)
        .map(|v| json!({"deviceId": v["deviceId"], "temperature": v["temperature"]}))
        .collect();
    let mut got: Vec<String> = got.iter().map(|l| serde_json::from_str::<Json>(l).unwrap().to_string()).collect();
    let mut want: Vec<String> = want.iter().map(Json::to_string).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    eprintln!("interop: {} messages in, {} rows out through {server}", lines.len(), got.len());
    mgr.stop_rule("q1").unwrap();
}

/// A Mosquitto the test owns, on its own port.
struct OwnMosquitto {
    port: u16,
    conf: PathBuf,
    child: Option<std::process::Child>,
}

impl OwnMosquitto {
    fn start(port: u16) -> Self {
        Self::start_with(port, "own-broker", "")
    }

    /// A Mosquitto on `port` with `extra` configuration lines (more listeners).
    fn start_with(port: u16, name: &str, extra: &str) -> Self {
        let dir = conf_dir(name);
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("per_listener_settings false\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\npersistence false\nlistener {port} 127.0.0.1\n{extra}"),
        )
        .unwrap();
        let mut b = Self { port, conf, child: None };
        b.restart();
        b
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("mosquitto")
            .args(["-c", self.conf.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto (apt-get install mosquitto)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnMosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Mosquitto: run by .ci/mqtt_interop.sh"]
async fn rule_recovers_after_a_broker_restart_without_losing_qos1_messages() {
    let port = free_port();
    let mut broker = OwnMosquitto::start(port);
    let server = format!("tcp://127.0.0.1:{port}");
    let conf = conf_dir("restart");
    std::fs::write(conf.join("sources/mqtt.yaml"), format!("default:\n  server: {server}\n  qos: 1\n")).unwrap();
    let mgr = mqtt_manager(conf, &server);
    mgr.create_stream(r#"CREATE STREAM s (seq BIGINT) WITH (DATASOURCE="restart/in", FORMAT="JSON")"#).unwrap();
    let action = json!({"mqtt": {"topic": "restart/out", "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule("r", "SELECT seq FROM s", action)).unwrap();
    let mut out = subscriber(port, "restart/out", QoS::AtLeastOnce);
    let client = publisher(port).await;
    // Wait for the sink's client too: it connects on the first message.
    wait_connected(&mgr, "r", 1).await;

    // Mid-stream: stop the broker while messages are flowing.
    for i in 0..200 {
        client.publish("restart/in", QoS::AtLeastOnce, false, json!({"seq": i}).to_string()).await.unwrap();
    }
    let first = recv_n(&mut out, 50).await;
    assert_eq!(first.len(), 50);
    broker.stop();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mgr.env().mqtt.rule_states("r").get("source/s").is_some_and(|s| s.starts_with("disconnected")) {
        assert!(Instant::now() < deadline, "the loss of the broker was not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = mgr.status("r").unwrap();
    assert!(status["connections"]["source/s"].as_str().unwrap().starts_with("disconnected"), "{status:?}");
    broker.restart();
    wait_connected(&mgr, "r", 2).await;
    // The test subscriber resubscribes on reconnect; give it its SUBACK by
    // probing with a marker until one comes back.
    loop {
        client.publish("restart/in", QoS::AtLeastOnce, false, json!({"seq": -1}).to_string()).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match out.recv().await {
                    Some((_, p)) if serde_json::from_slice::<Json>(&p).unwrap()["seq"] == -1 => return,
                    Some(_) => continue,
                    None => return,
                }
            }
        })
        .await
        {
            Ok(()) => break,
            Err(_) => continue,
        }
    }
    let n = 1000;
    for i in 1000..1000 + n {
        client.publish("restart/in", QoS::AtLeastOnce, false, json!({"seq": i}).to_string()).await.unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < n as usize && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(20), out.recv()).await {
            Ok(Some((_, p))) => {
                let seq = serde_json::from_slice::<Json>(&p).unwrap()["seq"].as_i64().unwrap();
                if seq >= 1000 {
                    seen.insert(seq);
                }
            }
            _ => break,
        }
    }
    assert_eq!(seen.len(), n as usize, "every QoS 1 message after the restart arrives");
    assert!(
        mgr.metrics("r").unwrap().exceptions.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the loss is counted"
    );
    eprintln!("restart: {n} QoS 1 messages after the broker restart, all delivered");
    mgr.stop_rule("r").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run by .ci/mqtt_interop.sh with OORT_MQTT_N"]
async fn mqtt_throughput() {
    let n: usize = std::env::var("OORT_MQTT_N").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let port = free_port();
    let _broker = OwnMosquitto::start(port);
    let host = "127.0.0.1".to_string();
    let lines = workload(n);
    let expected = q1_expected(&lines);

    // The broker's own ceiling: publisher → broker → subscriber, QoS 0.
    let sub = spawn_sub(&host, port, "bench/plain", n, 0);
    let t0 = Instant::now();
    let (h, l) = (host.clone(), lines.clone());
    tokio::task::spawn_blocking(move || pub_lines(&h, port, "bench/plain", &l, 0)).await.unwrap();
    let got = tokio::task::spawn_blocking(move || wait_lines(sub)).await.unwrap();
    let plain = t0.elapsed();
    assert_eq!(got.len(), n);

    // Rule Q1: publisher → broker → Oort (Q1) → broker → subscriber, QoS 0.
    let server = format!("tcp://127.0.0.1:{port}");
    let mgr = mqtt_manager(conf_dir("bench"), &server);
    mgr.create_stream(
        r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, humidity BIGINT, ts BIGINT) WITH (DATASOURCE="devices/data", FORMAT="JSON")"#,
    )
    .unwrap();
    let action = json!({"mqtt": {"server": server, "topic": "bench/q1", "qos": 0, "sendSingle": true}});
    mgr.create_rule(rule("q1", "SELECT deviceId, temperature FROM demo WHERE temperature > 50", action)).unwrap();
    wait_connected(&mgr, "q1", 1).await;
    let sub = spawn_sub(&host, port, "bench/q1", expected, 0);
    let t0 = Instant::now();
    let (h, l) = (host.clone(), lines.clone());
    tokio::task::spawn_blocking(move || pub_lines(&h, port, "devices/data", &l, 0)).await.unwrap();
    let got = tokio::task::spawn_blocking(move || wait_lines(sub)).await.unwrap();
    let q1 = t0.elapsed();
    assert_eq!(got.len(), expected);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    eprintln!(
        "MQTT throughput, {n} messages: plain pub→sub {:.0} msg/s ({:.2} s); rule Q1 pub→oort→sub {:.0} msg/s in ({:.2} s, {expected} rows out)",
        rate(plain),
        plain.as_secs_f64(),
        rate(q1),
        q1.as_secs_f64()
    );
    mgr.stop_rule("q1").unwrap();
}

/// `mosquitto_sub` with extra arguments (`-V mqttv5`, TLS files).
fn spawn_sub_args(host: &str, port: u16, topic: &str, n: usize, extra: &[&str]) -> std::process::Child {
    let child = std::process::Command::new("mosquitto_sub")
        .args(["-h", host, "-p", &port.to_string(), "-t", topic, "-C", &n.to_string(), "-q", "1"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// `mosquitto_pub -l` at `qos` with extra arguments.
fn pub_lines_args(host: &str, port: u16, topic: &str, lines: &[String], qos: u8, extra: &[&str]) {
    use std::io::Write;
    let mut p = std::process::Command::new("mosquitto_pub")
        .args(["-h", host, "-p", &port.to_string(), "-t", topic, "-l", "-q", &qos.to_string()])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_pub");
    {
        let mut stdin = std::io::BufWriter::new(p.stdin.take().unwrap());
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    assert!(p.wait().unwrap().success());
}

fn seqs_of(lines: &[String]) -> Vec<i64> {
    let mut v: Vec<i64> =
        lines.iter().map(|l| serde_json::from_str::<Json>(l).unwrap()["seq"].as_i64().unwrap()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Mosquitto: run by .ci/mqtt_interop.sh"]
async fn mosquitto_v5_pub_through_rule_to_v5_sub() {
    let (host, port) = mosquitto_addr();
    let server = format!("tcp://{host}:{port}");
    let conf = conf_dir("interop-v5");
    std::fs::write(
        conf.join("sources/mqtt.yaml"),
        format!("default:\n  server: tcp://127.0.0.1:1\nv5:\n  server: {server}\n  qos: 1\n  protocolVersion: \"5\"\n"),
    )
    .unwrap();
    let mgr = mqtt_manager(conf, "tcp://127.0.0.1:1");
    let suffix = std::process::id();
    let (in_topic, out_topic) = (format!("oort-v5/{suffix}/in"), format!("oort-v5/{suffix}/out"));
    mgr.create_stream(&format!(
        r#"CREATE STREAM s5 (seq BIGINT) WITH (DATASOURCE="{in_topic}", FORMAT="JSON", CONF_KEY="v5")"#
    ))
    .unwrap();
    let action =
        json!({"mqtt": {"server": server, "protocolVersion": "5", "topic": out_topic, "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule("v5", "SELECT seq FROM s5", action)).unwrap();
    wait_connected(&mgr, "v5", 1).await;
    let n = 500;
    let lines: Vec<String> = (0..n).map(|i| json!({"seq": i}).to_string()).collect();
    let sub = spawn_sub_args(&host, port, &out_topic, n as usize, &["-V", "mqttv5"]);
    let (h, l, t) = (host.clone(), lines.clone(), in_topic.clone());
    tokio::task::spawn_blocking(move || pub_lines_args(&h, port, &t, &l, 1, &["-V", "mqttv5"])).await.unwrap();
    let got = tokio::task::spawn_blocking(move || wait_lines(sub)).await.unwrap();
    assert_eq!(seqs_of(&got), (0..n).collect::<Vec<_>>());
    eprintln!("interop v5: {n} messages through {server} over MQTT 5");
    mgr.stop_rule("v5").unwrap();
}

/// A CA and certificates for `127.0.0.1` (broker) and a client, as PEM files in `dir`.
fn make_pki(dir: &std::path::Path) -> [String; 5] {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "oort interop CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut out = vec![dir.join("ca.pem")];
    std::fs::write(&out[0], ca.pem()).unwrap();
    for (name, sans) in
        [("broker", vec!["127.0.0.1".to_string(), "localhost".to_string()]), ("client", vec!["oort".to_string()])]
    {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let (c, k) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        out.push(c);
        out.push(k);
    }
    let s: Vec<String> = out.iter().map(|p| p.display().to_string()).collect();
    [s[0].clone(), s[1].clone(), s[2].clone(), s[3].clone(), s[4].clone()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Mosquitto: run by .ci/mqtt_interop.sh"]
async fn mosquitto_over_tls_and_mutual_tls() {
    let (plain, tls, mtls) = (free_port(), free_port(), free_port());
    let pki_dir = conf_dir("tls-pki");
    let [ca, broker_cert, broker_key, client_cert, client_key] = make_pki(&pki_dir);
    let extra = format!(
        "listener {tls} 127.0.0.1\ncafile {ca}\ncertfile {broker_cert}\nkeyfile {broker_key}\n\
         listener {mtls} 127.0.0.1\ncafile {ca}\ncertfile {broker_cert}\nkeyfile {broker_key}\nrequire_certificate true\n"
    );
    let _broker = OwnMosquitto::start_with(plain, "tls-broker", &extra);
    for p in [tls, mtls] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto TLS listener {p} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let conf = conf_dir("tls-interop");
    std::fs::write(
        conf.join("sources/mqtt.yaml"),
        format!(
            "default:\n  server: tcp://127.0.0.1:1\nmtls:\n  server: ssl://127.0.0.1:{mtls}\n  qos: 1\n  rootCaPath: {ca}\n  certificationPath: {client_cert}\n  privateKeyPath: {client_key}\nnocert:\n  server: ssl://127.0.0.1:{mtls}\n  rootCaPath: {ca}\n"
        ),
    )
    .unwrap();
    let mgr = mqtt_manager(conf, "tcp://127.0.0.1:1");
    mgr.create_stream(r#"CREATE STREAM st (seq BIGINT) WITH (DATASOURCE="tls/in", FORMAT="JSON", CONF_KEY="mtls")"#)
        .unwrap();
    mgr.create_stream(r#"CREATE STREAM sn (seq BIGINT) WITH (DATASOURCE="tls/in", FORMAT="JSON", CONF_KEY="nocert")"#)
        .unwrap();
    // Source over mutual TLS, sink over TLS (server certificate only).
    let action = json!({"mqtt": {"server": format!("ssl://127.0.0.1:{tls}"), "rootCaPath": ca, "topic": "tls/out", "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule("tls", "SELECT seq FROM st", action)).unwrap();
    wait_connected(&mgr, "tls", 1).await;
    // Without a client certificate the mutual-TLS listener refuses.
    mgr.create_rule(rule("nocert", "SELECT seq FROM sn", json!({"log": {}}))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = mgr.env().mqtt.rule_states("nocert");
        if states.values().any(|s| s.starts_with("disconnected")) {
            break;
        }
        assert!(Instant::now() < deadline, "connected without a client certificate: {states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n = 100;
    let lines: Vec<String> = (0..n).map(|i| json!({"seq": i}).to_string()).collect();
    let sub = spawn_sub_args("127.0.0.1", plain, "tls/out", n as usize, &[]);
    let l = lines.clone();
    tokio::task::spawn_blocking(move || pub_lines_args("127.0.0.1", plain, "tls/in", &l, 1, &[])).await.unwrap();
    let got = tokio::task::spawn_blocking(move || wait_lines(sub)).await.unwrap();
    assert_eq!(seqs_of(&got), (0..n).collect::<Vec<_>>());
    eprintln!("interop tls: {n} messages in over mutual TLS, out over TLS");
    mgr.stop_rule("tls").unwrap();
    mgr.stop_rule("nocert").unwrap();
}
