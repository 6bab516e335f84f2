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
//! backoff, before anything newer, until the target is back; once it is
//! back, cached messages go out `resendInterval` apart. With
//! `resendAlterQueue`, live messages do not wait behind the cache
//! (`resendPriority` -1: resend only while no live message waits, 0: both
//! in turn, 1: cache first, as without the alternate queue), and
//! `resendIndicatorField` marks resent rows. Every failure counts in
//! `exceptions_total`; a message is only given up (and counted) when
//! caching is off or the cache refuses it.
//!
//! The cache of a rule's sink lives under the data directory
//! (`sink-cache/<rule>.<n>.<sink>.jsonl`), so what is undelivered when the
//! rule stops or the server stops or dies is resent, in order and before
//! newer results, when the rule runs again (unless `cleanCacheAtStop`).
//! One lane at a time opens a given cache file (a restarting rule waits for
//! its previous lane to close); deleting the rule removes its cache files
//! ([`remove_cached`]).
//!
//! Results of `delay(ms, x)` carry a release delay; the driver holds such
//! an emission (and everything after it, to keep the rule's order) until
//! `max(arrival + ms, previous release)` with `tokio::time::sleep_until`,
//! so workers never sleep.

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
    /// `resendInterval`: wait between two resent cached messages once the target is back, ms.
    pub resend_interval_ms: u64,
    /// `resendAlterQueue`: live messages do not wait behind cached ones.
    pub resend_alter_queue: bool,
    /// `resendPriority` (with `resendAlterQueue`): -1 live first, 0 in turn, 1 cache first.
    pub resend_priority: i64,
    /// `resendIndicatorField`: a field set to `true` in resent rows.
    pub resend_indicator_field: Option<String>,
    /// `cleanCacheAtStop`: forget the cache when the rule stops instead of keeping it for the next run.
    pub clean_cache_at_stop: bool,
    /// Where this sink's cache persists (`<data_dir>/sink-cache/<rule>.<n>.<sink>.jsonl`);
    /// `None` keeps it in a temporary file for the life of the lane.
    pub cache_path: Option<PathBuf>,
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
            resend_interval_ms: 0,
            resend_alter_queue: false,
            resend_priority: 0,
            resend_indicator_field: None,
            clean_cache_at_stop: false,
            cache_path: None,
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
            resend_interval_ms: num(props, "resendInterval").unwrap_or(0),
            resend_alter_queue: flag(props, "resendAlterQueue").unwrap_or(false),
            resend_priority: match props.get("resendPriority") {
                Some(Json::Number(n)) => n.as_i64().unwrap_or(0).clamp(-1, 1),
                Some(Json::String(s)) => s.trim().parse::<i64>().unwrap_or(0).clamp(-1, 1),
                _ => 0,
            },
            resend_indicator_field: props
                .get("resendIndicatorField")
                .and_then(Json::as_str)
                .filter(|f| !f.is_empty())
                .map(str::to_string),
            clean_cache_at_stop: flag(props, "cleanCacheAtStop").unwrap_or(false),
            cache_path: None,
            rule_id: props.get("ruleId").and_then(Json::as_str).unwrap_or_default().to_string(),
        }
    }

    /// Keeps the cache of the `index`-th sink of the rule under `data_dir`,
    /// so it survives restarts.
    pub fn with_cache_location(mut self, data_dir: &std::path::Path, index: usize, sink: &str) -> Self {
        let file = format!("{}.{index}.{}.jsonl", sanitize(&self.rule_id), sanitize(sink));
        self.cache_path = Some(data_dir.join("sink-cache").join(file));
        self
    }

    /// Whether live messages wait behind cached ones.
    fn live_waits_for_cache(&self) -> bool {
        !self.resend_alter_queue || self.resend_priority > 0
    }

    fn rows(&self, e: &Emission) -> Vec<Json> {
        match e {
            Emission::Error(msg) => vec![serde_json::json!({ "error": msg.to_string() })],
            Emission::Rows(rows) | Emission::Delayed { rows, .. } => rows
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
    pub async fn run(self, mut emissions: mpsc::UnboundedReceiver<Vec<Emission>>) {
        let mut lanes = Vec::new();
        for (sink, props) in self.sinks {
            let (tx, rx) = mpsc::channel::<Arc<Emission>>(props.buffer_length);
            let (metrics, clock) = (self.metrics.clone(), self.clock.clone());
            lanes.push((tx, tokio::spawn(async move { Lane::open(sink, props, metrics, clock).await.run(rx).await })));
        }
        // Emissions held back by `delay()`, each with its release time;
        // everything behind a held emission waits too (the rule's order).
        let mut held: std::collections::VecDeque<(Instant, Emission)> = std::collections::VecDeque::new();
        let mut last_release = Instant::now();
        let mut open = true;
        while open || !held.is_empty() {
            let due = held.front().map(|(at, _)| *at);
            tokio::select! {
                batch = emissions.recv(), if open => match batch {
                    Some(batch) => {
                        self.metrics.pending_out.fetch_sub(batch.len() as i64, Ordering::Relaxed);
                        for e in batch {
                            let now = Instant::now();
                            let at = match &e {
                                Emission::Delayed { delay_ms, .. } => now + Duration::from_millis(*delay_ms),
                                _ => now,
                            };
                            last_release = last_release.max(at);
                            if held.is_empty() && last_release <= now {
                                deliver(&lanes, e).await;
                            } else {
                                held.push_back((last_release, e));
                            }
                        }
                    }
                    None => open = false,
                },
                _ = sleep_until_opt(due) => {
                    if let Some((_, e)) = held.pop_front() {
                        deliver(&lanes, e).await;
                    }
                }
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

/// Hands one emission to every sink lane, waiting while a lane is full.
async fn deliver(lanes: &[(mpsc::Sender<Arc<Emission>>, tokio::task::JoinHandle<()>)], e: Emission) {
    let e = Arc::new(e);
    for (tx, _) in lanes {
        let _ = tx.send(e.clone()).await;
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

/// Counter making temporary cache file names unique within the process.
static LANE_SEQ: AtomicU64 = AtomicU64::new(0);

/// One lock per cache file: the lane that holds it is the only one reading
/// or writing that file.
fn cache_lock(path: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::OnceLock::new();
    let mut locks = match LOCKS.get_or_init(Default::default).lock() {
        Ok(l) => l,
        Err(p) => p.into_inner(),
    };
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(path.to_path_buf()).or_default().clone()
}

/// One sink of a rule with its batch, retry and cache state.
struct Lane {
    sink: Box<dyn Sink>,
    props: SinkProps,
    metrics: Arc<RuleMetrics>,
    clock: Arc<dyn Clock>,
    batch: Vec<Json>,
    cache: SinkCache,
    /// Wait before the next resend after a failure (doubles up to `maxRetryInterval`).
    backoff: Duration,
    /// When the next cached message may be resent.
    next_resend: Instant,
    _cache_lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Lane {
    /// Opens the lane, taking over the cache a previous run of the rule
    /// left (waiting for that run's lane to close first).
    async fn open(sink: Box<dyn Sink>, props: SinkProps, metrics: Arc<RuleMetrics>, clock: Arc<dyn Clock>) -> Self {
        let persistent = props.enable_cache && props.cache_path.is_some();
        let (path, lock) = match (&props.cache_path, persistent) {
            (Some(p), true) => (p.clone(), Some(cache_lock(p).lock_owned().await)),
            _ => {
                let file = format!(
                    "{}-{}-{}-{}.jsonl",
                    sanitize(&props.rule_id),
                    sink.name(),
                    std::process::id(),
                    LANE_SEQ.fetch_add(1, Ordering::Relaxed)
                );
                (std::env::temp_dir().join("oort-sink-cache").join(file), None)
            }
        };
        let cache = SinkCache::new(props.memory_cache, props.max_disk_cache, path, persistent);
        let backoff = Duration::from_millis(props.retry_interval_ms.max(1));
        Self {
            sink,
            props,
            metrics,
            clock,
            batch: Vec::new(),
            cache,
            backoff,
            next_resend: Instant::now(),
            _cache_lock: lock,
        }
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
        // Result rows the lane has rendered go back to the workers (the last lane holding them).
        let mut recycler = oort_operators::out_rows::Recycler::default();
        loop {
            // With resendPriority -1, resend only while no live message waits.
            let live_first = self.props.resend_alter_queue && self.props.resend_priority < 0;
            let live_waiting = live_first && !rx.is_empty();
            let resend_at = (!self.cache.is_empty() && !live_waiting).then_some(self.next_resend);
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
                    if let Ok(e) = Arc::try_unwrap(e) {
                        recycler.give(e);
                    }
                }
                _ = sleep_until_opt(linger) => {
                    linger = None;
                    let rows = std::mem::take(&mut self.batch);
                    self.offer_rows(rows).await;
                }
                _ = sleep_until_opt(resend_at) => {
                    self.resend_one().await;
                }
            }
        }
        let rows = std::mem::take(&mut self.batch);
        if !rows.is_empty() {
            self.offer_rows(rows).await;
        }
        self.close_cache().await;
        if let Err(err) = self.sink.close().await {
            self.fail(&err);
        }
    }

    /// At close: a persistent cache keeps what is left for the next run
    /// (which resends it first); otherwise the cache is resent for a while
    /// (`resendInterval` apart), then given up (counted).
    async fn close_cache(&mut self) {
        let keep = self.props.enable_cache && self.props.cache_path.is_some() && !self.props.clean_cache_at_stop;
        if self.cache.is_empty() {
            return;
        }
        if keep {
            tracing::info!(
                rule = %self.props.rule_id,
                path = %self.cache.path().display(),
                count = self.cache.len(),
                "{} sink: cached messages kept for the next run", self.sink.name()
            );
            return;
        }
        let give_up = Instant::now() + CLOSE_DRAIN;
        while !self.cache.is_empty() && Instant::now() < give_up {
            let wait = if self.resend_one().await {
                Duration::from_millis(self.props.resend_interval_ms)
            } else {
                self.backoff
            };
            if !self.cache.is_empty() && !wait.is_zero() {
                tokio::time::sleep(wait.min(give_up.saturating_duration_since(Instant::now()))).await;
            }
        }
        if !self.cache.is_empty() {
            let msg = format!("{} sink: {} cached messages undelivered at close", self.sink.name(), self.cache.len());
            tracing::error!(rule = %self.props.rule_id, "{msg}");
            self.metrics.exception(&msg, self.clock.now_ms());
            self.cache.clear();
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
        if !self.cache.is_empty() && self.props.live_waits_for_cache() {
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
        if self.cache.is_empty() {
            self.next_resend = Instant::now() + self.backoff;
        }
        if self.cache.push(m.to_cached()).is_err() {
            let msg = format!("{} sink: cache full, message dropped", self.sink.name());
            self.metrics.exception(&msg, self.clock.now_ms());
        }
    }

    /// Resends the oldest cached message; says whether it went through.
    /// The next one is due `resendInterval` later, or after a doubled
    /// backoff when this one failed.
    async fn resend_one(&mut self) -> bool {
        let Some(m) = self.cache.front() else { return true };
        let mut m = Out::from_cached(m.clone());
        if let Some(field) = &self.props.resend_indicator_field {
            mark_resent(&mut m.message, field);
        }
        match self.deliver(&m).await {
            Ok(()) => {
                self.cache.pop();
                self.backoff = Duration::from_millis(self.props.retry_interval_ms.max(1));
                self.next_resend = Instant::now() + Duration::from_millis(self.props.resend_interval_ms);
                true
            }
            Err(err) => {
                self.fail(&err);
                let max = Duration::from_millis(self.props.max_retry_interval_ms.max(self.props.retry_interval_ms));
                self.backoff = (self.backoff * 2).min(max);
                self.next_resend = Instant::now() + self.backoff;
                false
            }
        }
    }
}

/// Sets `field: true` in the row(s) of a resent message.
fn mark_resent(message: &mut Json, field: &str) {
    match message {
        Json::Object(o) => {
            o.insert(field.to_string(), Json::Bool(true));
        }
        Json::Array(a) => {
            for r in a.iter_mut() {
                if let Json::Object(o) = r {
                    o.insert(field.to_string(), Json::Bool(true));
                }
            }
        }
        _ => {}
    }
}

/// Removes the persisted sink caches of a rule (when it is deleted).
/// Names are `<rule>.<n>.<sink>.jsonl[.pos]` with `.` never in a sanitized
/// rule id, so another rule's files never match.
pub fn remove_cached(data_dir: &std::path::Path, rule_id: &str) {
    let prefix = format!("{}.", sanitize(rule_id));
    let Ok(entries) = std::fs::read_dir(data_dir.join("sink-cache")) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ours && let Err(err) = std::fs::remove_file(e.path()) {
            tracing::warn!(path = %e.path().display(), error = %err, "cannot remove the sink cache of a deleted rule");
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

    /// Records messages (and when they came); fails the first `fail` deliveries.
    struct Recorder {
        got: Arc<Mutex<Vec<Json>>>,
        at: Arc<Mutex<Vec<Instant>>>,
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
                self.at.lock().map_err(|_| SinkError("poisoned".into()))?.push(Instant::now());
                Ok(())
            })
        }
    }

    fn row(i: i64) -> Emission {
        Emission::Rows(vec![vec![(Arc::from("i"), Value::Int(i))]])
    }

    async fn run(props: Json, fail: usize, emissions: Vec<Emission>) -> (Vec<Json>, u64) {
        let (got, _, exceptions) = run_timed(props, fail, emissions).await;
        (got, exceptions)
    }

    async fn run_timed(props: Json, fail: usize, emissions: Vec<Emission>) -> (Vec<Json>, Vec<Instant>, u64) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let at = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(RuleMetrics::default());
        let props = SinkProps::from_props(props.as_object().unwrap());
        let driver = SinkDriver {
            sinks: vec![(Box::new(Recorder { got: got.clone(), at: at.clone(), fail }), props)],
            metrics: metrics.clone(),
            clock: Arc::new(SystemClock),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        for e in emissions {
            tx.send(vec![e]).unwrap();
        }
        drop(tx);
        driver.run(rx).await;
        let got = got.lock().unwrap().clone();
        let at = at.lock().unwrap().clone();
        (got, at, metrics.exceptions.load(Ordering::Relaxed))
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

    #[tokio::test]
    async fn resend_interval_spaces_resent_messages() {
        let props = json!({"sendSingle": true, "enableCache": true, "retryInterval": 1, "resendInterval": 80});
        let (got, at, _) = run_timed(props, 1, (0..4).map(row).collect()).await;
        assert_eq!(got, (0..4).map(|i| json!({"i": i})).collect::<Vec<_>>());
        for w in at.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_millis(80), "resent {:?} apart", w[1] - w[0]);
        }
    }

    #[tokio::test]
    async fn alternate_queue_lets_live_messages_pass_the_cache() {
        let props = json!({"sendSingle": true, "enableCache": true, "retryInterval": 200,
            "resendAlterQueue": true, "resendIndicatorField": "resent"});
        let (got, _) = run(props, 1, (0..4).map(row).collect()).await;
        assert_eq!(got, vec![json!({"i": 1}), json!({"i": 2}), json!({"i": 3}), json!({"i": 0, "resent": true})]);
        // resendPriority 1: the cache first, as without the alternate queue
        let props = json!({"sendSingle": true, "enableCache": true, "retryInterval": 1,
            "resendAlterQueue": true, "resendPriority": 1});
        let (got, _) = run(props, 1, (0..4).map(row).collect()).await;
        assert_eq!(got, (0..4).map(|i| json!({"i": i})).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn delayed_emissions_wait_and_keep_the_rule_order() {
        let delayed =
            |i: i64, ms: u64| Emission::Delayed { delay_ms: ms, rows: vec![vec![(Arc::from("i"), Value::Int(i))]] };
        let start = Instant::now();
        let (got, at, _) =
            run_timed(json!({"sendSingle": true}), 0, vec![delayed(0, 150), row(1), delayed(2, 10), row(3)]).await;
        assert_eq!(got, (0..4).map(|i| json!({"i": i})).collect::<Vec<_>>());
        assert!(at[0] - start >= Duration::from_millis(150));
        // later results are not released before an earlier delayed one
        assert!(at.iter().all(|t| *t >= at[0]));
    }

    #[tokio::test]
    async fn a_persistent_cache_is_resent_by_the_next_run() {
        let dir = std::env::temp_dir().join(format!("oort-sink-persist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let props = |p: Json| SinkProps::from_props(p.as_object().unwrap()).with_cache_location(&dir, 0, "recorder");
        let drive = |fail: usize, emissions: Vec<Emission>, p: SinkProps| {
            let got = Arc::new(Mutex::new(Vec::new()));
            let sink = Recorder { got: got.clone(), at: Arc::new(Mutex::new(Vec::new())), fail };
            let driver = SinkDriver {
                sinks: vec![(Box::new(sink), p)],
                metrics: Arc::new(RuleMetrics::default()),
                clock: Arc::new(SystemClock),
            };
            let (tx, rx) = mpsc::unbounded_channel();
            for e in emissions {
                tx.send(vec![e]).unwrap();
            }
            async move {
                // The rule runs a while before it stops.
                let run = tokio::spawn(driver.run(rx));
                tokio::time::sleep(Duration::from_millis(200)).await;
                drop(tx);
                run.await.unwrap();
                got.lock().unwrap().clone()
            }
        };
        let cfg = json!({"ruleId": "r", "sendSingle": true, "enableCache": true, "retryInterval": 60000, "memoryCacheThreshold": 2});
        // The target fails throughout the first run: everything stays cached.
        let first = drive(usize::MAX, (0..5).map(row).collect(), props(cfg.clone())).await;
        assert!(first.is_empty());
        assert!(dir.join("sink-cache/r.0.recorder.jsonl").exists());
        // The next run resends it first, then its own results.
        let second = drive(0, (5..7).map(row).collect(), props(cfg.clone())).await;
        assert_eq!(second, (0..7).map(|i| json!({"i": i})).collect::<Vec<_>>());
        assert!(!dir.join("sink-cache/r.0.recorder.jsonl").exists());
        // cleanCacheAtStop: nothing is kept.
        let mut clean = cfg.clone();
        clean["cleanCacheAtStop"] = json!(true);
        drive(usize::MAX, vec![row(9)], props(clean)).await;
        assert!(drive(0, vec![], props(cfg.clone())).await.is_empty());
        // A deleted rule's cache goes; another rule's (`r.x`, `r2`) stays.
        drive(usize::MAX, vec![row(1)], props(cfg)).await;
        std::fs::write(dir.join("sink-cache/r2.0.recorder.jsonl"), "1\n").unwrap();
        std::fs::write(dir.join("sink-cache/r.x.jsonl"), "1\n").unwrap();
        remove_cached(&dir, "r");
        let mut left: Vec<String> = std::fs::read_dir(dir.join("sink-cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["r.x.jsonl", "r2.0.recorder.jsonl"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
