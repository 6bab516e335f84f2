//! The `jsonl` sink (a file sink; built-in `file` is a different sink): appends each record as one JSON line to the file named by the `path`
//! property. Records are buffered by `collect` and written by `flush` and `close`, so nothing
//! accepted is lost on shutdown.
//!
//! Built with the `v2` feature it is "version 2.0.0" and adds `"sink_version": 2` to every line,
//! so tests can see a hot-reloaded version at work.

use std::fs::{File, OpenOptions};
use std::io::Write;

use oort_plugin_sdk::{Error, Props, Record, Result, Sink, Value};

/// The `jsonl` sink.
#[derive(Default)]
pub struct FileSink {
    path: String,
    file: Option<File>,
    buffer: Vec<u8>,
}

impl Sink for FileSink {
    fn configure(&mut self, props: &Props) -> Result<()> {
        self.path = props
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::msg("jsonl sink: property `path` (string) is required"))?
            .to_string();
        Ok(())
    }

    fn open(&mut self, _ctx: oort_plugin_sdk::SinkContext) -> Result<()> {
        self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        Ok(())
    }

    fn collect(&mut self, batch: Vec<Record>) -> Result<()> {
        for mut record in batch {
            if cfg!(feature = "v2") {
                record.insert("sink_version".to_string(), Value::from(2));
            }
            serde_json::to_writer(&mut self.buffer, &record)?;
            self.buffer.push(b'\n');
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let file = self.file.as_mut().ok_or_else(|| Error::msg("jsonl sink: not open"))?;
        file.write_all(&self.buffer)?;
        file.flush()?;
        self.buffer.clear();
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if self.file.is_some() {
            self.flush()?;
        }
        self.file = None;
        Ok(())
    }
}

oort_plugin_sdk::export_plugin! {
    name: "jsonl",
    version: if cfg!(feature = "v2") { "2.0.0" } else { env!("CARGO_PKG_VERSION") },
    sinks: ["jsonl" => FileSink],
}
