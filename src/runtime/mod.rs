//! The runtime: one pool of timely workers that runs every rule.
//!
//! [`Runtime::start`] starts the workers once. [`Runtime::install`] registers
//! a rule's channels (one bounded feed per source per worker, one emission
//! queue) and sends `CreateRule`; [`Runtime::uninstall`] sends `DropRule`.
//! Commands go to worker 0, which sequences them for every worker (see
//! [`command`]). Sources are tokio tasks holding a [`SourceFeed`]; the sink
//! driver holds the emission receiver.

pub mod clock;
pub mod command;
pub mod metrics;
pub mod worker;

use clock::Clock;
use command::Command;
use metrics::RuleMetrics;
use oort_compiler::plan::RulePlan;
use oort_operators::query::Emission;
use oort_operators::source::SourceRecord;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use tokio::sync::mpsc;
use worker::{RuleWiring, Wiring, WorkerContext};

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// timely could not start.
    #[error("could not start the worker pool: {0}")]
    Start(String),
    /// The workers are gone.
    #[error("the worker pool has stopped")]
    Stopped,
}

/// Runtime configuration.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Worker threads.
    pub workers: usize,
}

/// Feeds one source of one rule: batches go round-robin to the workers.
#[derive(Clone)]
pub struct SourceFeed {
    senders: Vec<mpsc::Sender<Vec<SourceRecord>>>,
    threads: Arc<Mutex<Vec<Thread>>>,
    next: Arc<AtomicUsize>,
}

impl SourceFeed {
    /// Sends a batch, waiting while the rule's queue is full (backpressure).
    /// Fails once the rule is gone.
    pub async fn send(&self, batch: Vec<SourceRecord>) -> Result<(), RuntimeError> {
        if self.senders.is_empty() {
            return Err(RuntimeError::Stopped);
        }
        let w = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        self.senders[w].send(batch).await.map_err(|_| RuntimeError::Stopped)?;
        self.wake(w);
        Ok(())
    }

    /// Sends a batch from synchronous code, blocking while the queue is full.
    /// Must not be called from inside the tokio runtime.
    pub fn blocking_send(&self, batch: Vec<SourceRecord>) -> Result<(), RuntimeError> {
        if self.senders.is_empty() {
            return Err(RuntimeError::Stopped);
        }
        let w = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        self.senders[w].blocking_send(batch).map_err(|_| RuntimeError::Stopped)?;
        self.wake(w);
        Ok(())
    }

    /// Sends a batch if the next worker's queue has room, without waiting:
    /// `Ok(false)` means full (the caller keeps the batch and retries later),
    /// for producers that must not block (plugin sources answer "retry").
    pub fn try_send(&self, batch: Vec<SourceRecord>) -> Result<bool, RuntimeError> {
        if self.senders.is_empty() {
            return Err(RuntimeError::Stopped);
        }
        let w = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        match self.senders[w].try_send(batch) {
            Ok(()) => {
                self.wake(w);
                Ok(true)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(RuntimeError::Stopped),
        }
    }

    /// Whether the rule has gone away.
    pub fn is_closed(&self) -> bool {
        self.senders.iter().all(|s| s.is_closed())
    }

    fn wake(&self, w: usize) {
        if let Ok(threads) = self.threads.lock()
            && let Some(t) = threads.get(w)
        {
            t.unpark();
        }
    }
}

/// What the caller keeps of an installed rule.
pub struct InstalledRule {
    /// One feed per plan source.
    pub feeds: Vec<SourceFeed>,
    /// The rule's emissions; closes when every worker has dropped the rule.
    pub emissions: mpsc::UnboundedReceiver<Emission>,
    /// Counters.
    pub metrics: Arc<RuleMetrics>,
    /// Installation generation (for `uninstall`).
    pub generation: u64,
}

/// The worker pool.
pub struct Runtime {
    clock: Arc<dyn Clock>,
    commands: crossbeam_channel::Sender<Command>,
    wiring: Arc<Wiring>,
    threads: Arc<Mutex<Vec<Thread>>>,
    workers: usize,
    generation: AtomicU64,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
}

impl Runtime {
    /// Starts `config.workers` timely workers in this process.
    pub fn start(config: RuntimeConfig, clock: Arc<dyn Clock>) -> Result<Self, RuntimeError> {
        let workers = config.workers.max(1);
        let (tx, rx) = crossbeam_channel::unbounded::<Command>();
        let wiring = Arc::new(Wiring::default());
        let threads: Arc<Mutex<Vec<Thread>>> = Arc::new(Mutex::new(Vec::new()));
        let (thread_tx, thread_rx) = crossbeam_channel::unbounded::<(usize, Thread)>();
        let w2 = wiring.clone();
        let t2 = threads.clone();
        let rx = Arc::new(rx);
        let worker_clock = clock.clone();
        let guards = timely::execute(timely::Config::process(workers), move |worker| {
            let _ = thread_tx.send((worker.index(), std::thread::current()));
            let ctx = WorkerContext {
                commands: (*rx).clone(),
                wiring: w2.clone(),
                clock: worker_clock.clone(),
                threads: t2.clone(),
            };
            worker::run(worker, ctx);
        })
        .map_err(RuntimeError::Start)?;
        let mut found: Vec<Option<Thread>> = vec![None; workers];
        for _ in 0..workers {
            let (i, t) = thread_rx.recv().map_err(|e| RuntimeError::Start(e.to_string()))?;
            if let Some(slot) = found.get_mut(i) {
                *slot = Some(t);
            }
        }
        if let Ok(mut ts) = threads.lock() {
            *ts = found.into_iter().flatten().collect();
        }
        Ok(Self {
            clock,
            commands: tx,
            wiring,
            threads,
            workers,
            generation: AtomicU64::new(1),
            guards: Mutex::new(Some(guards)),
        })
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Installs a rule on every worker.
    pub fn install(&self, id: &str, plan: RulePlan) -> Result<InstalledRule, RuntimeError> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let per_worker = (plan.options.buffer_length / self.workers).max(4);
        let sources = plan.sources.len();
        let mut senders: Vec<Vec<mpsc::Sender<Vec<SourceRecord>>>> = vec![Vec::new(); sources];
        let mut feeds = Vec::with_capacity(self.workers);
        for _ in 0..self.workers {
            let mut row = Vec::with_capacity(sources);
            for s in senders.iter_mut() {
                let (tx, rx) = mpsc::channel(per_worker);
                s.push(tx);
                row.push(Some(rx));
            }
            feeds.push(row);
        }
        let (sink_tx, sink_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(RuleMetrics::default());
        self.wiring.register(
            id,
            generation,
            RuleWiring {
                feeds,
                sink: sink_tx,
                metrics: metrics.clone(),
                max_event_ts: Arc::new((0..sources).map(|_| AtomicU64::new(0)).collect()),
                active_until: Arc::new(AtomicU64::new(0)),
                anchor_ms: self.clock.now_ms(),
                is_table: plan
                    .sources
                    .iter()
                    .map(|s| s.def.kind == oort_compiler::catalog::StreamKind::Table)
                    .collect(),
                remaining: self.workers,
            },
        );
        self.send(Command::CreateRule { id: id.to_string(), generation, plan: Box::new(plan) })?;
        let feeds = senders
            .into_iter()
            .map(|s| SourceFeed { senders: s, threads: self.threads.clone(), next: Arc::new(AtomicUsize::new(0)) })
            .collect();
        Ok(InstalledRule { feeds, emissions: sink_rx, metrics, generation })
    }

    /// Removes a rule from every worker.
    pub fn uninstall(&self, id: &str, generation: u64) -> Result<(), RuntimeError> {
        self.send(Command::DropRule { id: id.to_string(), generation })
    }

    fn send(&self, cmd: Command) -> Result<(), RuntimeError> {
        self.commands.send(cmd).map_err(|_| RuntimeError::Stopped)?;
        if let Ok(threads) = self.threads.lock()
            && let Some(t) = threads.first()
        {
            t.unpark();
        }
        Ok(())
    }

    /// Drops every rule and joins the workers.
    pub fn shutdown(&self) {
        let _ = self.send(Command::Shutdown);
        let guards = self.guards.lock().ok().and_then(|mut g| g.take());
        if let Some(g) = guards {
            for r in g.join() {
                if let Err(e) = r {
                    tracing::error!(error = %e, "worker ended with an error");
                }
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_send_answers_full_instead_of_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let feed = SourceFeed { senders: vec![tx], threads: Arc::default(), next: Arc::default() };
        assert!(feed.try_send(Vec::new()).unwrap());
        assert!(!feed.try_send(Vec::new()).unwrap(), "the queue holds one batch: full");
        assert!(rx.try_recv().is_ok());
        assert!(feed.try_send(Vec::new()).unwrap(), "room again");
        drop(rx);
        assert!(matches!(feed.try_send(Vec::new()), Err(RuntimeError::Stopped)));
    }
}
