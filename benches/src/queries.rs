//! The queries Q1–Q5 of WORKLOAD.md as the harness installs them: SQL,
//! the stream DDL for each feed, and the rule options each needs.
//!
//! Event-time queries (Q2–Q4) run with `lateTolerance` 60 s in throughput
//! runs and `bufferLength` 64, deep enough that a worker the OS deschedules
//! for a time slice does not stall the feed and, through it, the other
//! worker (8 held about 1 ms of work). Q4's join is fed round-robin: a
//! worker may take in batches ahead of the other, but the watermark takes
//! batches in only in the order they were sent (the runtime's
//! `BatchLedger`), so no lead makes the slower worker's records late.
//! Latency runs use a tolerance of 0, so that a window closes as soon as its
//! end is seen.

use serde_json::{Map, Value as Json, json};

/// One of the workload's queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Query {
    /// Filter and project.
    Q1,
    /// 10 s tumbling window, GROUP BY deviceId.
    Q2,
    /// 10 s windows every 5 s.
    Q3,
    /// Windowed stream-stream join.
    Q4,
    /// Many rules.
    Q5,
}

/// Where the events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    /// Handed to the rule's feed in-process.
    Memory,
    /// Read by the file source from a JSON-lines file.
    File,
    /// Published to a broker and read by the MQTT source.
    Mqtt,
}

impl Feed {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Feed::Memory => "memory",
            Feed::File => "file",
            Feed::Mqtt => "mqtt",
        }
    }
}

/// Where one stream reads from, per feed.
#[derive(Debug, Clone)]
pub enum StreamSource {
    /// `TYPE="mock"`: the harness feeds the rule itself.
    Mock,
    /// `TYPE="file"` reading this absolute path.
    File(String),
    /// `TYPE="mqtt"` subscribed to this topic.
    Mqtt(String),
}

impl Query {
    /// Its name in reports (`q1`).
    pub fn name(self) -> &'static str {
        match self {
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q4 => "q4",
            Query::Q5 => "q5",
        }
    }

    /// The rule's SQL (Q5: rule `i`'s).
    pub fn sql(self, i: usize) -> String {
        match self {
            Query::Q1 => "SELECT deviceId, temperature FROM demo WHERE temperature > 50".into(),
            Query::Q2 => "SELECT deviceId, COUNT(*) AS c, AVG(temperature) AS t, MAX(humidity) AS h FROM demo \
                          GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)"
                .into(),
            Query::Q3 => "SELECT deviceId, COUNT(*) AS c, AVG(temperature) AS t, MAX(humidity) AS h FROM demo \
                          GROUP BY deviceId, HOPPINGWINDOW(ss, 10, 5)"
                .into(),
            Query::Q4 => "SELECT * FROM demo INNER JOIN demo2 ON demo.deviceId = demo2.deviceId \
                          GROUP BY TUMBLINGWINDOW(ss, 1)"
                .into(),
            Query::Q5 => format!("SELECT * FROM demo WHERE deviceId = \"d{}\" AND temperature > {}", i % 1000, i % 100),
        }
    }

    /// Names of the streams it reads.
    pub fn streams(self) -> &'static [&'static str] {
        match self {
            Query::Q4 => &["demo", "demo2"],
            _ => &["demo"],
        }
    }

    /// Whether it runs in event time.
    pub fn event_time(self) -> bool {
        matches!(self, Query::Q2 | Query::Q3 | Query::Q4)
    }

    /// Window hop in ms (a window closes every hop), for window queries.
    pub fn window_hop_ms(self) -> Option<u64> {
        match self {
            Query::Q2 => Some(10_000),
            Query::Q3 => Some(5_000),
            Query::Q4 => Some(1_000),
            _ => None,
        }
    }

    /// Rule options: `latency` runs close windows without tolerance.
    pub fn options(self, latency: bool) -> Map<String, Json> {
        let o = if self.event_time() {
            let tolerance = if latency { "0s" } else { "60s" };
            json!({"isEventTime": true, "lateTolerance": tolerance, "bufferLength": 64})
        } else {
            json!({})
        };
        o.as_object().cloned().unwrap_or_default()
    }
}

/// The DDL of stream `name` reading from `source`.
pub fn stream_ddl(name: &str, source: &StreamSource) -> String {
    let (kind, datasource) = match source {
        StreamSource::Mock => ("mock", name.to_string()),
        StreamSource::File(p) => ("file", p.clone()),
        StreamSource::Mqtt(t) => ("mqtt", t.clone()),
    };
    format!(
        "CREATE STREAM {name} (deviceId STRING, temperature FLOAT, humidity BIGINT, ts BIGINT) \
         WITH (DATASOURCE=\"{datasource}\", TYPE=\"{kind}\", FORMAT=\"JSON\", TIMESTAMP=\"ts\")"
    )
}
