//! Starting and stopping the server: the worker pool, the rule manager, the
//! store and the REST endpoints (see [`crate::api`]).
//!
//! At boot the streams, tables and rules of the store come back, and every
//! rule that was running when the server last stopped (cleanly or not) is
//! started again. On Ctrl-C / SIGTERM the REST server stops taking requests,
//! every rule is stopped (sources end, dataflows are dropped), each rule's
//! sinks deliver what was already emitted and are flushed and closed, the
//! workers are joined, and the process exits. Stopping for shutdown does not
//! change what the store says should run.
//!
//! In a cluster (`cluster.hosts`), this is process 0; the other processes
//! run [`crate::cluster::serve_follower`] instead.

use crate::api::{self, AppState};
use crate::config::Config;
use crate::connectors::{ConnectorEnv, memory::MemoryBus};
use crate::plugins::PluginManager;
use crate::rule::manager::RuleManager;
use crate::rule::store::{Store, StoreError};
use crate::runtime::clock::Clock;
use crate::runtime::{ClusterRole, Runtime, RuntimeConfig, RuntimeError};
use oort_operators::functions::external::FunctionProvider;
use std::sync::Arc;
use std::time::Duration;

/// How long shutdown waits for sinks to flush.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be created.
    #[error("creating data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The worker pool did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The REST address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("REST server: {0}")]
    Http(#[source] std::io::Error),
}

/// Runs the server until a shutdown signal.
pub async fn serve(cfg: Config, clock: Arc<dyn Clock>) -> Result<(), ServerError> {
    serve_until(cfg, clock, shutdown_signal()).await
}

/// Runs the server until `shutdown` resolves.
pub async fn serve_until(
    cfg: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Every process evaluates rules, so every process reads keyed state.
    if let Err(e) = crate::keyed_state::install(&cfg.store, &cfg.data_dir) {
        tracing::error!("{e}; get_keyed_state answers its default");
    }
    if cfg.cluster.is_cluster() && cfg.cluster.process != 0 {
        return crate::cluster::serve_follower(cfg, clock, shutdown).await;
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|source| ServerError::DataDir { path: cfg.data_dir.clone(), source })?;
    let store = Arc::new(Store::open(&cfg.data_dir)?);
    let listener = tokio::net::TcpListener::bind(&cfg.rest.bind)
        .await
        .map_err(|source| ServerError::Bind { addr: cfg.rest.bind.clone(), source })?;
    let runtime_config = RuntimeConfig { workers: cfg.worker_count() };
    let runtime = if cfg.cluster.is_cluster() {
        tracing::info!(processes = cfg.cluster.hosts.len(), "connecting to the cluster as process 0");
        let role = ClusterRole { hosts: cfg.cluster.hosts.clone(), process: 0, remote_sources: None };
        let c = clock.clone();
        let started = tokio::task::spawn_blocking(move || Runtime::start_in_cluster(runtime_config, c, role))
            .await
            .map_err(|e| RuntimeError::Start(e.to_string()))??;
        Arc::new(started)
    } else {
        Arc::new(Runtime::start(runtime_config, clock.clone())?)
    };
    let plugins = start_plugins(&cfg);
    let mut env = ConnectorEnv::new(MemoryBus::default(), cfg.data_dir.clone())
        .with_conf_dir(cfg.conf_dir.clone())
        .with_cluster(crate::cluster::position(&cfg))
        .with_plugins(plugins.clone());
    if cfg.mqtt.embedded_broker {
        crate::connectors::mqtt::broker::start_embedded(cfg.mqtt.port, cfg.mqtt.v5_port);
        env = env.with_mqtt_server(format!("tcp://127.0.0.1:{}", cfg.mqtt.port));
    }
    let env = Arc::new(env);
    let manager = Arc::new(RuleManager::new(runtime.clone(), env, clock));
    restore(&manager, &store)?;
    // Rules that failed fatally (an operator or plugin sink that panicked) stop promptly, even
    // when nobody asks for their status.
    let reaper = manager.clone();
    let reap = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let m = reaper.clone();
            let _ = tokio::task::spawn_blocking(move || m.reap_failed()).await;
        }
    });
    if cfg.rest.token.is_none() && !is_loopback(&cfg.rest.bind) {
        tracing::warn!(bind = %cfg.rest.bind, "the REST API listens beyond loopback without a token");
    }
    let app = api::router(Arc::new(AppState::new(manager.clone(), store.clone())), &cfg.rest);
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| cfg.rest.bind.clone());
    tracing::info!(workers = runtime.workers(), rest = %addr, data_dir = %cfg.data_dir.display(), "oort started");
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    tracing::info!("shutting down: stopping rules and flushing sinks");
    reap.abort();
    let sinks = manager.stop_all_draining();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        for s in sinks {
            let _ = s.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout_s = DRAIN_TIMEOUT.as_secs(), "some sinks did not finish flushing in time");
    }
    let rt = runtime.clone();
    if tokio::time::timeout(DRAIN_TIMEOUT, tokio::task::spawn_blocking(move || rt.shutdown())).await.is_err() {
        tracing::warn!(timeout_s = DRAIN_TIMEOUT.as_secs(), "workers did not stop in time; exiting anyway");
    }
    tracing::info!("stopped");
    served.map_err(ServerError::Http)
}

/// The installed plugins (`<data>/plugins`, source configuration in `<conf>/sources`), loaded
/// again before any rule is restored, and made callable from rules as SQL functions. A plugin
/// that no longer loads is logged and left on disk.
pub fn start_plugins(cfg: &Config) -> Arc<PluginManager> {
    let plugins = Arc::new(PluginManager::new(&cfg.data_dir, &cfg.conf_dir));
    let failed = plugins.restore();
    for (kind, name, error) in &failed {
        tracing::error!(kind = kind.as_str(), name = %name, error = %error, "installed plugin could not be loaded");
    }
    let provider: Arc<dyn FunctionProvider> = plugins.clone();
    oort_operators::functions::external::register(Arc::downgrade(&provider));
    plugins
}

/// Brings back the stored streams and rules; rules that should run are started.
/// A definition that no longer loads is logged and kept in the store.
pub fn restore(manager: &RuleManager, store: &Store) -> Result<(), StoreError> {
    let streams = store.streams()?;
    for s in &streams {
        if let Err(e) = manager.create_stream(&s.sql) {
            tracing::error!(name = %s.name, error = %e, "stored {} could not be restored", s.kind);
        }
    }
    let rules = store.rules()?;
    let mut started = 0;
    for r in &rules {
        let id = r.def.id.clone();
        if let Err(e) = manager.load_rule(r.def.clone()) {
            tracing::error!(rule = %id, error = %e, "stored rule could not be restored");
            continue;
        }
        if r.running {
            match manager.start_rule(&id) {
                Ok(()) => started += 1,
                Err(e) => {
                    tracing::error!(rule = %id, error = %e, "stored rule could not be started");
                    manager.mark_stopped_by_error(&id, &e.to_string());
                }
            }
        }
    }
    tracing::info!(streams = streams.len(), rules = rules.len(), started, "restored from {}", store.path().display());
    Ok(())
}

fn is_loopback(bind: &str) -> bool {
    match bind.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => bind.starts_with("localhost:"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:9081"));
        assert!(is_loopback("[::1]:9081"));
        assert!(is_loopback("localhost:9081"));
        assert!(!is_loopback("0.0.0.0:9081"));
    }
}
