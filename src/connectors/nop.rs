//! The `nop` sink: accepts and discards everything (benchmarks, tests).

use super::sink::{Sink, SinkFuture};
use serde_json::Value as Json;

/// Discards results.
pub struct NopSink;

impl Sink for NopSink {
    fn name(&self) -> &str {
        "nop"
    }
    fn collect<'a>(&'a mut self, _message: &'a Json) -> SinkFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
