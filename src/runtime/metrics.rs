//! Per-rule counters, shared between the workers that run a rule, its source
//! tasks and its sink driver, and read by the status API. eKuiper's metric
//! names are used where they are reported.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters of one rule.
#[derive(Debug, Default)]
pub struct RuleMetrics {
    /// Records fed into the rule (`records_in_total`).
    pub records_in: AtomicU64,
    /// Result rows emitted (`records_out_total`).
    pub records_out: AtomicU64,
    /// Errors: bad records, evaluation errors, sink failures (`exceptions_total`).
    pub exceptions: AtomicU64,
    /// Event-time records dropped as late.
    pub late: AtomicU64,
    /// Emissions queued for the sinks and not yet taken (`buffer_length`).
    pub pending_out: AtomicI64,
    /// Time of the last emission, ms (`last_invocation`).
    pub last_invocation: AtomicU64,
    /// The last error and its time (`last_exception`, `last_exception_time`).
    pub last_exception: Mutex<Option<(String, u64)>>,
    /// A failure that stops the rule (a panic in one of its operators or connectors).
    pub fatal: Mutex<Option<String>>,
    /// When (µs on [`monotonic_us`]) a worker last took a batch of this rule off its feed.
    pub batch_taken_us: AtomicU64,
    /// Time from a worker taking a batch off the rule's feed to the batch's
    /// results reaching the rule's sink queue, µs, last measured (`process_latency_us`).
    pub process_latency_us: AtomicU64,
}

/// Microseconds on a process-wide monotonic clock.
pub fn monotonic_us() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_micros() as u64
}

impl RuleMetrics {
    /// Records a failure that stops the rule.
    pub fn fail(&self, message: &str) {
        if let Ok(mut f) = self.fatal.lock()
            && f.is_none()
        {
            *f = Some(message.to_string());
        }
    }

    /// The failure that stopped the rule, if any.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    /// Records an error.
    pub fn exception(&self, message: &str, now_ms: u64) {
        self.exceptions.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_exception.lock() {
            *last = Some((message.to_string(), now_ms));
        }
    }

    /// A snapshot as eKuiper-named `(metric, value)` pairs.
    pub fn snapshot(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let get = |a: &AtomicU64| serde_json::Value::from(a.load(Ordering::Relaxed));
        m.insert("records_in_total".into(), get(&self.records_in));
        m.insert("records_out_total".into(), get(&self.records_out));
        m.insert("exceptions_total".into(), get(&self.exceptions));
        m.insert("late_records_total".into(), get(&self.late));
        m.insert("buffer_length".into(), serde_json::Value::from(self.pending_out.load(Ordering::Relaxed).max(0)));
        m.insert("last_invocation".into(), get(&self.last_invocation));
        m.insert("messages_processed_total".into(), get(&self.records_in));
        m.insert("process_latency_us".into(), get(&self.process_latency_us));
        let (msg, at) = self.last_exception.lock().ok().and_then(|l| l.clone()).unwrap_or_default();
        m.insert("last_exception".into(), serde_json::Value::from(msg));
        m.insert("last_exception_time".into(), serde_json::Value::from(at));
        m
    }
}
