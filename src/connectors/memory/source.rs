//! Memory source: subscribes to `DATASOURCE` (a topic filter) on the bus and
//! feeds every record, with `meta(topic)`, into the rule.

use super::super::{ConnectorError, SourceContext};
use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::{Meta, Value};
use std::sync::Arc;

/// Most records per batch handed to the rule.
const BATCH: usize = 1024;

/// Starts the task.
pub fn spawn(ctx: SourceContext) -> Result<tokio::task::JoinHandle<()>, ConnectorError> {
    let topic = ctx.stream.options.datasource.clone();
    if topic.is_empty() {
        return Err(ConnectorError::BadProperty {
            connector: "memory".into(),
            property: "DATASOURCE".into(),
            message: "a topic is required".into(),
        });
    }
    let mut rx = ctx.env.memory.subscribe(&topic, BATCH * 4);
    Ok(tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let now = ctx.clock.now_ms();
            let record = |(t, m): super::MemoryMessage| {
                let mut meta = Meta::new();
                meta.insert("topic".into(), Value::String(t.into()));
                SourceRecord { payload: Payload::Object(m), meta: Some(Arc::new(meta)), ts: now }
            };
            let mut batch = vec![record(first)];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(record(m)),
                    Err(_) => break,
                }
            }
            if ctx.feed.send(batch).await.is_err() {
                break;
            }
        }
    }))
}
