//! File source: reads `DATASOURCE` (relative to the data directory unless
//! absolute) line by line; each non-empty line is one record in the stream's
//! FORMAT (JSON lines, or delimited). A line that does not decode becomes a
//! counted error in the rule, not the end of the source. The source ends at
//! the end of the file. In a cluster of n processes, process p reads lines
//! p, p + n, p + 2n, … (counting non-empty lines from 0).

use super::super::{ConnectorError, SourceContext};
use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::{Meta, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncBufReadExt;

/// Records per batch.
const BATCH: usize = 1024;

/// Starts the task.
pub fn spawn(ctx: SourceContext) -> Result<tokio::task::JoinHandle<()>, ConnectorError> {
    let name = ctx.stream.options.datasource.clone();
    let path = {
        let p = PathBuf::from(&name);
        if p.is_absolute() { p } else { ctx.env.data_dir.join(p) }
    };
    if !path.is_file() {
        return Err(ConnectorError::Open {
            connector: "file".into(),
            message: format!("file {} not found", path.display()),
        });
    }
    Ok(tokio::spawn(async move {
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) => {
                ctx.metrics.exception(&format!("file source: {}: {e}", path.display()), ctx.clock.now_ms());
                return;
            }
        };
        let mut meta = Meta::new();
        meta.insert("file".into(), Value::from(path.display().to_string()));
        let meta = Arc::new(meta);
        let mut lines = tokio::io::BufReader::new(file).lines();
        let mut batch = Vec::with_capacity(BATCH);
        // In a cluster, process p of n reads lines p, p + n, p + 2n, ...
        let share = ctx.env.cluster;
        let mut line_no = 0usize;
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    line_no += 1;
                    if (line_no - 1) % share.processes.max(1) != share.process {
                        continue;
                    }
                    batch.push(SourceRecord {
                        payload: Payload::Bytes(line.into_bytes().into()),
                        meta: Some(meta.clone()),
                        ts: ctx.clock.now_ms(),
                    });
                    if batch.len() >= BATCH && ctx.feed.send(std::mem::take(&mut batch)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    ctx.metrics.exception(&format!("file source: {e}"), ctx.clock.now_ms());
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let _ = ctx.feed.send(batch).await;
        }
    }))
}
