//! MQTT source: one rumqttc client per stream of a rule (or per stream when
//! `SHARED="true"`), subscribed to `DATASOURCE`. The client task reads the
//! broker and hands `(topic, payload)` to a bounded queue; a forwarder task
//! turns the queue into batches of [`SourceRecord`]s (raw bytes plus
//! `meta(topic)` and `meta(qos)`; decoding per the stream's FORMAT happens
//! in the workers) and waits on the rule's feed, so a slow rule stops the
//! client from reading the socket instead of growing memory.
//!
//! After a lost connection the client waits (100 ms doubling to 5 s) and
//! reconnects, subscribing again on every CONNACK. Its state (`connected`
//! once the SUBACK is in, `disconnected: <why>`) goes to the
//! [`MqttHub`](super::MqttHub), and the loss counts as an exception of the
//! rule(s).

use super::super::{ConnectorError, SourceContext, profile};
use super::{ClientConfig, ConnState, MAX_BACKOFF, MIN_BACKOFF, MqttEvent};
use crate::runtime::SourceFeed;
use crate::runtime::clock::Clock;
use crate::runtime::metrics::RuleMetrics;
use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::{Meta, Value};
use rumqttc::QoS;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most records per batch handed to a rule.
const BATCH: usize = 1024;

/// A message as read from the broker.
type Message = (String, QoS, bytes::Bytes);

/// Where a client reports lost connections.
type Report = Arc<dyn Fn(&str) + Send + Sync>;

/// Starts the source of one stream of a rule.
pub fn spawn(ctx: SourceContext) -> Result<JoinHandle<()>, ConnectorError> {
    let topic = ctx.stream.options.datasource.clone();
    if topic.is_empty() {
        return Err(ConnectorError::BadProperty {
            connector: "mqtt".into(),
            property: "DATASOURCE".into(),
            message: "a topic filter is required".into(),
        });
    }
    let props = profile::load(&ctx.env.conf_dir.join("sources"), "mqtt", ctx.stream.options.conf_key.as_deref())?;
    let mut cfg = ClientConfig::from_props(&props, &ctx.env.mqtt_default_server)?;
    if ctx.env.cluster.is_cluster() && cfg.share_group.is_none() {
        // Every process of a cluster subscribes; the broker hands each message
        // to one of them.
        let owner = if ctx.stream.options.shared { &ctx.stream.name } else { &ctx.rule_id };
        cfg.share_group = Some(cluster_share_group(owner));
    }
    if ctx.stream.options.shared {
        return Ok(attach_shared(ctx, cfg, topic));
    }
    let key = format!("rule/{}/source/{}", ctx.rule_id, ctx.stream.name);
    let conn = cfg.connect(&format!("{}-{}", ctx.rule_id, ctx.stream.name), 64)?;
    let (tx, rx) = mpsc::channel(cfg.buffer_length);
    let metrics = ctx.metrics.clone();
    let clock = ctx.clock.clone();
    let report: Report = Arc::new(move |m: &str| metrics.exception(m, clock.now_ms()));
    let client = tokio::spawn(run_client(cfg, conn, topic, key.clone(), ctx.env.clone(), tx, report));
    Ok(tokio::spawn(async move {
        let _stop = StopOnDrop { task: client, key, env: ctx.env.clone() };
        forward(
            rx,
            |batch| {
                let feed = ctx.feed.clone();
                async move { feed.send(batch).await.is_ok() }
            },
            ctx.clock.clone(),
        )
        .await;
    }))
}

/// Aborts a client task and forgets its state when the owner goes away.
struct StopOnDrop {
    task: JoinHandle<()>,
    key: String,
    env: Arc<super::super::ConnectorEnv>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.task.abort();
        self.env.mqtt.remove(&self.key);
    }
}

/// Reads the broker until the queue's reader goes away.
async fn run_client(
    cfg: ClientConfig,
    (client, mut eventloop): (super::MqttClient, super::MqttEventLoop),
    topic: String,
    key: String,
    env: Arc<super::super::ConnectorEnv>,
    tx: mpsc::Sender<Message>,
    report: Report,
) {
    let filter = match &cfg.share_group {
        Some(g) => format!("$share/{g}/{topic}"),
        None => topic,
    };
    let mut backoff = MIN_BACKOFF;
    let mut was_connected = true;
    env.mqtt.set_state(&key, ConnState::Connecting);
    loop {
        match eventloop.poll().await {
            Ok(MqttEvent::ConnAck) => {
                backoff = MIN_BACKOFF;
                was_connected = true;
                if let Err(e) = client.try_subscribe(&filter, cfg.qos) {
                    report(&format!("mqtt source {}: subscribe {filter}: {e}", cfg.server));
                }
            }
            // Connected means subscribed: from here on messages arrive.
            Ok(MqttEvent::SubAck) => env.mqtt.set_state(&key, ConnState::Connected),
            Ok(MqttEvent::Publish { topic, qos, payload }) => {
                if tx.send((topic, qos, payload)).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(why) => {
                env.mqtt.set_state(&key, ConnState::Disconnected(why.clone()));
                if was_connected {
                    was_connected = false;
                    tracing::warn!(client = %key, server = %cfg.server, error = %why, "mqtt source lost its connection; reconnecting");
                    report(&format!("mqtt source {}: {why}", cfg.server));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    let _ = client.try_disconnect();
}

/// Batches queued messages into records and hands them on while `send`
/// says the rule is there.
async fn forward<F, Fut>(mut rx: mpsc::Receiver<Message>, send: F, clock: Arc<dyn Clock>)
where
    F: Fn(Vec<SourceRecord>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut last_meta: Option<(String, QoS, Arc<Meta>)> = None;
    while let Some(first) = rx.recv().await {
        let now = clock.now_ms();
        let mut batch = Vec::with_capacity(64);
        batch.push(record(first, &mut last_meta, now));
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(record(m, &mut last_meta, now)),
                Err(_) => break,
            }
        }
        if !send(batch).await {
            break;
        }
    }
}

/// A record of one message; messages of one topic share their metadata.
fn record((topic, qos, payload): Message, last: &mut Option<(String, QoS, Arc<Meta>)>, now: u64) -> SourceRecord {
    let meta = match last {
        Some((t, q, m)) if *t == topic && *q == qos => m.clone(),
        _ => {
            let mut m = Meta::new();
            m.insert("qos".into(), Value::Int(qos as i64));
            m.insert("topic".into(), Value::from(topic.as_str()));
            let m = Arc::new(m);
            *last = Some((topic, qos, m.clone()));
            m
        }
    };
    SourceRecord { payload: Payload::Bytes(payload), meta: Some(meta), ts: now }
}

/// One subscription serving every rule of a `SHARED="true"` stream.
pub struct SharedSubscription {
    rules: Mutex<Vec<(u64, SourceFeed, Arc<RuleMetrics>)>>,
    task: Mutex<Option<JoinHandle<()>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl SharedSubscription {
    fn feeds(&self) -> Vec<(u64, SourceFeed)> {
        self.rules.lock().map(|r| r.iter().map(|(i, f, _)| (*i, f.clone())).collect()).unwrap_or_default()
    }

    fn detach(&self, id: u64) -> bool {
        match self.rules.lock() {
            Ok(mut r) => {
                r.retain(|(i, _, _)| *i != id);
                r.is_empty()
            }
            Err(_) => true,
        }
    }
}

/// Attaches a rule to the shared subscription of its stream, opening it
/// for the first rule. The returned task holds the rule's place; aborting
/// it detaches the rule, and the last rule out closes the subscription.
fn attach_shared(ctx: SourceContext, cfg: ClientConfig, topic: String) -> JoinHandle<()> {
    let name = ctx.stream.name.to_string();
    let env = ctx.env.clone();
    let (sub, id) = {
        let mut shared = match env.mqtt.shared.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let sub = shared
            .entry(name.clone())
            .or_insert_with(|| {
                Arc::new(SharedSubscription {
                    rules: Mutex::new(Vec::new()),
                    task: Mutex::new(None),
                    next_id: std::sync::atomic::AtomicU64::new(0),
                })
            })
            .clone();
        let id = sub.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut r) = sub.rules.lock() {
            r.push((id, ctx.feed.clone(), ctx.metrics.clone()));
        }
        let mut task = match sub.task.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        if task.is_none() {
            *task = Some(open_shared(&ctx, cfg, topic, sub.clone()));
        }
        drop(task);
        (sub, id)
    };
    tokio::spawn(async move {
        let _guard = Detach { env, name, sub, id };
        std::future::pending::<()>().await;
    })
}

/// Opens the client and forwarder of a shared subscription.
fn open_shared(ctx: &SourceContext, cfg: ClientConfig, topic: String, sub: Arc<SharedSubscription>) -> JoinHandle<()> {
    let key = format!("shared/{}", ctx.stream.name);
    let env = ctx.env.clone();
    let clock = ctx.clock.clone();
    let conn = match cfg.connect(&format!("shared-{}", ctx.stream.name), 64) {
        Ok(c) => c,
        Err(e) => {
            ctx.metrics.exception(&e.to_string(), clock.now_ms());
            return tokio::spawn(async {});
        }
    };
    let (tx, rx) = mpsc::channel(cfg.buffer_length);
    let report_sub = sub.clone();
    let report_clock = clock.clone();
    let report: Report = Arc::new(move |m: &str| {
        if let Ok(r) = report_sub.rules.lock() {
            for (_, _, metrics) in r.iter() {
                metrics.exception(m, report_clock.now_ms());
            }
        }
    });
    let client = tokio::spawn(run_client(cfg, conn, topic, key.clone(), env.clone(), tx, report));
    tokio::spawn(async move {
        let _stop = StopOnDrop { task: client, key, env };
        forward(
            rx,
            |batch| {
                let sub = sub.clone();
                async move {
                    for (id, feed) in sub.feeds() {
                        if feed.send(batch.clone()).await.is_err() {
                            sub.detach(id);
                        }
                    }
                    true
                }
            },
            clock,
        )
        .await;
    })
}

struct Detach {
    env: Arc<super::super::ConnectorEnv>,
    name: String,
    sub: Arc<SharedSubscription>,
    id: u64,
}

impl Drop for Detach {
    fn drop(&mut self) {
        // Under the registry lock, so no rule attaches to a closing subscription.
        let mut shared = match self.env.mqtt.shared.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if !self.sub.detach(self.id) {
            return;
        }
        if shared.get(&self.name).is_some_and(|s| Arc::ptr_eq(s, &self.sub)) {
            shared.remove(&self.name);
        }
        if let Ok(mut t) = self.sub.task.lock()
            && let Some(t) = t.take()
        {
            t.abort();
        }
    }
}

/// The shared-subscription group the processes of a cluster use for a rule
/// (or a `SHARED` stream): `oort_` and the name, with characters a group may
/// not hold (`/`, `+`, `#`) replaced.
fn cluster_share_group(owner: &str) -> String {
    let clean: String = owner.chars().map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c }).collect();
    format!("oort_{clean}")
}

#[cfg(test)]
mod cluster_tests {
    #[test]
    fn share_group_names_are_valid() {
        assert_eq!(super::cluster_share_group("r1"), "oort_r1");
        assert_eq!(super::cluster_share_group("a/b+#"), "oort_a_b__");
    }
}
