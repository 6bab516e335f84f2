//! File sink: appends each message as one JSON line to `path` (relative to
//! the data directory unless absolute), creating the file and its folder.

use super::super::ConnectorError;
use super::super::sink::{Sink, SinkError, SinkFuture};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Appends JSON lines.
pub struct FileSink {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl FileSink {
    /// Requires `path`.
    pub fn new(props: &Map<String, Json>, data_dir: &Path) -> Result<Self, ConnectorError> {
        let path = props.get("path").and_then(Json::as_str).filter(|p| !p.is_empty()).ok_or_else(|| {
            ConnectorError::BadProperty {
                connector: "file".into(),
                property: "path".into(),
                message: "a file path is required".into(),
            }
        })?;
        let p = PathBuf::from(path);
        let path = if p.is_absolute() { p } else { data_dir.join(p) };
        Ok(Self { path, file: None })
    }

    async fn open(&mut self) -> Result<&mut tokio::fs::File, SinkError> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| SinkError(format!("{}: {e}", dir.display())))?;
            }
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(|e| SinkError(format!("{}: {e}", self.path.display())))?;
            self.file = Some(f);
        }
        self.file.as_mut().ok_or_else(|| SinkError("file not open".into()))
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }
    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        Box::pin(async move {
            let mut line = message.to_string().into_bytes();
            line.push(b'\n');
            let f = self.open().await?;
            f.write_all(&line).await.map_err(|e| SinkError(e.to_string()))
        })
    }
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async move {
            if let Some(f) = self.file.as_mut() {
                f.flush().await.map_err(|e| SinkError(e.to_string()))?;
                f.sync_all().await.map_err(|e| SinkError(e.to_string()))?;
            }
            Ok(())
        })
    }
}
