//! The `mqtt` connector (rumqttc, MQTT 3.1.1 and 5): a source that
//! subscribes to the stream's `DATASOURCE` topic filter, a sink that
//! publishes results, and the embedded broker ([`broker`], rumqttd) that
//! `oort serve` can run.
//!
//! `protocolVersion` picks rumqttc's 3.1.1 client (`3.1.1`, `4`, the
//! default) or its v5 client (`5`); [`MqttClient`] and [`MqttEventLoop`]
//! hide which one, so the source and sink are written once. TLS
//! (`ssl://`, `tls://`, `mqtts://` servers) takes eKuiper's keys:
//! `rootCaPath` (the CA that signs the broker; the system roots when
//! absent), `certificationPath` + `privateKeyPath` (client certificate for
//! mutual TLS) and `insecureSkipVerify` (accept any broker certificate).
//!
//! Connection settings come from a profile of `sources/mqtt.yaml`
//! (`default` + the `CONF_KEY` section, see [`super::profile`]) for streams,
//! and from the action's own properties for sinks; [`ClientConfig`] reads
//! both with eKuiper's property names. Clients reconnect by themselves with
//! exponential backoff; each records its state in the [`MqttHub`]
//! (`connected` / `disconnected: <why>`), which rule status can show, and a
//! lost connection also counts as an exception of the rule.
//!
//! A `SHARED="true"` stream has one subscription whatever the number of
//! rules reading it: the first rule opens it, later rules attach to it, the
//! last one to stop closes it ([`source`]).

pub mod broker;
pub mod sink;
pub mod source;
pub mod tls;

use super::ConnectorError;
use rumqttc::v5::mqttbytes::v5::Packet as Packet5;
use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The broker used when nothing names one.
pub const DEFAULT_SERVER: &str = "tcp://127.0.0.1:1883";

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Connection settings of one MQTT client, in eKuiper's property names.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `server`: `tcp://host:port`, `mqtt://`, `ssl://` or `mqtts://` (TLS).
    pub server: String,
    /// `clientid`; a unique id is made up when empty.
    pub client_id: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `qos`: 0, 1 or 2.
    pub qos: QoS,
    /// `protocolVersion`: `3.1.1` (also written `4` or `3.1`) or `5`.
    pub protocol_version: String,
    /// `certificationPath`: client certificate (PEM) for mutual TLS.
    pub certification_path: Option<String>,
    /// `privateKeyPath`: client key (PEM) for mutual TLS.
    pub private_key_path: Option<String>,
    /// `rootCaPath`: CA certificates (PEM) that sign the broker's certificate.
    pub root_ca_path: Option<String>,
    /// `insecureSkipVerify`: accept any broker certificate (TLS still encrypts).
    pub insecure_skip_verify: bool,
    /// `shareGroup`: subscribe as `$share/<group>/<topic>` (broker-side
    /// shared subscription, load-balanced among the group).
    pub share_group: Option<String>,
    /// `keepAlive`: seconds.
    pub keep_alive_s: u64,
    /// `cleanSession`.
    pub clean_session: bool,
    /// `bufferLength`: messages queued between the client and the rule.
    pub buffer_length: usize,
}

fn text(props: &Map<String, Json>, key: &str) -> Option<String> {
    match props.get(key)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn bad(property: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::BadProperty { connector: "mqtt".into(), property: property.into(), message: message.into() }
}

/// Reads `qos`.
pub fn qos_of(props: &Map<String, Json>) -> Result<QoS, ConnectorError> {
    match text(props, "qos").as_deref() {
        None | Some("0") => Ok(QoS::AtMostOnce),
        Some("1") => Ok(QoS::AtLeastOnce),
        Some("2") => Ok(QoS::ExactlyOnce),
        Some(other) => Err(bad("qos", format!("{other} is not 0, 1 or 2"))),
    }
}

impl ClientConfig {
    /// Reads the settings; `default_server` fills a missing `server`.
    pub fn from_props(props: &Map<String, Json>, default_server: &str) -> Result<Self, ConnectorError> {
        let protocol_version = text(props, "protocolVersion").unwrap_or_else(|| "3.1.1".into());
        if !matches!(protocol_version.as_str(), "3.1.1" | "4" | "3.1" | "5" | "5.0") {
            return Err(bad("protocolVersion", format!("{protocol_version} is not supported; use 3.1.1 or 5")));
        }
        let flag = |k: &str, d: bool| match props.get(k) {
            Some(Json::Bool(b)) => *b,
            Some(Json::String(s)) => s.parse().unwrap_or(d),
            _ => d,
        };
        let num = |k: &str, d: u64| text(props, k).and_then(|s| s.parse().ok()).unwrap_or(d);
        let c = Self {
            server: text(props, "server").unwrap_or_else(|| default_server.to_string()),
            client_id: text(props, "clientid").or_else(|| text(props, "clientId")),
            username: text(props, "username"),
            password: text(props, "password"),
            qos: qos_of(props)?,
            protocol_version,
            certification_path: text(props, "certificationPath"),
            private_key_path: text(props, "privateKeyPath"),
            root_ca_path: text(props, "rootCaPath"),
            insecure_skip_verify: flag("insecureSkipVerify", false),
            share_group: text(props, "shareGroup"),
            keep_alive_s: num("keepAlive", 30).max(5),
            clean_session: flag("cleanSession", true),
            buffer_length: num("bufferLength", 1024).max(1) as usize,
        };
        c.endpoint()?;
        if c.certification_path.is_some() != c.private_key_path.is_some() {
            return Err(bad("certificationPath", "certificationPath and privateKeyPath go together"));
        }
        Ok(c)
    }

    /// `(tls, host, port)` of the server.
    pub fn endpoint(&self) -> Result<(bool, String, u16), ConnectorError> {
        let (tls, rest) = match self.server.split_once("://") {
            Some(("tcp" | "mqtt", r)) => (false, r),
            Some(("ssl" | "tls" | "mqtts", r)) => (true, r),
            Some((scheme, _)) => return Err(bad("server", format!("unsupported scheme {scheme}"))),
            None => (false, self.server.as_str()),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("server", format!("bad port in {}", self.server)))?),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
            return Err(bad("server", format!("no host in {}", self.server)));
        }
        Ok((tls, host.trim_matches(['[', ']']).to_string(), port))
    }

    /// Whether the client speaks MQTT 5.
    pub fn is_v5(&self) -> bool {
        self.protocol_version.starts_with('5')
    }

    /// The client id: `clientid`, or a unique one made from `id_hint`.
    fn id(&self, id_hint: &str) -> String {
        self.client_id.clone().unwrap_or_else(|| unique_id(id_hint))
    }

    /// The rumqttc 3.1.1 options; `id_hint` names the client when `clientid` is unset.
    pub fn options(&self, id_hint: &str) -> Result<MqttOptions, ConnectorError> {
        let (_, host, port) = self.endpoint()?;
        let mut o = MqttOptions::new(self.id(id_hint), host, port);
        o.set_keep_alive(Duration::from_secs(self.keep_alive_s));
        o.set_clean_session(self.clean_session);
        o.set_max_packet_size(16 << 20, 16 << 20);
        o.set_inflight(256);
        if let Some(u) = &self.username {
            o.set_credentials(u.clone(), self.password.clone().unwrap_or_default());
        }
        if let Some(t) = self.transport()? {
            o.set_transport(t);
        }
        Ok(o)
    }

    /// The rumqttc v5 options.
    pub fn options_v5(&self, id_hint: &str) -> Result<rumqttc::v5::MqttOptions, ConnectorError> {
        let (_, host, port) = self.endpoint()?;
        let mut o = rumqttc::v5::MqttOptions::new(self.id(id_hint), host, port);
        o.set_keep_alive(Duration::from_secs(self.keep_alive_s));
        o.set_clean_start(self.clean_session);
        o.set_max_packet_size(Some(16 << 20));
        if let Some(u) = &self.username {
            o.set_credentials(u.clone(), self.password.clone().unwrap_or_default());
        }
        if let Some(t) = self.transport()? {
            o.set_transport(t);
        }
        Ok(o)
    }

    /// A client of the configured protocol version with its event loop;
    /// `cap` bounds its request queue.
    pub fn connect(&self, id_hint: &str, cap: usize) -> Result<(MqttClient, MqttEventLoop), ConnectorError> {
        if self.is_v5() {
            let (c, e) = rumqttc::v5::AsyncClient::new(self.options_v5(id_hint)?, cap);
            Ok((MqttClient::V5(c), MqttEventLoop::V5(Box::new(e))))
        } else {
            let (c, e) = rumqttc::AsyncClient::new(self.options(id_hint)?, cap);
            Ok((MqttClient::V4(c), MqttEventLoop::V4(Box::new(e))))
        }
    }

    /// The TLS transport, when the server is `ssl://`, `tls://` or
    /// `mqtts://` (or a `rootCaPath` is given).
    fn transport(&self) -> Result<Option<Transport>, ConnectorError> {
        let (tls, _, _) = self.endpoint()?;
        if !(tls || self.root_ca_path.is_some()) {
            return Ok(None);
        }
        let config = tls::client_config(self)?;
        Ok(Some(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(config)))))
    }
}

/// An MQTT client of either protocol version.
#[derive(Clone)]
pub enum MqttClient {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(rumqttc::v5::AsyncClient),
}

fn qos5(q: QoS) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

impl MqttClient {
    /// Queues a SUBSCRIBE without waiting.
    pub fn try_subscribe(&self, filter: &str, qos: QoS) -> Result<(), String> {
        match self {
            Self::V4(c) => c.try_subscribe(filter, qos).map_err(|e| e.to_string()),
            Self::V5(c) => c.try_subscribe(filter, qos5(qos)).map_err(|e| e.to_string()),
        }
    }

    /// Queues a PUBLISH, waiting while the request queue is full.
    pub async fn publish(&self, topic: String, qos: QoS, retain: bool, payload: Vec<u8>) -> Result<(), String> {
        match self {
            Self::V4(c) => c.publish(topic, qos, retain, payload).await.map_err(|e| e.to_string()),
            Self::V5(c) => c.publish(topic, qos5(qos), retain, payload).await.map_err(|e| e.to_string()),
        }
    }

    /// Queues a DISCONNECT, waiting for room.
    pub async fn disconnect(&self) -> Result<(), String> {
        match self {
            Self::V4(c) => c.disconnect().await.map_err(|e| e.to_string()),
            Self::V5(c) => c.disconnect().await.map_err(|e| e.to_string()),
        }
    }

    /// Queues a DISCONNECT without waiting.
    pub fn try_disconnect(&self) -> Result<(), String> {
        match self {
            Self::V4(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Self::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        }
    }
}

/// What an event loop reported, in the terms the source and sink need.
#[derive(Debug)]
pub enum MqttEvent {
    /// The broker accepted the connection.
    ConnAck,
    /// The broker confirmed a subscription.
    SubAck,
    /// A message arrived.
    Publish {
        /// Its topic.
        topic: String,
        /// Its QoS.
        qos: QoS,
        /// Its payload.
        payload: bytes::Bytes,
    },
    /// The broker acknowledged a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) publish.
    Acked,
    /// A PUBLISH went out.
    PublishSent,
    /// The DISCONNECT went out.
    DisconnectSent,
    /// Anything else (pings, ...).
    Other,
}

/// The event loop of an [`MqttClient`].
pub enum MqttEventLoop {
    /// MQTT 3.1.1.
    V4(Box<rumqttc::EventLoop>),
    /// MQTT 5.
    V5(Box<rumqttc::v5::EventLoop>),
}

impl MqttEventLoop {
    /// Drives the connection until the next event; an error means the
    /// connection is lost (polling again reconnects).
    pub async fn poll(&mut self) -> Result<MqttEvent, String> {
        use rumqttc::{Event, Outgoing, Packet};
        match self {
            Self::V4(e) => Ok(match e.poll().await.map_err(|e| e.to_string())? {
                Event::Incoming(Packet::ConnAck(_)) => MqttEvent::ConnAck,
                Event::Incoming(Packet::SubAck(_)) => MqttEvent::SubAck,
                Event::Incoming(Packet::Publish(p)) => {
                    MqttEvent::Publish { topic: p.topic, qos: p.qos, payload: p.payload }
                }
                Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)) => MqttEvent::Acked,
                Event::Outgoing(Outgoing::Publish(_)) => MqttEvent::PublishSent,
                Event::Outgoing(Outgoing::Disconnect) => MqttEvent::DisconnectSent,
                _ => MqttEvent::Other,
            }),
            Self::V5(e) => Ok(match e.poll().await.map_err(|e| e.to_string())? {
                rumqttc::v5::Event::Incoming(Packet5::ConnAck(_)) => MqttEvent::ConnAck,
                rumqttc::v5::Event::Incoming(Packet5::SubAck(_)) => MqttEvent::SubAck,
                rumqttc::v5::Event::Incoming(Packet5::Publish(p)) => MqttEvent::Publish {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    qos: match p.qos {
                        rumqttc::v5::mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
                        rumqttc::v5::mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
                    },
                    payload: p.payload,
                },
                rumqttc::v5::Event::Incoming(Packet5::PubAck(_) | Packet5::PubComp(_)) => MqttEvent::Acked,
                rumqttc::v5::Event::Outgoing(Outgoing::Publish(_)) => MqttEvent::PublishSent,
                rumqttc::v5::Event::Outgoing(Outgoing::Disconnect) => MqttEvent::DisconnectSent,
                _ => MqttEvent::Other,
            }),
        }
    }
}

static CLIENT_SEQ: AtomicU64 = AtomicU64::new(0);

fn unique_id(hint: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let hint: String = hint.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(40).collect();
    format!("oort-{hint}-{}-{nanos:x}-{}", std::process::id(), CLIENT_SEQ.fetch_add(1, Ordering::Relaxed))
}

/// The state of one MQTT client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Not connected yet.
    Connecting,
    /// Connected to the broker.
    Connected,
    /// The connection is lost; reconnecting with backoff.
    Disconnected(String),
}

impl std::fmt::Display for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Connected => f.write_str("connected"),
            Self::Disconnected(why) => write!(f, "disconnected: {why}"),
        }
    }
}

/// Process-wide MQTT state: connection states and shared subscriptions.
#[derive(Default)]
pub struct MqttHub {
    states: Mutex<BTreeMap<String, ConnState>>,
    pub(crate) shared: Mutex<BTreeMap<String, Arc<source::SharedSubscription>>>,
}

impl MqttHub {
    /// Records the state of a client (`rule/<id>/source/<stream>`, `rule/<id>/sink/mqtt`, ...).
    pub fn set_state(&self, client: &str, state: ConnState) {
        if let Ok(mut s) = self.states.lock() {
            let changed = s.get(client) != Some(&state);
            if changed {
                tracing::info!(client, state = %state, "mqtt connection");
            }
            s.insert(client.to_string(), state);
        }
    }

    /// Forgets a client that stopped.
    pub fn remove(&self, client: &str) {
        if let Ok(mut s) = self.states.lock() {
            s.remove(client);
        }
    }

    /// The state of every MQTT client whose key starts with `prefix`
    /// (`rule/<id>/` for one rule's clients).
    pub fn states(&self, prefix: &str) -> BTreeMap<String, String> {
        match self.states.lock() {
            Ok(s) => s
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// The connection state of the MQTT clients of a rule, keyed by
    /// `source/<stream>` or `sink/<n>`.
    pub fn rule_states(&self, rule_id: &str) -> BTreeMap<String, String> {
        let prefix = format!("rule/{rule_id}/");
        self.states(&prefix).into_iter().map(|(k, v)| (k[prefix.len()..].to_string(), v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_profiles() {
        let p = json!({"server": "ssl://broker:8884", "qos": 1, "clientid": "c1", "username": "u"});
        let c = ClientConfig::from_props(p.as_object().unwrap(), DEFAULT_SERVER).unwrap();
        assert_eq!(c.endpoint().unwrap(), (true, "broker".to_string(), 8884));
        assert_eq!(c.qos, QoS::AtLeastOnce);
        let d = ClientConfig::from_props(&Map::new(), "tcp://127.0.0.1:1999").unwrap();
        assert_eq!(d.endpoint().unwrap(), (false, "127.0.0.1".to_string(), 1999));
        let bad = json!({"qos": 3});
        assert!(ClientConfig::from_props(bad.as_object().unwrap(), DEFAULT_SERVER).is_err());
        let v5 = json!({"protocolVersion": "5"});
        assert!(ClientConfig::from_props(v5.as_object().unwrap(), DEFAULT_SERVER).unwrap().is_v5());
        let v6 = json!({"protocolVersion": "6"});
        assert!(ClientConfig::from_props(v6.as_object().unwrap(), DEFAULT_SERVER).is_err());
    }
}
