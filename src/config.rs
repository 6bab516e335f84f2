//! Server configuration (`etc/oort.yaml`). Every field is documented and has
//! a default, so an empty file — or no file — is a working configuration.
//! Unknown keys are refused, naming the key. Relative paths resolve against
//! the folder of the configuration file.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// REST server.
    pub rest: RestConfig,
    /// Timely worker threads; 0 means one per core.
    pub workers: usize,
    /// Where streams, rules and file connector data live.
    pub data_dir: PathBuf,
    /// Log filter (`info`, `debug`, `oort=debug,warn`).
    pub log_level: String,
    /// The embedded MQTT broker.
    pub mqtt: MqttConfig,
    /// The external keyed-state store read by `get_keyed_state`.
    pub store: KeyedStateConfig,
    /// Running as one process of a timely cluster.
    pub cluster: ClusterConfig,
    /// The folder of the configuration file (`etc` without one): connector
    /// configuration is read from its `sources/` and `sinks/` folders. Not a
    /// key of the file.
    #[serde(skip)]
    pub conf_dir: PathBuf,
}

/// The REST server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestConfig {
    /// Address to listen on; loopback by default.
    pub bind: String,
    /// When set, every endpoint but `/ping` requires `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self { bind: "127.0.0.1:9081".into(), token: None, max_body_bytes: 1 << 20 }
    }
}

/// The embedded MQTT broker (rumqttd), so MQTT streams and sinks work with
/// no external service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Run an MQTT broker inside the server.
    pub embedded_broker: bool,
    /// Loopback port of the embedded broker; the `default` profile of
    /// `sources/mqtt.yaml` should point at it.
    pub port: u16,
    /// Loopback port of the embedded broker's MQTT 5 listener (profiles
    /// with `protocolVersion: "5"` connect there); none when unset.
    pub v5_port: Option<u16>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self { embedded_broker: false, port: 1883, v5_port: None }
    }
}

/// The external keyed-state store (eKuiper's `store` section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyedStateConfig {
    /// `sqlite` (a table in the data directory; the default) or `redis`.
    #[serde(rename = "extStateType", alias = "ext_state_type")]
    pub ext_state_type: String,
    /// The Redis server, when `extStateType` is `redis`.
    pub redis: RedisConfig,
}

impl Default for KeyedStateConfig {
    fn default() -> Self {
        Self { ext_state_type: "sqlite".into(), redis: RedisConfig::default() }
    }
}

/// A Redis server holding keyed state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Password (`AUTH`), if the server wants one.
    pub password: Option<String>,
    /// Database number (`SELECT`).
    pub db: u32,
    /// Connect and read timeout, ms.
    pub timeout: u64,
    /// How often cached keys are read again, ms (rules see a new value within this time).
    #[serde(rename = "refreshInterval", alias = "refresh_interval")]
    pub refresh_interval: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { host: "127.0.0.1".into(), port: 6379, password: None, db: 0, timeout: 1000, refresh_interval: 1000 }
    }
}

/// One process of a timely cluster: every process runs the same binary with
/// the same host list and its own index. Process 0 serves REST and owns the
/// rules; the others run workers and the sources that read on every process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `host:port` of every process, in process order (timely's own
    /// communication listens there). Empty or one entry: a single process.
    pub hosts: Vec<String>,
    /// This process's index in `hosts`.
    pub process: usize,
}

impl ClusterConfig {
    /// Whether more than one process takes part.
    pub fn is_cluster(&self) -> bool {
        self.hosts.len() > 1
    }

    /// Checks that the index names one of the hosts.
    pub fn validate(&self) -> Result<(), String> {
        if self.is_cluster() && self.process >= self.hosts.len() {
            return Err(format!(
                "cluster.process is {} but cluster.hosts lists {} processes (indexes 0..{})",
                self.process,
                self.hosts.len(),
                self.hosts.len() - 1
            ));
        }
        if !self.is_cluster() && self.process != 0 {
            return Err(format!("cluster.process is {} but cluster.hosts lists fewer than 2 processes", self.process));
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rest: RestConfig::default(),
            workers: 0,
            data_dir: PathBuf::from("data"),
            log_level: "info".into(),
            mqtt: MqttConfig::default(),
            store: KeyedStateConfig::default(),
            cluster: ClusterConfig::default(),
            conf_dir: PathBuf::from("etc"),
        }
    }
}

impl Config {
    /// Reads a configuration file; relative paths in it resolve against its folder.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut c: Config = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if c.data_dir.is_relative() {
            c.data_dir = dir.join(&c.data_dir);
        }
        c.conf_dir = dir;
        Ok(c)
    }

    /// Where `etc/sources/<type>.yaml` files live.
    pub fn sources_dir(&self) -> PathBuf {
        self.conf_dir.join("sources")
    }

    /// Where `etc/sinks/<type>.yaml` files live.
    pub fn sinks_dir(&self) -> PathBuf {
        self.conf_dir.join("sinks")
    }

    /// Worker count with 0 resolved to the number of cores.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 { self.workers } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: Config = serde_yaml::from_str("workers: 2").unwrap();
        assert_eq!(c.workers, 2);
        assert_eq!(c.rest.bind, "127.0.0.1:9081");
        assert_eq!(c.store.ext_state_type, "sqlite");
        let r: Config = serde_yaml::from_str("store:\n  extStateType: redis\n  redis:\n    port: 6380\n").unwrap();
        assert_eq!((r.store.ext_state_type.as_str(), r.store.redis.port), ("redis", 6380));
        let e = serde_yaml::from_str::<Config>("wrokers: 2").unwrap_err().to_string();
        assert!(e.contains("wrokers"), "{e}");
    }

    #[test]
    fn cluster_section() {
        let c: Config = serde_yaml::from_str("cluster:\n  hosts: [a:1, b:2]\n  process: 1\n").unwrap();
        assert!(c.cluster.is_cluster());
        assert!(c.cluster.validate().is_ok());
        let bad: Config = serde_yaml::from_str("cluster:\n  hosts: [a:1, b:2]\n  process: 2\n").unwrap();
        assert!(bad.cluster.validate().unwrap_err().contains("cluster.process is 2"));
        assert!(!Config::default().cluster.is_cluster());
    }

    #[test]
    fn paths_resolve_beside_the_file() {
        let dir = std::env::temp_dir().join(format!("oort-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("oort.yaml");
        std::fs::write(&file, "data_dir: ../data\nrest:\n  token: t\n").unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.data_dir, dir.join("../data"));
        assert_eq!(c.sources_dir(), dir.join("sources"));
        assert_eq!(c.sinks_dir(), dir.join("sinks"));
        assert_eq!(c.rest.token.as_deref(), Some("t"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
