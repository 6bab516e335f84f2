//! MQTT sink: publishes each message to `topic` (a template rendered
//! against the message, so `devices/{{.deviceId}}/alarm` works with
//! `sendSingle`), with `qos`, `retained` and the payload in `format` (or the
//! `dataTemplate` text). Connection properties are the source's
//! (`server`, `clientid`, `username`, TLS files, ...), optionally from a
//! `resourceId` section of `sinks/mqtt.yaml` with the action's properties on
//! top.
//!
//! The client connects on the first message. Publishing hands the message
//! to rumqttc's bounded request queue; while the broker is away the queue
//! fills and the rule slows down (backpressure). QoS 1/2 messages that were
//! in flight when the connection dropped are kept by rumqttc and sent again
//! after the reconnect, so none are lost. Closing waits until every
//! message is acknowledged (or sent, for QoS 0), up to a bound.

use super::super::format::SinkFormat;
use super::super::sink::{Sink, SinkError, SinkFuture};
use super::super::template::Template;
use super::super::{ConnectorEnv, ConnectorError, profile};
use super::{ClientConfig, ConnState, MAX_BACKOFF, MIN_BACKOFF, MqttClient, MqttEvent, MqttEventLoop};
use rumqttc::QoS;
use serde_json::{Map, Value as Json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Longest wait at close for outstanding acknowledgements.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes results to a broker.
pub struct MqttSink {
    cfg: ClientConfig,
    topic: Template,
    retained: bool,
    format: SinkFormat,
    key: String,
    env: Arc<ConnectorEnv>,
    conn: Option<Connection>,
}

struct Connection {
    client: MqttClient,
    task: tokio::task::JoinHandle<()>,
    published: u64,
    done: Arc<AtomicU64>,
    closing: Arc<AtomicBool>,
}

static SINK_SEQ: AtomicU64 = AtomicU64::new(0);

impl MqttSink {
    /// Requires `topic`.
    pub fn new(props: &Map<String, Json>, env: &Arc<ConnectorEnv>) -> Result<Self, ConnectorError> {
        let mut merged = match props.get("resourceId").and_then(Json::as_str) {
            Some(r) => profile::load(&env.conf_dir.join("sinks"), "mqtt", Some(r))?,
            None => Map::new(),
        };
        for (k, v) in props {
            merged.insert(k.clone(), v.clone());
        }
        let topic = merged.get("topic").and_then(Json::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
            ConnectorError::BadProperty {
                connector: "mqtt".into(),
                property: "topic".into(),
                message: "a non-empty string is required".into(),
            }
        })?;
        let retained = match merged.get("retained") {
            Some(Json::Bool(b)) => *b,
            Some(Json::String(s)) => s == "true",
            _ => false,
        };
        let rule = merged.get("ruleId").and_then(Json::as_str).unwrap_or("sink").to_string();
        Ok(Self {
            topic: Template::parse(topic),
            retained,
            format: SinkFormat::from_props("mqtt", &merged)?,
            cfg: ClientConfig::from_props(&merged, &env.mqtt_default_server)?,
            key: format!("rule/{rule}/sink/mqtt-{}", SINK_SEQ.fetch_add(1, Ordering::Relaxed)),
            env: env.clone(),
            conn: None,
        })
    }

    fn connect(&mut self) -> Result<&mut Connection, SinkError> {
        if self.conn.is_none() {
            let (client, eventloop) = self.cfg.connect(&self.key, 256).map_err(|e| SinkError(e.to_string()))?;
            let done = Arc::new(AtomicU64::new(0));
            let closing = Arc::new(AtomicBool::new(false));
            let task = tokio::spawn(drive(
                eventloop,
                self.cfg.qos,
                self.cfg.server.clone(),
                self.key.clone(),
                self.env.clone(),
                done.clone(),
                closing.clone(),
            ));
            self.conn = Some(Connection { client, task, published: 0, done, closing });
        }
        self.conn.as_mut().ok_or_else(|| SinkError("not connected".into()))
    }
}

/// Polls the client's event loop: counts acknowledgements, reconnects with backoff.
async fn drive(
    mut eventloop: MqttEventLoop,
    qos: QoS,
    server: String,
    key: String,
    env: Arc<ConnectorEnv>,
    done: Arc<AtomicU64>,
    closing: Arc<AtomicBool>,
) {
    let mut backoff = MIN_BACKOFF;
    env.mqtt.set_state(&key, ConnState::Connecting);
    loop {
        match eventloop.poll().await {
            Ok(MqttEvent::ConnAck) => {
                backoff = MIN_BACKOFF;
                env.mqtt.set_state(&key, ConnState::Connected);
            }
            Ok(MqttEvent::Acked) => {
                done.fetch_add(1, Ordering::Release);
            }
            Ok(MqttEvent::PublishSent) if qos == QoS::AtMostOnce => {
                done.fetch_add(1, Ordering::Release);
            }
            Ok(MqttEvent::DisconnectSent) => break,
            Ok(_) => {}
            Err(e) => {
                if closing.load(Ordering::Acquire) {
                    break;
                }
                tracing::warn!(client = %key, server = %server, error = %e, "mqtt sink lost its connection; reconnecting");
                env.mqtt.set_state(&key, ConnState::Disconnected(e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    env.mqtt.remove(&key);
}

impl Sink for MqttSink {
    fn name(&self) -> &str {
        "mqtt"
    }

    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        self.collect_rendered(message, message)
    }

    fn collect_rendered<'a>(&'a mut self, message: &'a Json, data: &'a Json) -> SinkFuture<'a> {
        Box::pin(async move {
            let topic = self.topic.render(data);
            let payload = self.format.encode(message);
            let (qos, retained) = (self.cfg.qos, self.retained);
            let conn = self.connect()?;
            conn.client.publish(topic, qos, retained, payload).await.map_err(SinkError)?;
            conn.published += 1;
            Ok(())
        })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async move {
            let Some(conn) = self.conn.take() else { return Ok(()) };
            let target = conn.published;
            let waited = tokio::time::timeout(CLOSE_TIMEOUT, async {
                while conn.done.load(Ordering::Acquire) < target {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            conn.closing.store(true, Ordering::Release);
            let _ = conn.client.disconnect().await;
            let mut task = conn.task;
            if tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err() {
                task.abort();
            }
            self.env.mqtt.remove(&self.key);
            match waited {
                Ok(()) => Ok(()),
                Err(_) => Err(SinkError(format!(
                    "{} of {target} messages unacknowledged at close",
                    target.saturating_sub(conn.done.load(Ordering::Acquire))
                ))),
            }
        })
    }
}
