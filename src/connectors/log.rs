//! The `log` sink: writes each message to the server log (target `oort::sink`).

use super::sink::{Sink, SinkFuture};
use serde_json::{Map, Value as Json};

/// Logs results.
pub struct LogSink {
    rule: String,
}

impl LogSink {
    /// A log sink; takes no properties of its own.
    pub fn new(props: &Map<String, Json>) -> Self {
        let rule = props.get("ruleId").and_then(Json::as_str).unwrap_or_default().to_string();
        Self { rule }
    }
}

impl Sink for LogSink {
    fn name(&self) -> &str {
        "log"
    }
    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        tracing::info!(target: "oort::sink", rule = %self.rule, "sink result: {message}");
        Box::pin(async { Ok(()) })
    }
}
