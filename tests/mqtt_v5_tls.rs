//! MQTT 5 and MQTT over TLS, end to end with the embedded broker, so
//! `cargo test` needs nothing installed.
//!
//! * MQTT 5: a stream whose profile says `protocolVersion: "5"` reads from
//!   the embedded broker's v5 listener, and an MQTT sink with
//!   `protocolVersion: "5"` publishes there; a v5 test client publishes and
//!   subscribes.
//! * TLS: a CA, a broker certificate (for 127.0.0.1) and a client
//!   certificate are made at test time (rcgen); a TLS front (tokio-rustls)
//!   terminates TLS and forwards to the embedded broker. The profile keys
//!   behave as eKuiper's: `rootCaPath` authenticates the broker (another
//!   CA is refused), `insecureSkipVerify` accepts any broker certificate,
//!   and `certificationPath` + `privateKeyPath` present a client
//!   certificate to a broker that requires one (without them it refuses).

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::*;

use oort::connectors::mqtt::broker;
use oort::rule::manager::{RuleDef, RuleManager};
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::Packet as Packet5;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value as Json, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_rustls::rustls;

fn conf_dir(name: &str) -> PathBuf {
    let d = temp_dir(&format!("mqtt5tls-{name}"));
    std::fs::create_dir_all(d.join("sources")).unwrap();
    d
}

fn rule(id: &str, sql: &str, action: Json) -> RuleDef {
    let mut options = serde_json::Map::new();
    options.insert("sendError".into(), json!(false));
    RuleDef { id: id.into(), sql: sql.into(), actions: vec![action.as_object().unwrap().clone()], options }
}

/// Waits until the rule's source reports a lost connection; returns why.
async fn wait_refused(mgr: &RuleManager, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = mgr.env().mqtt.rule_states(id);
        if let Some(s) = states.values().find(|s| s.starts_with("disconnected")) {
            return s.clone();
        }
        assert!(Instant::now() < deadline, "rule {id} was not refused: {states:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A 3.1.1 subscriber on the plain listener.
fn subscriber(port: u16, filter: &str) -> mpsc::UnboundedReceiver<Json> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (client, mut el) = AsyncClient::new(MqttOptions::new(format!("sub-{}", free_port()), "127.0.0.1", port), 64);
    let filter = filter.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client.try_subscribe(filter.clone(), QoS::AtLeastOnce).unwrap()
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(serde_json::from_slice(&p.payload).unwrap_or(Json::Null)).is_err() {
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

async fn publish_plain(port: u16, topic: &str, payloads: &[Json]) {
    let (client, mut el) = AsyncClient::new(MqttOptions::new(format!("pub-{}", free_port()), "127.0.0.1", port), 1024);
    tokio::spawn(async move { while el.poll().await.is_ok() {} });
    for p in payloads {
        client.publish(topic, QoS::AtLeastOnce, false, p.to_string()).await.unwrap();
    }
}

async fn recv_n(rx: &mut mpsc::UnboundedReceiver<Json>, n: usize) -> Vec<Json> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(v)) => out.push(v),
            _ => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_source_and_sink_through_the_embedded_v5_listener() {
    let (v4, v5) = (free_port(), free_port());
    broker::start_with(SocketAddr::from(([127, 0, 0, 1], v4)), Some(SocketAddr::from(([127, 0, 0, 1], v5)))).unwrap();
    let server5 = format!("tcp://127.0.0.1:{v5}");
    let conf = conf_dir("v5");
    std::fs::write(
        conf.join("sources/mqtt.yaml"),
        format!(
            "default:\n  server: tcp://127.0.0.1:1\nfive:\n  server: {server5}\n  qos: 1\n  protocolVersion: \"5\"\n"
        ),
    )
    .unwrap();
    let mgr = mqtt_manager(conf, "tcp://127.0.0.1:1");
    mgr.create_stream(r#"CREATE STREAM s5 (seq BIGINT) WITH (DATASOURCE="v5/in", FORMAT="JSON", CONF_KEY="five")"#)
        .unwrap();

    // A v5 subscriber on the v5 listener.
    let mut o = rumqttc::v5::MqttOptions::new(format!("sub5-{}", free_port()), "127.0.0.1", v5);
    o.set_keep_alive(Duration::from_secs(30));
    let (sub, mut sub_el) = rumqttc::v5::AsyncClient::new(o, 64);
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Json)>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        loop {
            match sub_el.poll().await {
                Ok(rumqttc::v5::Event::Incoming(Packet5::ConnAck(_))) => {
                    sub.try_subscribe("v5/out", QoS5::AtLeastOnce).unwrap()
                }
                Ok(rumqttc::v5::Event::Incoming(Packet5::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(rumqttc::v5::Event::Incoming(Packet5::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    if tx.send((topic, serde_json::from_slice(&p.payload).unwrap_or(Json::Null))).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(20)).expect("v5 subscriber ready");

    let action =
        json!({"mqtt": {"server": server5, "protocolVersion": "5", "topic": "v5/out", "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule("r5", "SELECT seq, seq * 2 AS twice FROM s5", action)).unwrap();
    wait_connected(&mgr, "r5", 1).await;

    // A v5 publisher.
    let (publ, mut pub_el) = rumqttc::v5::AsyncClient::new(
        rumqttc::v5::MqttOptions::new(format!("pub5-{}", free_port()), "127.0.0.1", v5),
        256,
    );
    tokio::spawn(async move { while pub_el.poll().await.is_ok() {} });
    let n = 50;
    for i in 0..n {
        publ.publish("v5/in", QoS5::AtLeastOnce, false, json!({"seq": i}).to_string()).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < n as usize {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => break,
        }
    }
    let mut seqs: Vec<i64> = got.iter().map(|(_, v)| v["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());
    for (topic, v) in &got {
        assert_eq!(topic, "v5/out");
        assert_eq!(v["twice"].as_i64().unwrap(), v["seq"].as_i64().unwrap() * 2);
    }
    mgr.stop_rule("r5").unwrap();
}

// ------------------------------------------------------------------ TLS

/// A CA and the PEM files of what it signed.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("oort test CA {name}"));
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).unwrap();
        Self { dir: dir.to_path_buf(), ca, ca_key }
    }

    fn ca_path(&self, name: &str) -> String {
        self.dir.join(format!("{name}-ca.pem")).display().to_string()
    }

    /// A certificate for `names` signed by this CA: (cert DER, key DER, cert path, key path).
    fn issue(&self, file: &str, names: &[&str]) -> (rcgen::Certificate, rcgen::KeyPair, String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, file);
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let cert_path = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert, key, cert_path.display().to_string(), key_path.display().to_string())
    }
}

/// A TLS front on a free port that forwards to the plain broker at `upstream`;
/// with `client_ca`, it requires a client certificate signed by it.
async fn tls_front(
    cert: &rcgen::Certificate,
    key: &rcgen::KeyPair,
    client_ca: Option<&rcgen::Certificate>,
    upstream: u16,
) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let builder = rustls::ServerConfig::builder();
    let config = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
            builder.with_client_cert_verifier(verifier).with_single_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key).unwrap(),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// Creates a stream reading `topic` with `profile` and a rule copying it to
/// `<topic>/out` over the plain listener.
fn tls_rule(mgr: &RuleManager, conf: &Path, id: &str, topic: &str, profile: Json, plain_server: &str) {
    let mut yaml = format!("default:\n  server: {plain_server}\n");
    yaml.push_str(&format!("{id}:\n"));
    for (k, v) in profile.as_object().unwrap() {
        yaml.push_str(&format!("  {k}: {v}\n"));
    }
    std::fs::write(conf.join("sources/mqtt.yaml"), yaml).unwrap();
    mgr.create_stream(&format!(
        r#"CREATE STREAM {id} (seq BIGINT) WITH (DATASOURCE="{topic}", FORMAT="JSON", CONF_KEY="{id}")"#
    ))
    .unwrap();
    let action =
        json!({"mqtt": {"server": plain_server, "topic": format!("{topic}/out"), "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule(id, &format!("SELECT seq FROM {id}"), action)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_tls_honours_the_profile_keys() {
    let port = free_port();
    broker::start(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let plain = format!("tcp://127.0.0.1:{port}");
    let conf = conf_dir("tls");
    let pki = Pki::new(&conf, "good");
    let other = Pki::new(&conf, "other");
    let (server_cert, server_key, _, _) = pki.issue("broker", &["127.0.0.1", "localhost"]);
    let (_, _, client_cert, client_key) = pki.issue("client", &["oort-client"]);
    let tls_port = tls_front(&server_cert, &server_key, None, port).await;
    let mtls_port = tls_front(&server_cert, &server_key, Some(&pki.ca), port).await;
    let tls = format!("ssl://127.0.0.1:{tls_port}");
    let mtls = format!("ssl://127.0.0.1:{mtls_port}");
    let mgr = mqtt_manager(conf.clone(), &plain);

    // rootCaPath of the broker's CA: connects, and messages flow.
    tls_rule(
        &mgr,
        &conf,
        "ca_ok",
        "tls/a",
        json!({"server": tls, "qos": 1, "rootCaPath": pki.ca_path("good")}),
        &plain,
    );
    wait_connected(&mgr, "ca_ok", 1).await;
    let mut out = subscriber(port, "tls/a/out");
    publish_plain(port, "tls/a", &(0..20).map(|i| json!({"seq": i})).collect::<Vec<_>>()).await;
    let mut seqs: Vec<i64> = recv_n(&mut out, 20).await.iter().map(|v| v["seq"].as_i64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..20).collect::<Vec<_>>());

    // A sink over TLS too (rootCaPath in the action's properties).
    let mut out_sink = subscriber(port, "tls/sink");
    mgr.create_stream(r#"CREATE STREAM plain_in (seq BIGINT) WITH (DATASOURCE="tls/plain", FORMAT="JSON")"#).unwrap();
    let action = json!({"mqtt": {"server": tls, "rootCaPath": pki.ca_path("good"), "topic": "tls/sink", "qos": 1, "sendSingle": true}});
    mgr.create_rule(rule("sink_tls", "SELECT seq FROM plain_in", action)).unwrap();
    wait_connected(&mgr, "sink_tls", 1).await;
    publish_plain(port, "tls/plain", &(0..5).map(|i| json!({"seq": i})).collect::<Vec<_>>()).await;
    assert_eq!(recv_n(&mut out_sink, 5).await.len(), 5);

    // Another CA: the broker is not trusted.
    tls_rule(&mgr, &conf, "ca_bad", "tls/b", json!({"server": tls, "rootCaPath": other.ca_path("other")}), &plain);
    let why = wait_refused(&mgr, "ca_bad").await;
    assert!(why.to_lowercase().contains("certificate") || why.contains("UnknownIssuer"), "{why}");

    // insecureSkipVerify: the same untrusted broker is accepted.
    tls_rule(
        &mgr,
        &conf,
        "insecure",
        "tls/c",
        json!({"server": tls, "rootCaPath": other.ca_path("other"), "insecureSkipVerify": true}),
        &plain,
    );
    wait_connected(&mgr, "insecure", 1).await;

    // Mutual TLS: without a client certificate the broker refuses; with one it accepts.
    tls_rule(&mgr, &conf, "no_cert", "tls/d", json!({"server": mtls, "rootCaPath": pki.ca_path("good")}), &plain);
    wait_refused(&mgr, "no_cert").await;
    tls_rule(
        &mgr,
        &conf,
        "with_cert",
        "tls/e",
        json!({"server": mtls, "rootCaPath": pki.ca_path("good"), "certificationPath": client_cert, "privateKeyPath": client_key}),
        &plain,
    );
    wait_connected(&mgr, "with_cert", 1).await;
    let mut out_e = subscriber(port, "tls/e/out");
    publish_plain(port, "tls/e", &[json!({"seq": 7})]).await;
    assert_eq!(recv_n(&mut out_e, 1).await, vec![json!({"seq": 7})]);

    // Half a client identity is refused when the rule is created.
    let half = json!({"mqtt": {"server": mtls, "rootCaPath": pki.ca_path("good"), "certificationPath": "x.pem", "topic": "t"}});
    assert!(mgr.create_rule(rule("half", "SELECT seq FROM plain_in", half)).is_err());
    for id in ["ca_ok", "sink_tls", "ca_bad", "insecure", "no_cert", "with_cert"] {
        mgr.stop_rule(id).unwrap();
    }
}
