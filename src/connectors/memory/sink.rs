//! Memory sink: publishes result rows to a topic of the bus (`topic`
//! property; `{{...}}` templates are not supported yet).

use super::super::sink::{Sink, SinkError, SinkFuture};
use super::super::{ConnectorEnv, ConnectorError};
use oort_operators::value::{Map, Value, from_json};
use serde_json::{Map as JsonMap, Value as Json};
use std::sync::Arc;

/// Publishes to an in-process topic.
pub struct MemorySink {
    topic: String,
    env: Arc<ConnectorEnv>,
}

impl MemorySink {
    /// Requires `topic`.
    pub fn new(props: &JsonMap<String, Json>, env: Arc<ConnectorEnv>) -> Result<Self, ConnectorError> {
        let topic = props.get("topic").and_then(Json::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
            ConnectorError::BadProperty {
                connector: "memory".into(),
                property: "topic".into(),
                message: "a non-empty string is required".into(),
            }
        })?;
        Ok(Self { topic: topic.to_string(), env })
    }
}

fn rows_of(message: &Json) -> Vec<Map> {
    let obj = |v: &Json| match from_json(v) {
        Value::Object(m) => Some((*m).clone()),
        _ => None,
    };
    match message {
        Json::Array(a) => a.iter().filter_map(obj).collect(),
        other => obj(other).into_iter().collect(),
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }
    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        Box::pin(async move {
            self.env.memory.publish(&self.topic, rows_of(message)).await;
            Ok::<(), SinkError>(())
        })
    }
}
