//! The sink side of a rule: the [`Sink`] trait, eKuiper's common sink
//! properties ([`SinkProps`]) and the [`SinkDriver`] task that feeds a rule's
//! emissions to its sinks, counting failures in the rule's metrics.
//!
//! Each sink of a rule runs in its own lane (a tokio task behind a queue of
//! `bufferLength` emissions), so a slow or failing sink does not hold up the
//! others until its queue is full, and then it slows the rule
//! (backpressure). A lane turns emissions into messages (`fields`,
//! `omitIfEmpty`, `sendSingle`, `batchSize` + `lingerInterval`,
//! `dataTemplate`) and delivers them in order. A failed delivery is retried
//! `retryCount` times `retryInterval` apart; then, with `enableCache`, the
//! message waits in a [`SinkCache`] (memory, then disk) and is resent, with
//! backoff, before anything newer, until the target is back. Every failure
//! counts in `exceptions_total`; a message is only given up (and counted)
//! when caching is off or the cache refuses it at close.

use super::cache::SinkCache;
use super::template::Template;
use crate::runtime::clock::Clock;
use crate::runtime::metrics::RuleMetrics;
use oort_operators::query::Emission;
use oort_operators::value;
use serde_json::{Map, Value as Json};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A sink failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// A boxed future, for dyn-compatible async sink methods.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// A destination for results.
pub trait Sink: Send {
    /// The sink's type name (for messages).
    fn name(&self) -> &str;
    /// Delivers one message: an array of row objects, one row object when
    /// `sendSingle` is set, or a string rendered by `dataTemplate`.
    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a>;
    /// Delivers a message that `dataTemplate` rendered from `data` (the row,
    /// or the rows); templates in the sink's own properties (topic, URL,
    /// headers) read `data`. By default the same as [`Sink::collect`].
    fn collect_rendered<'a>(&'a mut self, message: &'a Json, data: &'a Json) -> SinkFuture<'a> {
        let _ = data;
        self.collect(message)
    }
    /// Flushes and releases everything; called once when the rule stops.
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }
    /// Why this sink can never deliver again (a plugin sink that panicked), if so: its rule
    /// then stops by error instead of retrying.
    fn fatal(&self) -> Option<String> {
        None
    }
}

/// eKuiper's properties common to every sink.
#[derive(Debug, Clone)]
pub struct SinkProps {
    /// Send each row as its own message instead of the emission's rows as an array.
    pub send_single: bool,
    /// Send nothing for an empty result.
    pub omit_if_empty: bool,
    /// Keep only these fields of each row.
    pub fields: Option<Vec<String>>,
    /// `dataTemplate`: the message becomes this template rendered against it.
    pub data_template: Option<Template>,
    /// `batchSize`: rows gathered across emissions into one message (0: off).
    pub batch_size: usize,
    /// `lingerInterval`: longest wait for a batch to fill, ms (0: wait for `batchSize`).
    pub linger_ms: u64,
    /// `bufferLength`: emissions queued for this sink.
    pub buffer_length: usize,
    /// `enableCache`: keep failed messages and resend them in order.
    pub enable_cache: bool,
    /// `retryCount`: immediate retries of a failed delivery.
    pub retry_count: u32,
    /// `retryInterval`: wait between retries and first resend backoff, ms.
    pub retry_interval_ms: u64,
    /// `maxRetryInterval`: longest wait between resends of cached messages, ms.
    pub max_retry_interval_ms: u64,
    /// `memoryCacheThreshold`: cached messages kept in memory.
    pub memory_cache: usize,
    /// `maxDiskCache`: cached messages spilled to disk beyond the memory part.
    pub max_disk_cache: usize,
    /// The rule (`ruleId`), for names of cache files and messages.
    pub rule_id: String,
}

impl Default for SinkProps {
    fn default() -> Self {
        Self {
            send_single: false,
            omit_if_empty: false,
            fields: None,
            data_template: None,
            batch_size: 0,
            linger_ms: 0,
            buffer_length: 1024,
            enable_cache: false,
            retry_count: 0,
            retry_interval_ms: 1000,
            max_retry_interval_ms: 5000,
            memory_cache: 1024,
            max_disk_cache: 1_024_000,
            rule_id: String::new(),
        }
    }
}

fn num(props: &Map<String, Json>, key: &str) -> Option<u64> {
    match props.get(key)? {
        Json::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(props: &Map<String, Json>, key: &str) -> Option<bool> {
    match props.get(key)? {
        Json::Bool(b) => Some(*b),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl SinkProps {
    /// Reads the common properties of an action.
    pub fn from_props(props: &Map<String, Json>) -> Self {
        let d = Self::default();
        Self {
            send_single: flag(props, "sendSingle").unwrap_or(false),
            omit_if_empty: flag(props, "omitIfEmpty").unwrap_or(false),
            fields: props
                .get("fields")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()),
            data_template: props
                .get("dataTemplate")
                .and_then(Json::as_str)
                .filter(|t| !t.is_empty())
                .map(Template::parse),
            batch_size: num(props, "batchSize").unwrap_or(0) as usize,
            linger_ms: num(props, "lingerInterval").unwrap_or(0),
            buffer_length: num(props, "bufferLength").map(|n| n as usize).unwrap_or(d.buffer_length).max(1),
            enable_cache: flag(props, "enableCache").unwrap_or(false),
            retry_count: num(props, "retryCount").unwrap_or(0) as u32,
            retry_interval_ms: num(props, "retryInterval").unwrap_or(d.retry_interval_ms),
            max_retry_interval_ms: num(props, "maxRetryInterval").unwrap_or(d.max_retry_interval_ms),
            memory_cache: num(props, "memoryCacheThreshold").map(|n| n as usize).unwrap_or(d.memory_cache),
            max_disk_cache: num(props, "maxDiskCache").map(|n| n as usize).unwrap_or(d.max_disk_cache),
            rule_id: props.get("ruleId").and_then(Json::as_str).unwrap_or_default().to_string(),
        }
    }

    fn rows(&self, e: &Emission) -> Vec<Json> {
        match e {
            Emission::Error(msg) => vec![serde_json::json!({ "error": msg.to_string() })],
            Emission::Rows(rows) => rows
                .iter()
                .map(|r| {
                    Json::Object(
                        r.iter()
                            .filter(|(k, _)| self.fields.as_ref().is_none_or(|f| f.iter().any(|x| **x == **k)))
                            .map(|(k, v)| (k.to_string(), value::to_json(v)))
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    /// Messages of some rows, each with the data it was rendered from when
    /// `dataTemplate` is set.
    fn shape(&self, rows: Vec<Json>) -> Vec<Out> {
        if rows.is_empty() && self.omit_if_empty {
            return Vec::new();
        }
        let messages = if self.send_single { rows } else { vec![Json::Array(rows)] };
        match &self.data_template {
            Some(t) => {
                messages.into_iter().map(|m| Out { message: Json::String(t.render(&m)), data: Some(m) }).collect()
            }
            None => messages.into_iter().map(|m| Out { message: m, data: None }).collect(),
        }
    }

    /// The messages one emission becomes (without batching).
    pub fn messages(&self, e: &Emission) -> Vec<Json> {
        self.shape(self.rows(e)).into_iter().map(|o| o.message).collect()
    }

    fn batching(&self) -> bool {
        self.batch_size > 0 && !self.send_single
    }
}

/// Drives the sinks of one rule until its emission queue closes.
pub struct SinkDriver {
    /// `(sink, its common properties)` per action.
    pub sinks: Vec<(Box<dyn Sink>, SinkProps)>,
    /// The rule's counters.
    pub metrics: Arc<RuleMetrics>,
    /// Processing time (for error timestamps).
    pub clock: Arc<dyn Clock>,
}

impl SinkDriver {
    /// Runs until every worker has dropped the rule, then lets every sink
    /// deliver what it holds and closes it.
    pub async fn run(self, mut emissions: mpsc::UnboundedReceiver<Emission>) {
        let mut lanes = Vec::new();
        for (sink, props) in self.sinks {
            let (tx, rx) = mpsc::channel::<Arc<Emission>>(props.buffer_length);
            let lane = Lane::new(sink, props, self.metrics.clone(), self.clock.clone());
            lanes.push((tx, tokio::spawn(lane.run(rx))));
        }
        while let Some(e) = emissions.recv().await {
            self.metrics.pending_out.fetch_sub(1, Ordering::Relaxed);
            let e = Arc::new(e);
            for (tx, _) in &lanes {
                let _ = tx.send(e.clone()).await;
            }
        }
        for (tx, task) in lanes {
            drop(tx);
            if let Err(e) = task.await {
                self.metrics.exception(&format!("sink stopped: {e}"), self.clock.now_ms());
            }
        }
    }
}

/// A message to deliver, with the data a template rendered it from.
struct Out {
    message: Json,
    data: Option<Json>,
}

impl Out {
    /// The form kept in the cache.
    fn to_cached(&self) -> Json {
        match &self.data {
            Some(d) => serde_json::json!({ "m": self.message, "d": d }),
            None => serde_json::json!({ "m": self.message }),
        }
    }

    fn from_cached(mut j: Json) -> Self {
        let message = j.get_mut("m").map(Json::take).unwrap_or(Json::Null);
        let data = j.get_mut("d").map(Json::take);
        Self { message, data }
    }
}

/// How long a closing sink keeps resending its cache.
const CLOSE_DRAIN: Duration = Duration::from_secs(5);

/// Counter making cache file names unique within the process.
static LANE_SEQ: AtomicU64 = AtomicU64::new(0);

/// One sink of a rule with its batch, retry and cache state.
struct Lane {
    sink: Box<dyn Sink>,
    props: SinkProps,
    metrics: Arc<RuleMetrics>,
    clock: Arc<dyn Clock>,
    batch: Vec<Json>,
    cache: SinkCache,
    backoff: Duration,
}

impl Lane {
    fn new(sink: Box<dyn Sink>, props: SinkProps, metrics: Arc<RuleMetrics>, clock: Arc<dyn Clock>) -> Self {
        let file = format!(
            "{}-{}-{}-{}.jsonl",
            sanitize(&props.rule_id),
            sink.name(),
            std::process::id(),
            LANE_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path: PathBuf = std::env::temp_dir().join("oort-sink-cache").join(file);
        let cache = SinkCache::new(props.memory_cache, props.max_disk_cache, path);
        let backoff = Duration::from_millis(props.retry_interval_ms.max(1));
        Self { sink, props, metrics, clock, batch: Vec::new(), cache, backoff }
    }

    fn fail(&self, err: &SinkError) {
        let msg = format!("{} sink: {err}", self.sink.name());
        tracing::warn!(rule = %self.props.rule_id, error = %msg, "sink failed");
        self.metrics.exception(&msg, self.clock.now_ms());
        if let Some(fatal) = self.sink.fatal() {
            self.metrics.fail(&format!("{} sink: {fatal}", self.sink.name()));
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Arc<Emission>>) {
        let mut linger: Option<Instant> = None;
        loop {
            let resend_at = (!self.cache.is_empty()).then(|| Instant::now() + self.backoff);
            tokio::select! {
                e = rx.recv(), if self.cache.has_room() => {
                    let Some(e) = e else { break };
                    if self.props.batching() {
                        let rows = self.props.rows(&e);
                        if linger.is_none() && self.props.linger_ms > 0 && !rows.is_empty() {
                            linger = Some(Instant::now() + Duration::from_millis(self.props.linger_ms));
                        }
                        self.batch.extend(rows);
                        while self.batch.len() >= self.props.batch_size {
                            let rest = self.batch.split_off(self.props.batch_size);
                            let full = std::mem::replace(&mut self.batch, rest);
                            self.offer_rows(full).await;
                            linger = None;
                        }
                    } else {
                        for m in self.props.shape(self.props.rows(&e)) {
                            self.offer(m).await;
                        }
                    }
                }
                _ = sleep_until_opt(linger) => {
                    linger = None;
                    let rows = std::mem::take(&mut self.batch);
                    self.offer_rows(rows).await;
                }
                _ = sleep_until_opt(resend_at) => {
                    self.resend().await;
                }
            }
        }
        let rows = std::mem::take(&mut self.batch);
        if !rows.is_empty() {
            self.offer_rows(rows).await;
        }
        // Keep resending what is cached for a while, then give up (counted).
        let give_up = Instant::now() + CLOSE_DRAIN;
        while !self.cache.is_empty() && Instant::now() < give_up {
            self.resend().await;
            if !self.cache.is_empty() {
                tokio::time::sleep(self.backoff.min(give_up.saturating_duration_since(Instant::now()))).await;
            }
        }
        if !self.cache.is_empty() {
            let msg = format!("{} sink: {} cached messages undelivered at close", self.sink.name(), self.cache.len());
            tracing::error!(rule = %self.props.rule_id, "{msg}");
            self.metrics.exception(&msg, self.clock.now_ms());
        }
        if let Err(err) = self.sink.close().await {
            self.fail(&err);
        }
    }

    async fn offer_rows(&mut self, rows: Vec<Json>) {
        for m in self.props.shape(rows) {
            self.offer(m).await;
        }
    }

    /// Delivers a message, or caches it behind older failed ones.
    async fn deliver(&mut self, m: &Out) -> Result<(), SinkError> {
        match &m.data {
            Some(d) => self.sink.collect_rendered(&m.message, d).await,
            None => self.sink.collect(&m.message).await,
        }
    }

    async fn offer(&mut self, m: Out) {
        if !self.cache.is_empty() {
            self.enqueue(m);
            return;
        }
        let mut attempt = 0;
        loop {
            match self.deliver(&m).await {
                Ok(()) => return,
                Err(err) => {
                    self.fail(&err);
                    if attempt >= self.props.retry_count {
                        break;
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(self.props.retry_interval_ms)).await;
                }
            }
        }
        if self.props.enable_cache {
            self.enqueue(m);
        }
    }

    fn enqueue(&mut self, m: Out) {
        if self.cache.push(m.to_cached()).is_err() {
            let msg = format!("{} sink: cache full, message dropped", self.sink.name());
            self.metrics.exception(&msg, self.clock.now_ms());
        }
    }

    /// Resends cached messages oldest first until one fails.
    async fn resend(&mut self) {
        while let Some(m) = self.cache.front() {
            let m = Out::from_cached(m.clone());
            match self.deliver(&m).await {
                Ok(()) => {
                    self.cache.pop();
                    self.backoff = Duration::from_millis(self.props.retry_interval_ms.max(1));
                }
                Err(err) => {
                    self.fail(&err);
                    let max = Duration::from_millis(self.props.max_retry_interval_ms.max(self.props.retry_interval_ms));
                    self.backoff = (self.backoff * 2).min(max);
                    return;
                }
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::SystemClock;
    use oort_operators::value::Value;
    use serde_json::json;
    use std::sync::Mutex;

    /// Records messages; fails the first `fail` deliveries.
    struct Recorder {
        got: Arc<Mutex<Vec<Json>>>,
        fail: usize,
    }

    impl Sink for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
            Box::pin(async move {
                if self.fail > 0 {
                    self.fail -= 1;
                    return Err(SinkError("down".into()));
                }
                self.got.lock().map_err(|_| SinkError("poisoned".into()))?.push(message.clone());
                Ok(())
            })
        }
    }

    fn row(i: i64) -> Emission {
        Emission::Rows(vec![vec![(Arc::from("i"), Value::Int(i))]])
    }

    async fn run(props: Json, fail: usize, emissions: Vec<Emission>) -> (Vec<Json>, u64) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(RuleMetrics::default());
        let props = SinkProps::from_props(props.as_object().unwrap());
        let driver = SinkDriver {
            sinks: vec![(Box::new(Recorder { got: got.clone(), fail }), props)],
            metrics: metrics.clone(),
            clock: Arc::new(SystemClock),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        for e in emissions {
            tx.send(e).unwrap();
        }
        drop(tx);
        driver.run(rx).await;
        let got = got.lock().unwrap().clone();
        (got, metrics.exceptions.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn batches_rows_across_emissions() {
        let (got, _) = run(json!({"batchSize": 3, "lingerInterval": 10}), 0, (0..7).map(row).collect()).await;
        let sizes: Vec<usize> = got.iter().map(|m| m.as_array().unwrap().len()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
    }

    #[tokio::test]
    async fn templates_and_single_messages() {
        let (got, _) = run(json!({"sendSingle": true, "dataTemplate": "i={{.i}}"}), 0, vec![row(1), row(2)]).await;
        assert_eq!(got, vec![json!("i=1"), json!("i=2")]);
    }

    #[tokio::test]
    async fn without_cache_a_failed_message_is_counted_and_dropped() {
        let (got, exceptions) = run(json!({"sendSingle": true}), 1, vec![row(1), row(2)]).await;
        assert_eq!(got, vec![json!({"i": 2})]);
        assert_eq!(exceptions, 1);
    }

    #[tokio::test]
    async fn with_cache_failed_messages_are_resent_in_order() {
        let props = json!({"sendSingle": true, "enableCache": true, "retryInterval": 1, "memoryCacheThreshold": 2});
        let (got, exceptions) = run(props, 4, (0..6).map(row).collect()).await;
        assert_eq!(got, (0..6).map(|i| json!({"i": i})).collect::<Vec<_>>());
        assert_eq!(exceptions, 4);
    }
}
