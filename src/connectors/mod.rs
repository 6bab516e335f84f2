//! Connectors: where rule inputs come from and where results go.
//!
//! A connector is one folder (source and/or sink) plus one line in the
//! registry functions below ([`spawn_source`], [`build_sink`]). Sources are
//! tokio tasks that push [`SourceRecord`] batches into a rule's
//! [`SourceFeed`] (waiting when the rule is behind: backpressure). Sinks are
//! driven by a [`SinkDriver`] task per rule that takes the rule's emissions,
//! applies eKuiper's common sink properties and calls each sink in turn.

pub mod cache;
pub mod file;
pub mod format;
pub mod http_pull;
pub mod http_push;
pub mod log;
pub mod memory;
pub mod mqtt;
pub mod nop;
pub mod profile;
pub mod rest;
pub mod sink;
pub mod template;

use crate::runtime::SourceFeed;
use crate::runtime::clock::Clock;
use crate::runtime::metrics::RuleMetrics;
use oort_compiler::catalog::StreamDef;
use oort_operators::source::SourceRecord;
pub use sink::{Sink, SinkDriver, SinkError, SinkProps};
use std::path::PathBuf;
use std::sync::Arc;

/// Errors setting up a connector.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// No source or sink of that type exists.
    #[error("unknown {kind} type {name}")]
    Unknown {
        /// `source` or `sink`.
        kind: &'static str,
        /// The type asked for.
        name: String,
    },
    /// A property is missing or has the wrong form.
    #[error("invalid property {property} of {connector}: {message}")]
    BadProperty {
        /// Connector type.
        connector: String,
        /// Property name.
        property: String,
        /// What was expected.
        message: String,
    },
    /// The connector failed to open.
    #[error("{connector}: {message}")]
    Open {
        /// Connector type.
        connector: String,
        /// Why.
        message: String,
    },
}

/// Everything a source task needs.
#[derive(Clone)]
pub struct SourceContext {
    /// The rule it feeds.
    pub rule_id: String,
    /// The stream definition (datasource, format, options).
    pub stream: StreamDef,
    /// Where to push batches.
    pub feed: SourceFeed,
    /// The rule's counters.
    pub metrics: Arc<RuleMetrics>,
    /// Processing time.
    pub clock: Arc<dyn Clock>,
    /// Shared connector state.
    pub env: Arc<ConnectorEnv>,
}

/// Process-wide connector state.
pub struct ConnectorEnv {
    /// In-process topics (memory source/sink).
    pub memory: memory::MemoryBus,
    /// Directory that relative file paths resolve against.
    pub data_dir: PathBuf,
    /// Folder holding `sources/<type>.yaml` and `sinks/<type>.yaml`
    /// (connection profiles picked by `CONF_KEY` / `resourceId`).
    pub conf_dir: PathBuf,
    /// The broker a `mqtt` stream or sink uses when neither its profile nor
    /// its properties name one (the embedded broker when it runs).
    pub mqtt_default_server: String,
    /// MQTT subscriptions shared by the rules of `SHARED="true"` streams,
    /// and the connection state of every MQTT client.
    pub mqtt: mqtt::MqttHub,
    /// The listener of `httppush` streams.
    pub http_push: http_push::HttpPushHub,
    /// This process's place in a cluster (sources that read on every
    /// process take their share by it).
    pub cluster: ClusterPosition,
    /// Installed plugins: a source `TYPE` or sink action that is not built in is looked up here.
    pub plugins: Option<Arc<crate::plugins::PluginManager>>,
}

/// Which process of how many this is (`0` of `1` outside a cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterPosition {
    /// This process's index.
    pub process: usize,
    /// How many processes take part.
    pub processes: usize,
}

impl Default for ClusterPosition {
    fn default() -> Self {
        Self { process: 0, processes: 1 }
    }
}

impl ClusterPosition {
    /// Whether more than one process takes part.
    pub fn is_cluster(&self) -> bool {
        self.processes > 1
    }
}

/// Whether a source type reads on every process of a cluster, each process
/// taking its share (`mqtt`: a broker-side shared subscription; `file`: every
/// n-th line). The others read on process 0 only, and the dataflow's exchange
/// spreads their records.
pub fn reads_on_every_process(source_type: &str) -> bool {
    matches!(source_type.to_ascii_lowercase().as_str(), "mqtt" | "file")
}

impl ConnectorEnv {
    /// Connector state with default settings: profiles from `etc`, MQTT at
    /// `tcp://127.0.0.1:1883`, HTTP push at `127.0.0.1:10081`.
    pub fn new(memory: memory::MemoryBus, data_dir: PathBuf) -> Self {
        Self {
            memory,
            data_dir,
            conf_dir: PathBuf::from("etc"),
            mqtt_default_server: mqtt::DEFAULT_SERVER.to_string(),
            mqtt: mqtt::MqttHub::default(),
            http_push: http_push::HttpPushHub::default(),
            cluster: ClusterPosition::default(),
            plugins: None,
        }
    }

    /// Sets this process's place in a cluster.
    pub fn with_cluster(mut self, cluster: ClusterPosition) -> Self {
        self.cluster = cluster;
        self
    }

    /// Sets the installed plugins that back unknown source and sink types.
    pub fn with_plugins(mut self, plugins: Arc<crate::plugins::PluginManager>) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// Sets the configuration folder (`etc`).
    pub fn with_conf_dir(mut self, dir: PathBuf) -> Self {
        self.conf_dir = dir;
        self
    }

    /// Sets the broker used when nothing else names one.
    pub fn with_mqtt_server(mut self, server: impl Into<String>) -> Self {
        self.mqtt_default_server = server.into();
        self
    }
}

/// Starts the source task of one stream of a rule. Returns `None` for the
/// `mock` type, which a test driver feeds itself. A type that is not built in
/// is an installed source plugin's, if there is one.
pub fn spawn_source(ctx: SourceContext) -> Result<Option<tokio::task::JoinHandle<()>>, ConnectorError> {
    let kind = ctx.stream.options.source_type.to_ascii_lowercase();
    match kind.as_str() {
        "memory" => Ok(Some(memory::source::spawn(ctx)?)),
        "file" => Ok(Some(file::source::spawn(ctx)?)),
        "mqtt" => Ok(Some(mqtt::source::spawn(ctx)?)),
        "httppush" => Ok(Some(http_push::spawn(ctx)?)),
        "httppull" => Ok(Some(http_pull::spawn(ctx)?)),
        "mock" => Ok(None),
        other => match ctx.env.plugins.clone().and_then(|p| p.spawn_source(ctx.clone())) {
            Some(task) => task.map(Some),
            None => Err(ConnectorError::Unknown { kind: "source", name: other.to_string() }),
        },
    }
}

/// Builds one sink of a rule action (`{"log": {...}}`). An action that is not
/// built in is an installed sink plugin's, if there is one.
pub fn build_sink(
    name: &str,
    props: &serde_json::Map<String, serde_json::Value>,
    env: &Arc<ConnectorEnv>,
) -> Result<Box<dyn Sink>, ConnectorError> {
    match name {
        "log" => Ok(Box::new(log::LogSink::new(props))),
        "nop" => Ok(Box::new(nop::NopSink)),
        "memory" => Ok(Box::new(memory::sink::MemorySink::new(props, env.clone())?)),
        "file" => Ok(Box::new(file::sink::FileSink::new(props, &env.data_dir)?)),
        "mqtt" => Ok(Box::new(mqtt::sink::MqttSink::new(props, env)?)),
        "rest" => Ok(Box::new(rest::RestSink::new(props)?)),
        other => {
            let rule_id = props.get("ruleId").and_then(|v| v.as_str()).unwrap_or_default();
            match env.plugins.as_ref().and_then(|p| p.build_sink(other, props, rule_id)) {
                Some(sink) => sink,
                None => Err(ConnectorError::Unknown { kind: "sink", name: other.to_string() }),
            }
        }
    }
}

/// Whether a source type delivers only what arrives while it runs (a
/// subscription, a push endpoint, a feed the embedder drives), so that rules
/// reading it may share one instance (a stream group) and a rule joining
/// later misses nothing it would have read with a source of its own. A
/// file is read from its start by each rule's source, and polling or plugin
/// sources are not known to be live: their rules keep their own sources.
pub fn is_live_source(kind: &str) -> bool {
    ["mqtt", "memory", "httppush", "mock"].iter().any(|k| k.eq_ignore_ascii_case(kind))
}

/// Names of the built-in source types.
pub const SOURCE_TYPES: &[&str] = &["mqtt", "memory", "file", "httppush", "httppull", "mock"];
/// Names of the built-in sink types.
pub const SINK_TYPES: &[&str] = &["mqtt", "rest", "log", "nop", "memory", "file"];

/// Sends records to a feed in batches of at most `batch` records.
pub async fn feed_all(
    feed: &SourceFeed,
    records: Vec<SourceRecord>,
    batch: usize,
) -> Result<(), crate::runtime::RuntimeError> {
    let mut it = records.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<SourceRecord> = it.by_ref().take(batch.max(1)).collect();
        feed.send(chunk).await?;
    }
    Ok(())
}
