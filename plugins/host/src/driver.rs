//! Sink delivery semantics, shared by plugin sinks and built-in sinks.
//!
//! A rule hands its output to a [`SinkDriver`], never to the sink directly. The driver keeps a
//! bounded queue in front of the sink and applies eKuiper's and iLogtail's rules:
//! - while the sink's `is_ready` is false, records stay queued; when the queue is full
//!   [`SinkDriver::offer`] hands records back, and the rule slows down instead of dropping them;
//! - a `collect` that answers "retry" keeps its batch at the head of the queue, to be offered again;
//! - `batch_size` bounds a `collect` batch and, with `linger`, decides when to `flush`: after
//!   `batch_size` records were accepted, or when the oldest unflushed record is `linger` old;
//! - [`SinkDriver::shutdown`] calls `set_urgent(true)`, drains the queue, flushes and closes:
//!   nothing accepted is lost unless the deadline passes, which it reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::PluginError;
use crate::ffi::CallOutcome;
use crate::sink::PluginSink;

/// What the driver needs from a sink. Errors are messages: the rule stops with them.
pub trait DriverSink: Send {
    /// Backpressure.
    fn is_ready(&mut self) -> Result<bool, String>;
    /// Offer a batch; `Retry` keeps it.
    fn collect(&mut self, batch: &[Value]) -> Result<CallOutcome, String>;
    /// Write out anything buffered.
    fn flush(&mut self) -> Result<(), String>;
    /// Shutdown is imminent.
    fn set_urgent(&mut self, exiting: bool) -> Result<(), String>;
    /// Flush everything cached and disconnect.
    fn close(&mut self) -> Result<(), String>;
}

fn msg(e: PluginError) -> String {
    e.to_string()
}

impl DriverSink for PluginSink {
    fn is_ready(&mut self) -> Result<bool, String> {
        PluginSink::is_ready(self).map_err(msg)
    }
    fn collect(&mut self, batch: &[Value]) -> Result<CallOutcome, String> {
        PluginSink::collect(self, batch).map_err(msg)
    }
    fn flush(&mut self) -> Result<(), String> {
        PluginSink::flush(self).map_err(msg)
    }
    fn set_urgent(&mut self, exiting: bool) -> Result<(), String> {
        PluginSink::set_urgent(self, exiting).map_err(msg)
    }
    fn close(&mut self) -> Result<(), String> {
        PluginSink::close(self).map_err(msg)
    }
}

/// Delivery settings (eKuiper's `batchSize`, `lingerInterval`, `bufferLength`).
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Largest `collect` batch, and the number of accepted records that triggers a flush (≥ 1).
    pub batch_size: usize,
    /// Flush when the oldest unflushed record is this old; zero flushes after every collect.
    pub linger: Duration,
    /// Bound of the queue in front of the sink.
    pub queue_capacity: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig { batch_size: 1, linger: Duration::ZERO, queue_capacity: 1024 }
    }
}

/// Drives one sink for one rule. Not thread-safe by itself: one rule task owns it.
#[derive(Debug)]
pub struct SinkDriver<S> {
    sink: S,
    config: DriverConfig,
    queue: VecDeque<Value>,
    unflushed: usize,
    unflushed_since: Option<Instant>,
}

impl<S: DriverSink> SinkDriver<S> {
    /// Drive an opened sink.
    pub fn new(sink: S, mut config: DriverConfig) -> Self {
        config.batch_size = config.batch_size.max(1);
        config.queue_capacity = config.queue_capacity.max(config.batch_size);
        SinkDriver { sink, config, queue: VecDeque::new(), unflushed: 0, unflushed_since: None }
    }

    /// Records waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Queue as many of `records` as fit; the ones that do not are handed back (the rule should
    /// [`SinkDriver::poll`] and offer them again: that is how it slows down).
    pub fn offer(&mut self, mut records: Vec<Value>) -> Vec<Value> {
        let room = self.config.queue_capacity.saturating_sub(self.queue.len());
        let rest = if records.len() > room { records.split_off(room) } else { Vec::new() };
        self.queue.extend(records);
        rest
    }

    /// Move queued records into the sink while it is ready, and flush when due.
    pub fn poll(&mut self, now: Instant) -> Result<(), String> {
        while !self.queue.is_empty() {
            if !self.sink.is_ready()? {
                break;
            }
            let n = self.queue.len().min(self.config.batch_size);
            let batch: Vec<Value> = self.queue.iter().take(n).cloned().collect();
            match self.sink.collect(&batch)? {
                CallOutcome::Ok => {
                    self.queue.drain(..n);
                    self.unflushed += n;
                    self.unflushed_since.get_or_insert(now);
                }
                CallOutcome::Retry(_) => break,
            }
        }
        let lingered = self.unflushed_since.is_some_and(|t| now.saturating_duration_since(t) >= self.config.linger);
        if self.unflushed > 0 && (self.unflushed >= self.config.batch_size || lingered) {
            self.sink.flush()?;
            self.unflushed = 0;
            self.unflushed_since = None;
        }
        Ok(())
    }

    /// `set_urgent(exiting)`, drain the queue until `deadline`, flush, close. Answers the sink;
    /// an error if records were still queued at the deadline (they are reported, not hidden).
    pub fn shutdown(mut self, exiting: bool, deadline: Instant) -> Result<S, String> {
        self.sink.set_urgent(exiting)?;
        while !self.queue.is_empty() && Instant::now() < deadline {
            self.poll(Instant::now())?;
            if !self.queue.is_empty() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let lost = self.queue.len();
        if self.unflushed > 0 {
            self.sink.flush()?;
        }
        self.sink.close()?;
        if lost > 0 {
            return Err(format!("sink shut down with {lost} records undelivered (deadline passed)"));
        }
        Ok(self.sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Mock {
        ready: bool,
        retry_next: bool,
        urgent: bool,
        buffered: Vec<Value>,
        written: Vec<Value>,
        flushes: usize,
        closed: bool,
    }

    impl DriverSink for Mock {
        fn is_ready(&mut self) -> Result<bool, String> {
            Ok(self.ready || self.urgent)
        }
        fn collect(&mut self, batch: &[Value]) -> Result<CallOutcome, String> {
            if std::mem::take(&mut self.retry_next) {
                return Ok(CallOutcome::Retry("busy".into()));
            }
            self.buffered.extend_from_slice(batch);
            Ok(CallOutcome::Ok)
        }
        fn flush(&mut self) -> Result<(), String> {
            self.flushes += 1;
            self.written.append(&mut self.buffered);
            Ok(())
        }
        fn set_urgent(&mut self, _exiting: bool) -> Result<(), String> {
            self.urgent = true;
            Ok(())
        }
        fn close(&mut self) -> Result<(), String> {
            self.written.append(&mut self.buffered);
            self.closed = true;
            Ok(())
        }
    }

    fn vals(r: std::ops::Range<i64>) -> Vec<Value> {
        r.map(Value::from).collect()
    }

    #[test]
    fn not_ready_keeps_data_queued_and_bounded() {
        let cfg = DriverConfig { batch_size: 2, linger: Duration::from_secs(60), queue_capacity: 4 };
        let mut d = SinkDriver::new(Mock::default(), cfg);
        assert_eq!(d.offer(vals(0..6)), vals(4..6), "the queue is bounded: the rest comes back");
        d.poll(Instant::now()).unwrap();
        assert_eq!(d.queued(), 4, "not ready: nothing moves");
        d.sink.ready = true;
        d.poll(Instant::now()).unwrap();
        assert_eq!(d.queued(), 0);
        assert_eq!(d.sink.written, vals(0..4), "batch size reached: flushed");
    }

    #[test]
    fn retry_keeps_the_batch_and_linger_flushes() {
        let cfg = DriverConfig { batch_size: 10, linger: Duration::from_millis(5), queue_capacity: 100 };
        let mut d = SinkDriver::new(Mock { ready: true, retry_next: true, ..Mock::default() }, cfg);
        assert!(d.offer(vals(0..3)).is_empty());
        let t0 = Instant::now();
        d.poll(t0).unwrap();
        assert_eq!(d.queued(), 3, "retry: the batch is kept");
        d.poll(t0).unwrap();
        assert_eq!((d.queued(), d.sink.flushes), (0, 0), "accepted, but neither full nor lingered");
        d.poll(t0 + Duration::from_millis(6)).unwrap();
        assert_eq!(d.sink.written, vals(0..3));
    }

    #[test]
    fn shutdown_is_urgent_and_loses_nothing() {
        let cfg = DriverConfig { batch_size: 3, linger: Duration::from_secs(60), queue_capacity: 100 };
        let mut d = SinkDriver::new(Mock::default(), cfg);
        assert!(d.offer(vals(0..7)).is_empty());
        d.poll(Instant::now()).unwrap();
        let sink = d.shutdown(true, Instant::now() + Duration::from_secs(5)).unwrap();
        assert!(sink.urgent && sink.closed);
        assert_eq!(sink.written, vals(0..7));
    }
}
