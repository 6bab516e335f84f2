//! The sink side of a rule: the [`Sink`] trait, eKuiper's common sink
//! properties ([`SinkProps`]) and the [`SinkDriver`] task that feeds a rule's
//! emissions to its sinks, counting failures in the rule's metrics.

use crate::runtime::clock::Clock;
use crate::runtime::metrics::RuleMetrics;
use oort_operators::query::Emission;
use oort_operators::value;
use serde_json::{Map, Value as Json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

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
    /// Delivers one message: an array of row objects, or one row object when `sendSingle` is set.
    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a>;
    /// Flushes and releases everything; called once when the rule stops.
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// eKuiper's properties common to every sink.
#[derive(Debug, Clone, Default)]
pub struct SinkProps {
    /// Send each row as its own message instead of the emission's rows as an array.
    pub send_single: bool,
    /// Send nothing for an empty result.
    pub omit_if_empty: bool,
    /// Keep only these fields of each row.
    pub fields: Option<Vec<String>>,
}

impl SinkProps {
    /// Reads the common properties of an action.
    pub fn from_props(props: &Map<String, Json>) -> Self {
        Self {
            send_single: props.get("sendSingle").and_then(Json::as_bool).unwrap_or(false),
            omit_if_empty: props.get("omitIfEmpty").and_then(Json::as_bool).unwrap_or(false),
            fields: props.get("fields").and_then(Json::as_array).map(|a| {
                a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()
            }),
        }
    }

    /// The messages one emission becomes.
    pub fn messages(&self, e: &Emission) -> Vec<Json> {
        let rows: Vec<Json> = match e {
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
        };
        if rows.is_empty() && self.omit_if_empty {
            return Vec::new();
        }
        if self.send_single { rows } else { vec![Json::Array(rows)] }
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
    /// Runs until every worker has dropped the rule, then closes the sinks.
    pub async fn run(mut self, mut emissions: mpsc::UnboundedReceiver<Emission>) {
        while let Some(e) = emissions.recv().await {
            self.metrics.pending_out.fetch_sub(1, Ordering::Relaxed);
            for (sink, props) in self.sinks.iter_mut() {
                for m in props.messages(&e) {
                    if let Err(err) = sink.collect(&m).await {
                        let msg = format!("{} sink: {err}", sink.name());
                        tracing::warn!(error = %msg, "sink failed");
                        self.metrics.exception(&msg, self.clock.now_ms());
                    }
                }
            }
        }
        for (sink, _) in self.sinks.iter_mut() {
            if let Err(err) = sink.close().await {
                self.metrics.exception(&format!("{} sink close: {err}", sink.name()), self.clock.now_ms());
            }
        }
    }
}
