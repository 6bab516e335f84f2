//! File sink: writes results to `path` (relative to the data directory
//! unless absolute), creating the file and its folder, with eKuiper's file
//! sink properties:
//!
//! * `fileType`: `lines` (default: one message per line, appended), `json`
//!   (the file is one JSON array of the messages, closed with `]` when the
//!   file is rolled or the rule stops) or `csv` (delimited lines, `format`
//!   defaults to `delimited`).
//! * `format`: `json` (default) or `delimited` (values joined by
//!   `delimiter`, default `,`; with `hasHeader`, the field names as the
//!   first line of each file; `fields` sets the column order).
//! * `rollingInterval` (ms) and `rollingCount` (messages): start a new file
//!   when the current one is that old or holds that many messages; rolled
//!   files are named with the opening time in ms, `rollingNamePattern`
//!   `suffix` (`out-<ms>.csv`, the default) or `prefix` (`<ms>-out.csv`).
//!
//! An existing file is appended to (`lines`, `csv`); a `json` file that
//! already holds data is never rewritten: the sink starts a new file named
//! as a rolled one instead.

use super::super::ConnectorError;
use super::super::format::SinkFormat;
use super::super::sink::{Sink, SinkError, SinkFuture};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// How the messages are laid out in the file (`fileType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// One message per line.
    Lines,
    /// One JSON array of messages.
    Json,
    /// Delimited lines.
    Csv,
}

/// Writes results to files.
pub struct FileSink {
    path: PathBuf,
    file_type: FileType,
    format: SinkFormat,
    delimiter: String,
    has_header: bool,
    fields: Option<Vec<String>>,
    rolling_interval: Option<Duration>,
    rolling_count: usize,
    prefix_pattern: bool,
    current: Option<OpenFile>,
}

struct OpenFile {
    file: tokio::fs::File,
    opened: Instant,
    messages: usize,
    /// Whether anything (header included) went into the file yet.
    written: bool,
}

fn bad(property: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::BadProperty { connector: "file".into(), property: property.into(), message: message.into() }
}

fn num(props: &Map<String, Json>, key: &str) -> Option<u64> {
    match props.get(key)? {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl FileSink {
    /// Requires `path`.
    pub fn new(props: &Map<String, Json>, data_dir: &Path) -> Result<Self, ConnectorError> {
        let path = props
            .get("path")
            .and_then(Json::as_str)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("path", "a file path is required"))?;
        let p = PathBuf::from(path);
        let path = if p.is_absolute() { p } else { data_dir.join(p) };
        let file_type =
            match props.get("fileType").and_then(Json::as_str).unwrap_or("lines").to_ascii_lowercase().as_str() {
                "lines" | "" => FileType::Lines,
                "json" => FileType::Json,
                "csv" => FileType::Csv,
                other => {
                    return Err(bad("fileType", format!("unknown file type {other}; expected lines, json or csv")));
                }
            };
        let mut format_props = props.clone();
        if file_type == FileType::Csv && !props.contains_key("format") {
            format_props.insert("format".into(), Json::from("delimited"));
        }
        // The header is written once per file here, not once per message.
        format_props.insert("hasHeader".into(), Json::Bool(false));
        let format = SinkFormat::from_props("file", &format_props)?;
        match (&format, file_type) {
            (SinkFormat::Delimited { .. }, FileType::Json) => {
                return Err(bad("format", "fileType json needs format json"));
            }
            (SinkFormat::Json | SinkFormat::Binary { .. }, FileType::Csv) => {
                return Err(bad("format", "fileType csv needs format delimited"));
            }
            _ => {}
        }
        let has_header = match props.get("hasHeader") {
            Some(Json::Bool(b)) => *b,
            Some(Json::String(s)) => s == "true",
            _ => false,
        };
        let pattern = props.get("rollingNamePattern").and_then(Json::as_str).unwrap_or("suffix").to_ascii_lowercase();
        if !matches!(pattern.as_str(), "suffix" | "prefix" | "" | "none") {
            return Err(bad("rollingNamePattern", format!("{pattern} is not prefix or suffix")));
        }
        Ok(Self {
            path,
            file_type,
            delimiter: props.get("delimiter").and_then(Json::as_str).unwrap_or(",").to_string(),
            has_header,
            fields: props
                .get("fields")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()),
            format,
            rolling_interval: num(props, "rollingInterval").filter(|n| *n > 0).map(Duration::from_millis),
            rolling_count: num(props, "rollingCount").unwrap_or(0) as usize,
            prefix_pattern: pattern == "prefix",
            current: None,
        })
    }

    fn rolling(&self) -> bool {
        self.rolling_interval.is_some() || self.rolling_count > 0
    }

    /// The name of a file opened at `ms`.
    fn rolled_name(&self, ms: u128) -> PathBuf {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let file = if self.prefix_pattern {
            format!("{ms}-{name}")
        } else {
            match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{ms}.{ext}"),
                _ => format!("{name}-{ms}"),
            }
        };
        self.path.with_file_name(file)
    }

    /// A path for a new file: `path` itself unless rolling (or a json file
    /// already there), else a free time-stamped name.
    fn next_path(&self) -> PathBuf {
        let taken = |p: &Path| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false);
        let json_file_there = self.file_type == FileType::Json && taken(&self.path);
        if !self.rolling() && !json_file_there {
            return self.path.clone();
        }
        let mut ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        loop {
            let p = self.rolled_name(ms);
            if !p.exists() {
                return p;
            }
            ms += 1;
        }
    }

    async fn open(&mut self) -> Result<&mut OpenFile, SinkError> {
        if let Some(cur) = &self.current {
            let full = self.rolling_count > 0 && cur.messages >= self.rolling_count;
            let old = self.rolling_interval.is_some_and(|i| cur.opened.elapsed() >= i);
            if full || old {
                self.finish().await?;
            }
        }
        if self.current.is_none() {
            let path = self.next_path();
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| SinkError(format!("{}: {e}", dir.display())))?;
            }
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await
                .map_err(|e| SinkError(format!("{}: {e}", path.display())))?;
            let written = file.metadata().await.map(|m| m.len() > 0).unwrap_or(false);
            self.current = Some(OpenFile { file, opened: Instant::now(), messages: 0, written });
        }
        self.current.as_mut().ok_or_else(|| SinkError("file not open".into()))
    }

    /// Closes the current file (ending a json array).
    async fn finish(&mut self) -> Result<(), SinkError> {
        let Some(mut cur) = self.current.take() else { return Ok(()) };
        if self.file_type == FileType::Json && cur.written {
            cur.file.write_all(b"]").await.map_err(|e| SinkError(e.to_string()))?;
        }
        cur.file.flush().await.map_err(|e| SinkError(e.to_string()))?;
        cur.file.sync_all().await.map_err(|e| SinkError(e.to_string()))
    }

    /// The message with its rows' fields in `fields` order.
    fn ordered(&self, message: &Json) -> Json {
        let Some(fields) = &self.fields else { return message.clone() };
        let order = |o: &Map<String, Json>| {
            Json::Object(fields.iter().map(|f| (f.clone(), o.get(f).cloned().unwrap_or(Json::Null))).collect())
        };
        match message {
            Json::Object(o) => order(o),
            Json::Array(a) => Json::Array(a.iter().map(|r| r.as_object().map_or_else(|| r.clone(), order)).collect()),
            other => other.clone(),
        }
    }

    /// The header line of a delimited file: `fields`, or the first row's names.
    fn header(&self, message: &Json) -> Option<String> {
        if !self.has_header || !matches!(self.format, SinkFormat::Delimited { .. }) {
            return None;
        }
        if let Some(f) = &self.fields {
            return Some(f.join(&self.delimiter));
        }
        let first = match message {
            Json::Array(a) => a.first().and_then(Json::as_object),
            Json::Object(o) => Some(o),
            _ => None,
        }?;
        Some(first.keys().cloned().collect::<Vec<_>>().join(&self.delimiter))
    }

    fn encode(&self, message: &Json) -> Vec<u8> {
        match self.file_type {
            // A templated string is written as the JSON string it is.
            FileType::Json => serde_json::to_vec(message).unwrap_or_default(),
            FileType::Lines | FileType::Csv => self.format.encode(&self.ordered(message)),
        }
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }
    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        Box::pin(async move {
            let body = self.encode(message);
            let header = self.header(message);
            let file_type = self.file_type;
            let cur = self.open().await?;
            let mut out = Vec::with_capacity(body.len() + 16);
            match file_type {
                FileType::Json => out.push(if cur.written { b',' } else { b'[' }),
                FileType::Lines | FileType::Csv => {
                    if !cur.written
                        && let Some(h) = header
                    {
                        out.extend_from_slice(h.as_bytes());
                        out.push(b'\n');
                    }
                }
            }
            out.extend_from_slice(&body);
            if file_type != FileType::Json {
                out.push(b'\n');
            }
            cur.file.write_all(&out).await.map_err(|e| SinkError(e.to_string()))?;
            cur.written = true;
            cur.messages += 1;
            Ok(())
        })
    }
    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oort-file-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    async fn write(props: Json, dir: &Path, messages: &[Json]) {
        let mut sink = FileSink::new(props.as_object().unwrap(), dir).unwrap();
        for m in messages {
            sink.collect(m).await.unwrap();
        }
        sink.close().await.unwrap();
    }

    fn rows() -> Vec<Json> {
        vec![json!({"a": 1, "b": "x"}), json!({"a": 2, "b": "y"})]
    }

    #[tokio::test]
    async fn lines_json_and_delimited() {
        let d = dir("formats");
        write(json!({"path": "l.jsonl"}), &d, &rows()).await;
        assert_eq!(
            std::fs::read_to_string(d.join("l.jsonl")).unwrap(),
            "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n"
        );
        write(json!({"path": "d.txt", "format": "delimited", "delimiter": "|", "hasHeader": true}), &d, &rows()).await;
        assert_eq!(std::fs::read_to_string(d.join("d.txt")).unwrap(), "a|b\n1|x\n2|y\n");
        write(json!({"path": "c.csv", "fileType": "csv", "hasHeader": true, "fields": ["b", "a"]}), &d, &rows()).await;
        assert_eq!(std::fs::read_to_string(d.join("c.csv")).unwrap(), "b,a\nx,1\ny,2\n");
        write(json!({"path": "j.json", "fileType": "json"}), &d, &rows()).await;
        let j: Json = serde_json::from_str(&std::fs::read_to_string(d.join("j.json")).unwrap()).unwrap();
        assert_eq!(j, Json::Array(rows()));
        // a json file is not rewritten: the next run starts another file
        write(json!({"path": "j.json", "fileType": "json"}), &d, &rows()[..1]).await;
        let files = std::fs::read_dir(&d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("j-"));
        assert_eq!(files.count(), 1);
        assert!(
            FileSink::new(json!({"path": "x", "fileType": "csv", "format": "json"}).as_object().unwrap(), &d).is_err()
        );
        assert!(FileSink::new(json!({"path": "x", "fileType": "xml"}).as_object().unwrap(), &d).is_err());
    }

    #[tokio::test]
    async fn rolls_by_count() {
        let d = dir("rolling");
        let msgs: Vec<Json> = (0..5).map(|i| json!({"i": i})).collect();
        write(json!({"path": "out.csv", "fileType": "csv", "hasHeader": true, "rollingCount": 2}), &d, &msgs).await;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let contents: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        assert_eq!(contents, vec!["i\n0\n1\n", "i\n2\n3\n", "i\n4\n"]);
        for f in &files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.starts_with("out-") && name.ends_with(".csv"), "{name}");
        }
    }
}
