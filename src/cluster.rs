//! Running as one process of a timely cluster.
//!
//! Every process runs `oort serve` with the same `cluster.hosts` and its own
//! `cluster.process`; timely's own communication connects them and every
//! worker of every process builds every rule's dataflow, in the order process
//! 0 sequences the commands. Process 0 is the full server (REST, store, rule
//! manager, sinks). The others are started by [`serve_follower`]: a worker
//! pool and the connector state, nothing else. When a rule's `CreateRule`
//! reaches them, [`ShareSources`] starts the rule's sources that read on every
//! process — each taking its share, see
//! [`reads_on_every_process`](crate::connectors::reads_on_every_process) — and
//! the inputs of the other sources are closed there. Records cross processes
//! through the dataflow's exchange, and results are gathered to worker 0 on
//! process 0, whose sinks deliver them. A follower ends when process 0 shuts
//! the cluster down.

use crate::config::Config;
use crate::connectors::{self, ClusterPosition, ConnectorEnv, SourceContext, memory::MemoryBus};
use crate::runtime::clock::Clock;
use crate::runtime::metrics::RuleMetrics;
use crate::runtime::{ClusterRole, RemoteSources, Runtime, RuntimeConfig, SourceFeed};
use crate::server::ServerError;
use oort_compiler::plan::RulePlan;
use std::sync::Arc;

/// Starts, on a follower, the sources of a rule that read on every process.
pub struct ShareSources {
    env: Arc<ConnectorEnv>,
    clock: Arc<dyn Clock>,
    handle: tokio::runtime::Handle,
}

impl ShareSources {
    /// Sources will be spawned on `handle`, with `env`'s connector state.
    pub fn new(env: Arc<ConnectorEnv>, clock: Arc<dyn Clock>, handle: tokio::runtime::Handle) -> Self {
        Self { env, clock, handle }
    }
}

impl RemoteSources for ShareSources {
    fn reads(&self, plan: &RulePlan) -> Vec<bool> {
        plan.sources.iter().map(|s| connectors::reads_on_every_process(&s.def.options.source_type)).collect()
    }

    fn start(&self, rule_id: &str, plan: &RulePlan, feeds: Vec<Option<SourceFeed>>, metrics: Arc<RuleMetrics>) {
        let _guard = self.handle.enter();
        for (source, feed) in plan.sources.iter().zip(feeds) {
            let Some(feed) = feed else { continue };
            let ctx = SourceContext {
                rule_id: rule_id.to_string(),
                stream: source.def.clone(),
                feed,
                metrics: metrics.clone(),
                clock: self.clock.clone(),
                env: self.env.clone(),
            };
            // The task ends by itself when the rule is dropped (its feed closes).
            if let Err(e) = connectors::spawn_source(ctx) {
                tracing::error!(rule = %rule_id, stream = %source.def.name, error = %e,
                    "cluster process could not start its share of a source");
                metrics.exception(&e.to_string(), self.clock.now_ms());
            }
        }
    }
}

/// This process's place, from the configuration.
pub fn position(cfg: &Config) -> ClusterPosition {
    if cfg.cluster.is_cluster() {
        ClusterPosition { process: cfg.cluster.process, processes: cfg.cluster.hosts.len() }
    } else {
        ClusterPosition::default()
    }
}

/// Runs a process other than 0 until process 0 shuts the cluster down (or
/// `shutdown` resolves, which takes this process out — and, as timely has no
/// membership changes, stops the cluster).
pub async fn serve_follower(
    cfg: Config,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|source| ServerError::DataDir { path: cfg.data_dir.clone(), source })?;
    let pos = position(&cfg);
    // Plugin functions are evaluated on every process: load what this
    // process's data directory holds (install plugins on every process).
    // (Keyed state is installed by `serve_until` for every process.)
    let plugins = crate::server::start_plugins(&cfg);
    let env = Arc::new(
        ConnectorEnv::new(MemoryBus::default(), cfg.data_dir.clone())
            .with_conf_dir(cfg.conf_dir.clone())
            .with_cluster(pos)
            .with_plugins(plugins),
    );
    let sources = Arc::new(ShareSources::new(env, clock.clone(), tokio::runtime::Handle::current()));
    let role = ClusterRole { hosts: cfg.cluster.hosts.clone(), process: pos.process, remote_sources: Some(sources) };
    let workers = cfg.worker_count();
    tracing::info!(process = pos.process, processes = pos.processes, workers, "connecting to the cluster");
    let runtime = tokio::task::spawn_blocking(move || {
        Runtime::start_in_cluster(RuntimeConfig { workers }, clock, role).map(Arc::new)
    })
    .await
    .map_err(|e| ServerError::Runtime(crate::runtime::RuntimeError::Start(e.to_string())))??;
    tracing::info!(process = pos.process, processes = pos.processes, workers, "oort cluster process ready");
    let rt = runtime.clone();
    // On a follower, `shutdown` waits for the workers: they leave when process 0's Shutdown arrives.
    let joined = tokio::task::spawn_blocking(move || rt.shutdown());
    tokio::select! {
        _ = joined => tracing::info!("the cluster shut down"),
        _ = shutdown => tracing::warn!("leaving the cluster: every process of it stops"),
    }
    Ok(())
}
