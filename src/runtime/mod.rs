//! The runtime: one pool of timely workers that runs every rule.
//!
//! [`Runtime::start`] starts the workers once. [`Runtime::install`] registers
//! a rule's channels (one bounded feed per source per worker, one emission
//! queue) and sends `CreateRule`; [`Runtime::uninstall`] sends `DropRule`.
//! Commands go to worker 0, which sequences them for every worker (see
//! [`command`]). Sources are tokio tasks holding a [`SourceFeed`]; the sink
//! driver holds the emission receiver.
//!
//! In a cluster ([`Runtime::start_in_cluster`]) every process starts the same
//! pool; process 0 owns the rules and sends the commands, and the other
//! processes build a rule's wiring themselves when its `CreateRule` reaches
//! them, asking a [`RemoteSources`] to start the sources that read on every
//! process. Sources that read on process 0 only have their inputs closed on
//! the others, and every emission is gathered to worker 0, so one set of
//! sinks on process 0 sees the rule's whole output.

pub mod clock;
pub mod command;
pub mod metrics;
pub mod worker;

use clock::Clock;
use command::Command;
use metrics::RuleMetrics;
use oort_compiler::plan::RulePlan;
use oort_operators::key_placement::KeyPlacement;
use oort_operators::keyed;
use oort_operators::partition::{KeyPartition, KeyRouter};
use oort_operators::query::Emission;
use oort_operators::shared_scan;
use oort_operators::source::SourceBatch;
use oort_operators::window::PlanShape;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Worker threads (per process, in a cluster).
    pub workers: usize,
}

/// This process's place in a timely cluster.
#[derive(Clone)]
pub struct ClusterRole {
    /// `host:port` of every process, in process order.
    pub hosts: Vec<String>,
    /// This process's index in `hosts`.
    pub process: usize,
    /// On processes other than 0: starts the sources of a rule that read on
    /// every process (process 0's rule manager starts its own).
    pub remote_sources: Option<Arc<dyn RemoteSources>>,
}

/// Starts, on a process other than 0, the sources of a rule that read on
/// every process (an MQTT shared subscription, a share of a file).
pub trait RemoteSources: Send + Sync {
    /// Which of the plan's sources this process reads, in plan order. The
    /// inputs of the others are closed on this process's workers.
    fn reads(&self, plan: &RulePlan) -> Vec<bool>;
    /// Starts the sources this process reads; `feeds[i]` is `Some` exactly
    /// where `reads` said so. The sources end when the rule is dropped (their
    /// feeds close).
    fn start(&self, rule_id: &str, plan: &RulePlan, feeds: Vec<Option<SourceFeed>>, metrics: Arc<RuleMetrics>);
}

/// Until when (ms) a rule is considered to hold open windows in a cluster:
/// always, since a process cannot see that another one received data.
const ALWAYS_ACTIVE_MS: u64 = u64::MAX / 4;

/// The stream groups of a runtime: which group serves which source layout,
/// and which rules are members.
#[derive(Default)]
struct Groups {
    next: u64,
    /// Group key (`shared_scan::group_key`) → group.
    by_key: HashMap<String, u64>,
    open: HashMap<u64, OpenGroup>,
    /// `(rule, generation)` → its group, and the flag that silences it once stopped.
    members: HashMap<(String, u64), (u64, Arc<AtomicBool>)>,
}

struct OpenGroup {
    key: String,
    feed: SourceFeed,
    members: usize,
    source_metrics: Arc<RuleMetrics>,
}

/// A batch of records as a worker receives it: a whole batch of the source,
/// or, on a key-partitioned input, the part of one whose keys this worker
/// owns ([`oort_operators::partition`]).
#[derive(Debug)]
pub struct FeedBatch {
    /// The records.
    pub records: SourceBatch,
    /// Where the batch stands in its source's order, when several workers
    /// take in an event-time input: the ledger and the batch's number.
    ticket: Option<(Arc<Mutex<BatchLedger>>, u64)>,
}

impl FeedBatch {
    fn whole(records: SourceBatch) -> Self {
        Self { records, ticket: None }
    }

    /// Notes that the worker has taken the batch in, with event times up to
    /// `max_ts`: the largest event time of the source's batches that are now
    /// taken in completely, in the order they were sent (see [`BatchLedger`];
    /// at once when one worker takes the input in), else `None`.
    pub fn finish(&self, max_ts: u64) -> Option<u64> {
        match &self.ticket {
            None => Some(max_ts),
            Some((ledger, seq)) => ledger.lock().unwrap_or_else(|e| e.into_inner()).taken(*seq, max_ts),
        }
    }
}

/// The order one source's batches were sent in, when several workers take
/// in an event-time input.
///
/// The input's shared maximum (what its watermark comes from) takes in a
/// batch's event times only once that batch — every part of a split one —
/// and every batch sent before it are taken in: a worker still taking in
/// earlier records must not find the watermark already past them because
/// another worker took in later ones (the rest of a split batch, or the
/// next batch, sent to it in turn), or it would drop them as late.
#[derive(Debug, Default)]
pub(crate) struct BatchLedger {
    /// Number of the oldest batch not taken in completely.
    first_open: u64,
    /// From `first_open` on, each batch sent: its parts not taken in yet
    /// and the largest event time of those taken in.
    open: VecDeque<(usize, u64)>,
}

impl BatchLedger {
    /// Notes a batch sent in `parts` parts; its number.
    fn sent(&mut self, parts: usize) -> u64 {
        self.open.push_back((parts, 0));
        self.first_open + self.open.len() as u64 - 1
    }

    /// One part of batch `seq` taken in, with event times up to `max_ts`:
    /// the largest event time of the batches this completes, in order.
    fn taken(&mut self, seq: u64, max_ts: u64) -> Option<u64> {
        let entry = seq.checked_sub(self.first_open).and_then(|i| self.open.get_mut(usize::try_from(i).ok()?))?;
        entry.0 = entry.0.saturating_sub(1);
        entry.1 = entry.1.max(max_ts);
        let mut done = None;
        while let Some(&(0, max)) = self.open.front() {
            done = Some(done.map_or(max, |d: u64| d.max(max)));
            self.open.pop_front();
            self.first_open += 1;
        }
        done
    }
}

/// Feeds one source of one rule: batches go round-robin to the workers, or,
/// for a key-partitioned input, each batch is split by key, one part per
/// worker (each worker decodes the records whose key it owns).
#[derive(Clone)]
pub struct SourceFeed {
    senders: Vec<mpsc::Sender<FeedBatch>>,
    threads: Arc<Mutex<Vec<Thread>>>,
    next: Arc<AtomicUsize>,
    /// Splits a key-partitioned input's batches (one lock per batch).
    router: Option<Arc<Mutex<KeyRouter>>>,
    /// Numbers the batches of an event-time input that several workers take in.
    ledger: Option<Arc<Mutex<BatchLedger>>>,
}

impl SourceFeed {
    /// The parts of `batch` and the workers they go to: the whole batch to
    /// the next worker in turn, or one part per worker that owns some of its
    /// keys.
    fn parts(&self, batch: SourceBatch) -> Vec<(usize, FeedBatch)> {
        // One worker takes every record: no routing.
        let router = self.router.as_ref().filter(|_| self.senders.len() > 1).and_then(|r| r.lock().ok());
        let Some(mut router) = router.filter(|r| r.locals() == self.senders.len() && !batch.is_empty()) else {
            let w = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
            return vec![(w, FeedBatch::whole(batch))];
        };
        let parts = batch.split(self.senders.len(), &mut *router);
        drop(router);
        parts
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(w, records)| (w, FeedBatch::whole(records)))
            .collect()
    }

    /// Gives the parts of one batch, about to be sent, their place in the
    /// source's order (an event-time input several workers take in). Called
    /// only once every part is sure to be sent: the ledger waits for each.
    fn stamp(&self, parts: &mut [(usize, FeedBatch)]) {
        let Some(ledger) = &self.ledger else { return };
        if parts.is_empty() {
            return;
        }
        let seq = ledger.lock().unwrap_or_else(|e| e.into_inner()).sent(parts.len());
        for (_, part) in parts {
            part.ticket = Some((ledger.clone(), seq));
        }
    }

    /// Sends a batch, waiting while the rule's queue is full (backpressure).
    /// Fails once the rule is gone.
    pub async fn send(&self, batch: impl Into<SourceBatch>) -> Result<(), RuntimeError> {
        if self.senders.is_empty() {
            return Err(RuntimeError::Stopped);
        }
        let mut parts = self.parts(batch.into());
        // Room for every part first: a send given up while waiting (its
        // future dropped) then leaves no stamped part unsent.
        let mut permits = Vec::with_capacity(parts.len());
        for (w, _) in &parts {
            let tx = &self.senders[*w];
            room(tx).await?;
            permits.push(tx.reserve().await.map_err(|_| RuntimeError::Stopped)?);
        }
        self.stamp(&mut parts);
        for (permit, (w, part)) in permits.into_iter().zip(parts) {
            permit.send(part);
            self.wake(w);
        }
        Ok(())
    }

    /// Sends a batch from synchronous code, blocking while the queue is full.
    /// Must not be called from inside the tokio runtime.
    pub fn blocking_send(&self, batch: impl Into<SourceBatch>) -> Result<(), RuntimeError> {
        if self.senders.is_empty() {
            return Err(RuntimeError::Stopped);
        }
        let mut parts = self.parts(batch.into());
        self.stamp(&mut parts);
        for (w, part) in parts {
            let tx = &self.senders[w];
            block_on(room(tx))?;
            tx.blocking_send(part).map_err(|_| RuntimeError::Stopped)?;
            self.wake(w);
        }
        Ok(())
    }

    /// Sends a batch if the queue of every worker it goes to has room,
    /// without waiting: `Ok(false)` means full (the caller keeps the batch
    /// and retries later), for producers that must not block (plugin sources
    /// answer "retry").
    pub fn try_send(&self, batch: impl Into<SourceBatch>) -> Result<bool, RuntimeError> {
        if self.senders.is_empty() {
            return Err(RuntimeError::Stopped);
        }
        let mut parts = self.parts(batch.into());
        // Room everywhere first, so a batch goes to all of its workers or to none.
        let mut permits = Vec::with_capacity(parts.len());
        for (w, _) in &parts {
            match self.senders[*w].try_reserve() {
                Ok(permit) => permits.push(permit),
                Err(mpsc::error::TrySendError::Full(())) => return Ok(false),
                Err(mpsc::error::TrySendError::Closed(())) => return Err(RuntimeError::Stopped),
            }
        }
        self.stamp(&mut parts);
        for (permit, (w, part)) in permits.into_iter().zip(parts) {
            permit.send(part);
            self.wake(w);
        }
        Ok(true)
    }

    /// Whether `other` feeds the same channels (rules of one stream group
    /// share their group's feed: feed it once, not once per rule).
    pub fn same_as(&self, other: &SourceFeed) -> bool {
        Arc::ptr_eq(&self.next, &other.next)
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

/// Waits, when a worker's queue `tx` is full, until half of it is free.
/// A sender that waited for one free place sent again after every batch the
/// worker took: a wake-up, and on a busy machine a preemption of a worker,
/// per batch (about 1,700 per 2 M events on the benchmark's memory feed).
/// Woken once half the queue is free, it fills that half in one go.
/// Backpressure is unchanged: a full queue still stops the sender.
async fn room(tx: &mpsc::Sender<FeedBatch>) -> Result<(), RuntimeError> {
    if tx.capacity() == 0 {
        let half = (tx.max_capacity() / 2).max(1);
        // The places are taken only to wait for them; they are free again at once.
        drop(tx.reserve_many(half).await.map_err(|_| RuntimeError::Stopped)?);
    }
    Ok(())
}

/// Runs `future` to its end on this thread, parking it while the future
/// waits (for [`room`] from synchronous senders).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// A rule's place in a stream group (see [`Runtime::install_shared`]).
#[derive(Clone)]
pub struct GroupMembership {
    /// The group.
    pub group: u64,
    /// This rule opened the group: the caller starts the group's sources
    /// (feeding `feeds`) and stops them when [`Runtime::uninstall`] reports
    /// the group closed.
    pub opened: bool,
    /// The counters the group's sources report to (connection errors): the
    /// metrics of the rule that opened the group.
    pub source_metrics: Arc<RuleMetrics>,
}

/// What the caller keeps of an installed rule.
pub struct InstalledRule {
    /// One feed per plan source (a group member: the group's feed).
    pub feeds: Vec<SourceFeed>,
    /// Set when the rule runs in a stream group.
    pub group: Option<GroupMembership>,
    /// The rule's emissions, in batches (one per worker output batch);
    /// closes when every worker has dropped the rule.
    pub emissions: mpsc::UnboundedReceiver<Vec<Emission>>,
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
    placement: Placement,
    cluster: bool,
    generation: AtomicU64,
    groups: Mutex<Groups>,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
}

impl Runtime {
    /// Starts `config.workers` timely workers in this process.
    pub fn start(config: RuntimeConfig, clock: Arc<dyn Clock>) -> Result<Self, RuntimeError> {
        Self::start_with(config, clock, None)
    }

    /// Starts this process's `config.workers` timely workers as one process of
    /// a cluster; returns once every process is connected. Only process 0 may
    /// install rules.
    pub fn start_in_cluster(
        config: RuntimeConfig,
        clock: Arc<dyn Clock>,
        role: ClusterRole,
    ) -> Result<Self, RuntimeError> {
        if role.hosts.len() < 2 || role.process >= role.hosts.len() {
            return Err(RuntimeError::Start(format!(
                "a cluster needs at least 2 hosts and a process index below their count (hosts: {}, process: {})",
                role.hosts.len(),
                role.process
            )));
        }
        Self::start_with(config, clock, Some(role))
    }

    fn start_with(
        config: RuntimeConfig,
        clock: Arc<dyn Clock>,
        role: Option<ClusterRole>,
    ) -> Result<Self, RuntimeError> {
        let workers = config.workers.max(1);
        let (tx, rx) = crossbeam_channel::unbounded::<Command>();
        let wiring = Arc::new(Wiring::default());
        let threads: Arc<Mutex<Vec<Thread>>> = Arc::new(Mutex::new(Vec::new()));
        let (thread_tx, thread_rx) = crossbeam_channel::unbounded::<(usize, Thread)>();
        let w2 = wiring.clone();
        let t2 = threads.clone();
        let rx = Arc::new(rx);
        let worker_clock = clock.clone();
        let placement = match &role {
            None => Placement { workers, first: 0, peers: workers },
            Some(r) => Placement { workers, first: r.process * workers, peers: r.hosts.len() * workers },
        };
        let first_index = placement.first;
        let (timely_config, remote) = match &role {
            None => (timely::Config::process(workers), None),
            Some(r) => (
                timely::Config {
                    communication: timely::CommunicationConfig::Cluster {
                        threads: workers,
                        process: r.process,
                        addresses: r.hosts.clone(),
                        report: false,
                        zerocopy: false,
                    },
                    worker: timely::WorkerConfig::default(),
                },
                Some(RemoteWiring { sources: r.remote_sources.clone(), placement, threads: threads.clone() }),
            ),
        };
        let cluster = role.is_some();
        let remote = remote.map(Arc::new);
        let guards = timely::execute(timely_config, move |worker| {
            let local = worker.index() - first_index;
            let _ = thread_tx.send((local, std::thread::current()));
            let ctx = WorkerContext {
                commands: (*rx).clone(),
                wiring: w2.clone(),
                clock: worker_clock.clone(),
                threads: t2.clone(),
                first_index,
                remote: remote.clone(),
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
            placement,
            cluster,
            generation: AtomicU64::new(1),
            groups: Mutex::default(),
            guards: Mutex::new(Some(guards)),
        })
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.placement.workers
    }

    /// Whether this runtime is one process of a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Installs a rule on every worker (of every process, in a cluster).
    pub fn install(&self, id: &str, plan: impl Into<Arc<RulePlan>>) -> Result<InstalledRule, RuntimeError> {
        let plan = plan.into();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let anchor_ms = self.clock.now_ms();
        let reads = vec![true; plan.sources.len()];
        let built = build_wiring(&plan, self.placement, &reads, anchor_ms, self.cluster, &self.threads);
        self.wiring.register(id, generation, built.wiring);
        self.send(Command::CreateRule { id: id.to_string(), generation, anchor_ms, plan })?;
        let feeds = built.feeds.into_iter().flatten().collect();
        Ok(InstalledRule { feeds, group: None, emissions: built.emissions, metrics: built.metrics, generation })
    }

    /// Installs a rule, in a stream group when it can be one
    /// ([`shared_scan::fusable`]; not in a cluster): the group's dataflow
    /// decodes each record of the stream once for all its member rules, and
    /// the group's one feed (returned in `feeds`) is fed by one set of
    /// sources. Other rules get their own dataflow, as [`Self::install`].
    pub fn install_shared(&self, id: &str, plan: impl Into<Arc<RulePlan>>) -> Result<InstalledRule, RuntimeError> {
        let plan = plan.into();
        if self.cluster || !shared_scan::fusable(&plan) {
            return self.install(id, plan);
        }
        let key = shared_scan::group_key(&plan, &oort_operators::plan_exprs::referenced_slots(&plan));
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let anchor_ms = self.clock.now_ms();
        let member = build_wiring(&plan, self.placement, &[false], anchor_ms, false, &self.threads);
        let mut groups = self.groups.lock().map_err(|_| RuntimeError::Stopped)?;
        let (group, opened) = match groups.by_key.get(&key) {
            Some(g) => (*g, false),
            None => {
                groups.next += 1;
                let g = groups.next;
                let built = build_wiring(&plan, self.placement, &[true], anchor_ms, false, &self.threads);
                let feed = built.feeds.into_iter().flatten().next().ok_or(RuntimeError::Stopped)?;
                self.wiring.register(command::GROUP_WIRING, g, built.wiring);
                self.send(Command::CreateGroup { group: g, plan: plan.clone() })?;
                // The group's sources report to the rule that opened it, so a
                // rule alone in its group counts its source's errors as before.
                let source_metrics = member.metrics.clone();
                groups.by_key.insert(key.clone(), g);
                groups.open.insert(g, OpenGroup { key, feed, members: 0, source_metrics });
                (g, true)
            }
        };
        let stopped = member.wiring.stopped.clone();
        self.wiring.register(id, generation, member.wiring);
        self.send(Command::JoinGroup { id: id.to_string(), generation, group, plan })?;
        let open = groups.open.get_mut(&group).ok_or(RuntimeError::Stopped)?;
        open.members += 1;
        let membership = GroupMembership { group, opened, source_metrics: open.source_metrics.clone() };
        let feeds = vec![open.feed.clone()];
        groups.members.insert((id.to_string(), generation), (group, stopped));
        Ok(InstalledRule {
            feeds,
            group: Some(membership),
            emissions: member.emissions,
            metrics: member.metrics,
            generation,
        })
    }

    /// Removes a rule from every worker. For a member of a stream group that
    /// was the last one, the group closes too and its id is returned (its
    /// sources should stop).
    pub fn uninstall(&self, id: &str, generation: u64) -> Result<Option<u64>, RuntimeError> {
        let mut groups = self.groups.lock().map_err(|_| RuntimeError::Stopped)?;
        let member = groups.members.remove(&(id.to_string(), generation));
        if let Some((_, stopped)) = &member {
            // The group's source keeps feeding the other members until the
            // workers apply the drop: nothing more reaches this rule's sinks.
            stopped.store(true, Ordering::Release);
        }
        self.send(Command::DropRule { id: id.to_string(), generation })?;
        let Some((group, _)) = member else { return Ok(None) };
        let Some(open) = groups.open.get_mut(&group) else { return Ok(None) };
        open.members = open.members.saturating_sub(1);
        if open.members > 0 {
            return Ok(None);
        }
        if let Some(open) = groups.open.remove(&group) {
            groups.by_key.remove(&open.key);
        }
        self.send(Command::DropGroup { group })?;
        Ok(Some(group))
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

/// A rule's wiring before the workers take their shares, and what the caller keeps.
struct BuiltWiring {
    wiring: RuleWiring,
    /// One feed per plan source; `None` where this process does not read it.
    feeds: Vec<Option<SourceFeed>>,
    emissions: mpsc::UnboundedReceiver<Vec<Emission>>,
    metrics: Arc<RuleMetrics>,
}

/// Where this process's workers sit among the workers of the computation.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// Workers of this process.
    workers: usize,
    /// Global index of the process's first worker.
    first: usize,
    /// Workers of the whole computation.
    peers: usize,
}

/// Creates a rule's channels for this process's workers: a bounded feed per
/// source per worker where `reads[source]`, and the emission queue.
fn build_wiring(
    plan: &Arc<RulePlan>,
    placement: Placement,
    reads: &[bool],
    anchor_ms: u64,
    cluster: bool,
    threads: &Arc<Mutex<Vec<Thread>>>,
) -> BuiltWiring {
    let workers = placement.workers;
    let per_worker = (plan.options.buffer_length / workers).max(4);
    let sources = plan.sources.len();
    let mut senders: Vec<Vec<mpsc::Sender<FeedBatch>>> = vec![Vec::new(); sources];
    // A key-partitioned input's batches are split by key, each worker decoding its
    // keys' records (with one worker there is nothing to partition).
    let partition = KeyPartition::of(plan).filter(|_| workers > 1);
    // Where a keyed window's GROUP BY keys are folded: given out in turn, when
    // every worker is in this process and so can share the placement; by the
    // key hash alone in a cluster (processes could not agree on an order).
    let keys = (placement.peers > 1 && PlanShape::of(plan).is_ok_and(|shape| keyed::exchanges_by_key(plan, &shape)))
        .then(|| {
            Arc::new(match cluster || workers != placement.peers {
                true => KeyPlacement::by_hash(placement.peers),
                false => KeyPlacement::balanced(placement.peers),
            })
        });
    let mut feeds = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut row = Vec::with_capacity(sources);
        for (s, tx_list) in senders.iter_mut().enumerate() {
            if reads.get(s).copied().unwrap_or(false) {
                let (tx, rx) = mpsc::channel(per_worker);
                tx_list.push(tx);
                row.push(Some(rx));
            } else {
                row.push(None);
            }
        }
        feeds.push(row);
    }
    let (sink_tx, sink_rx) = mpsc::unbounded_channel();
    let metrics = Arc::new(RuleMetrics::default());
    let wiring = RuleWiring {
        feeds,
        sink: sink_tx,
        metrics: metrics.clone(),
        max_event_ts: Arc::new((0..sources).map(|_| AtomicU64::new(0)).collect()),
        active_until: Arc::new(AtomicU64::new(if cluster { ALWAYS_ACTIVE_MS } else { 0 })),
        anchor_ms,
        is_table: plan.sources.iter().map(|s| s.def.kind == oort_compiler::catalog::StreamKind::Table).collect(),
        remaining: workers,
        gather: cluster,
        stopped: Arc::new(AtomicBool::new(false)),
        keys: keys.clone(),
    };
    let feeds = senders
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            (!s.is_empty()).then(|| SourceFeed {
                senders: s,
                threads: threads.clone(),
                next: Arc::new(AtomicUsize::new(0)),
                // A partitioned rule exchanges by key, so it has a placement.
                router: partition.as_ref().filter(|p| p.source == i).zip(keys.as_ref()).map(|(p, keys)| {
                    Arc::new(Mutex::new(KeyRouter::new(plan, p, workers, placement.first, keys.clone())))
                }),
                ledger: (plan.options.is_event_time && workers > 1).then(Arc::default),
            })
        })
        .collect();
    BuiltWiring { wiring, feeds, emissions: sink_rx, metrics }
}

/// How a process other than 0 wires a rule whose `CreateRule` reached it.
pub struct RemoteWiring {
    sources: Option<Arc<dyn RemoteSources>>,
    placement: Placement,
    threads: Arc<Mutex<Vec<Thread>>>,
}

impl RemoteWiring {
    /// Builds the rule's wiring on this process and starts its local sources.
    /// The emission queue's receiver is dropped: emissions are gathered to
    /// worker 0, on process 0.
    pub fn wire(&self, id: &str, plan: &Arc<RulePlan>, anchor_ms: u64) -> RuleWiring {
        let reads = match &self.sources {
            Some(s) => s.reads(plan),
            None => vec![false; plan.sources.len()],
        };
        let built = build_wiring(plan, self.placement, &reads, anchor_ms, true, &self.threads);
        if let Some(s) = &self.sources
            && built.feeds.iter().any(Option::is_some)
        {
            s.start(id, plan, built.feeds, built.metrics.clone());
        }
        built.wiring
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oort_operators::source::{PayloadRef, SourceRecord};

    #[test]
    fn try_send_answers_full_instead_of_waiting() {
        let (tx, mut rx) = mpsc::channel(1);
        let feed =
            SourceFeed { senders: vec![tx], threads: Arc::default(), next: Arc::default(), router: None, ledger: None };
        assert!(feed.try_send(Vec::new()).unwrap());
        assert!(!feed.try_send(Vec::new()).unwrap(), "the queue holds one batch: full");
        assert!(rx.try_recv().is_ok());
        assert!(feed.try_send(Vec::new()).unwrap(), "room again");
        drop(rx);
        assert!(matches!(feed.try_send(Vec::new()), Err(RuntimeError::Stopped)));
    }

    /// A sender that finds a worker's queue full sends again only once half
    /// of it is free (stepped by hand: the async form), and a blocking
    /// sender waits as long.
    #[test]
    fn a_full_queue_takes_batches_again_once_half_of_it_is_free() {
        let full = || {
            let (tx, rx) = mpsc::channel(4);
            let feed = SourceFeed {
                senders: vec![tx],
                threads: Arc::default(),
                next: Arc::default(),
                router: None,
                ledger: None,
            };
            for _ in 0..4 {
                assert!(feed.try_send(Vec::new()).unwrap());
            }
            (feed, rx)
        };
        let (feed, mut rx) = full();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut send = std::pin::pin!(feed.send(Vec::new()));
        assert!(send.as_mut().poll(&mut cx).is_pending(), "full");
        assert!(rx.try_recv().is_ok());
        assert!(send.as_mut().poll(&mut cx).is_pending(), "one place free of four");
        assert!(rx.try_recv().is_ok());
        assert!(matches!(send.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(()))), "half free");
        assert_eq!(rx.len(), 3, "two left and the new one");
        feed.blocking_send(Vec::new()).unwrap();
        assert_eq!(rx.len(), 4, "a queue with room takes a batch at once");

        let (feed, mut rx) = full();
        let sender = std::thread::spawn(move || feed.blocking_send(Vec::new()));
        // Let the sender find the queue full (it waits either way).
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_ok());
        sender.join().unwrap().unwrap();
        assert_eq!(rx.len(), 3);
        drop(rx);
        let (feed, rx) = full();
        drop(rx);
        assert!(matches!(feed.blocking_send(Vec::new()), Err(RuntimeError::Stopped)));
    }

    fn keyed_plan() -> Arc<RulePlan> {
        let def = oort_compiler::parse_stream_ddl(
            r#"CREATE STREAM demo (deviceId STRING, ts BIGINT) WITH (DATASOURCE="d", FORMAT="JSON", TIMESTAMP="ts")"#,
        )
        .expect("parses");
        let streams = std::collections::BTreeMap::from([(def.name.clone(), def)]);
        let sql = "SELECT deviceId, count(*) FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)";
        Arc::new(oort_compiler::compile_rule(sql, &streams, Default::default()).expect("compiles"))
    }

    fn records(keys: std::ops::Range<usize>) -> Vec<SourceRecord> {
        keys.map(|k| SourceRecord {
            payload: oort_operators::source::Payload::Bytes(format!(r#"{{"deviceId":"d{k}","ts":{k}}}"#).into()),
            meta: None,
            ts: 0,
        })
        .collect()
    }

    /// How a rule's feed splits 1,000 device ids over two workers.
    fn split_of(built: &BuiltWiring) -> [usize; 2] {
        let router = built.feeds.first().and_then(Option::as_ref).and_then(|f| f.router.clone()).expect("a router");
        let mut router = router.lock().unwrap();
        let mut per = [0; 2];
        for r in records(0..1000) {
            per[router.owner(&r)] += 1;
        }
        per
    }

    /// In one process a keyed rule's keys are given to the workers in turn
    /// (the feed's router and the workers share the placement); in a
    /// cluster they go by the hash, which every process computes alike.
    #[test]
    fn a_keyed_rule_balances_its_keys_in_one_process_and_hashes_them_in_a_cluster() {
        let plan = keyed_plan();
        let two = Placement { workers: 2, first: 0, peers: 2 };
        let threads = Arc::default();
        let local = build_wiring(&plan, two, &[true], 0, false, &threads);
        assert!(local.wiring.keys.is_some());
        let [a, b] = split_of(&local);
        assert!(a.abs_diff(b) <= 10, "balanced: {a} / {b}");
        let cluster = build_wiring(&plan, two, &[true], 0, true, &threads);
        let hashed = {
            let part = KeyPartition::of(&plan).expect("partitioned");
            let mut router = KeyRouter::new(&plan, &part, 2, 0, Arc::new(KeyPlacement::by_hash(2)));
            let mut per = [0; 2];
            for r in records(0..1000) {
                per[router.owner(&r)] += 1;
            }
            per
        };
        assert_eq!(split_of(&cluster), hashed);
        assert_eq!(hashed, [511, 489], "the hash alone splits these ids unevenly");
        // Rules that do not exchange rows by key place nothing.
        let def = oort_compiler::parse_stream_ddl(r#"CREATE STREAM demo (deviceId STRING) WITH (DATASOURCE="d")"#)
            .expect("parses");
        let streams = std::collections::BTreeMap::from([(def.name.clone(), def)]);
        let rows =
            oort_compiler::compile_rule("SELECT deviceId FROM demo", &streams, Default::default()).expect("compiles");
        assert!(build_wiring(&Arc::new(rows), two, &[true], 0, false, &threads).wiring.keys.is_none());
    }

    #[test]
    fn a_split_batch_reaches_every_worker_of_its_keys_or_none() {
        let plan = keyed_plan();
        let part = KeyPartition::of(&plan).expect("partitioned");
        let router = KeyRouter::new(&plan, &part, 2, 0, Arc::new(KeyPlacement::balanced(2)));
        let (tx0, mut rx0) = mpsc::channel(1);
        let (tx1, mut rx1) = mpsc::channel(1);
        let feed = SourceFeed {
            senders: vec![tx0, tx1],
            threads: Arc::default(),
            next: Arc::default(),
            router: Some(Arc::new(Mutex::new(router.clone()))),
            ledger: Some(Arc::default()),
        };
        assert!(feed.try_send(records(0..100)).unwrap());
        let (a, b) = (rx0.try_recv().unwrap(), rx1.try_recv().unwrap());
        assert_eq!(a.records.len() + b.records.len(), 100, "every record once");
        let mut check = router.clone();
        for (w, part) in [&a, &b].into_iter().enumerate() {
            assert!(!part.records.is_empty());
            assert!(part.records.iter().all(|r| check.owner_of(r.payload) == w), "worker {w} has only its own keys");
        }
        // The batch's event times count once both parts are taken in.
        assert_eq!(a.finish(70), None, "worker 1 is not done");
        assert_eq!(b.finish(40), Some(70));
        feed.blocking_send(records(0..100)).unwrap();
        assert!(rx0.try_recv().is_ok());
        // Worker 1 is still full: the next batch goes nowhere.
        assert!(!feed.try_send(records(0..100)).unwrap());
        assert!(rx0.try_recv().is_err(), "nothing for worker 0 either");
        assert!(rx1.try_recv().is_ok());
        // A batch whose keys all belong to one worker is whole there.
        let one: Vec<SourceRecord> = records(0..100).into_iter().filter(|r| check.owner(r) == 1).collect();
        let n = one.len();
        assert!(feed.try_send(one).unwrap());
        assert!(rx0.try_recv().is_err());
        let whole = rx1.try_recv().unwrap();
        assert_eq!(whole.records.len(), n);
        // It counts once the batches sent before it are taken in: neither
        // part of the batch received above is finished yet.
        assert_eq!(whole.finish(99), None);
    }

    /// A block of records is split like the same records one by one: each
    /// worker gets a block of the same buffer holding just its keys' records,
    /// in order.
    #[test]
    fn a_block_splits_like_its_records() {
        use oort_operators::source::RecordBlock;
        let plan = keyed_plan();
        let part = KeyPartition::of(&plan).expect("partitioned");
        let router = KeyRouter::new(&plan, &part, 2, 0, Arc::new(KeyPlacement::balanced(2)));
        let feed_of = |senders| SourceFeed {
            senders,
            threads: Arc::default(),
            next: Arc::default(),
            router: Some(Arc::new(Mutex::new(router.clone()))),
            ledger: None,
        };
        let (tx0, mut rx0) = mpsc::channel(2);
        let (tx1, mut rx1) = mpsc::channel(2);
        let feed = feed_of(vec![tx0, tx1]);
        let recs = records(0..100);
        let payloads: Vec<Vec<u8>> = recs
            .iter()
            .map(|r| match &r.payload {
                oort_operators::source::Payload::Bytes(b) => b.to_vec(),
                oort_operators::source::Payload::Object(_) => unreachable!(),
            })
            .collect();
        let buf = bytes::Bytes::from(payloads.concat());
        let mut block = RecordBlock::new(buf, None, 0);
        let mut at = 0;
        for p in &payloads {
            assert!(block.push(at..at + p.len()));
            at += p.len();
        }
        feed.blocking_send(recs).unwrap();
        feed.blocking_send(block).unwrap();
        for rx in [&mut rx0, &mut rx1] {
            let (one_by_one, from_block) = (rx.try_recv().unwrap(), rx.try_recv().unwrap());
            assert!(matches!(from_block.records, SourceBatch::Block(_)));
            let text = |b: &FeedBatch| -> Vec<String> {
                b.records
                    .iter()
                    .map(|r| match r.payload {
                        PayloadRef::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                        PayloadRef::Object(_) => unreachable!(),
                    })
                    .collect()
            };
            assert!(!one_by_one.records.is_empty());
            assert_eq!(text(&from_block), text(&one_by_one));
        }
        // One worker takes every record whole.
        let (tx, mut rx) = mpsc::channel(1);
        feed_of(vec![tx]).blocking_send(records(0..10)).unwrap();
        assert_eq!(rx.try_recv().unwrap().records.len(), 10);
    }

    /// Batches of an event-time input sent to several workers count for
    /// the watermark in the order they were sent, however the workers take
    /// them in: no worker finds it past records it has still to take in.
    #[test]
    fn the_watermark_takes_in_batches_in_the_order_they_were_sent() {
        let mut ledger = BatchLedger::default();
        let (a, b, c) = (ledger.sent(1), ledger.sent(2), ledger.sent(1));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(ledger.taken(c, 300), None, "batches 0 and 1 are still out");
        assert_eq!(ledger.taken(b, 250), None, "one part of batch 1 is still out");
        assert_eq!(ledger.taken(a, 100), Some(100), "batch 0 is complete");
        assert_eq!(ledger.taken(b, 200), Some(300), "batch 1 completes, and batch 2 after it");
        assert_eq!(ledger.taken(c, 999), None, "a part taken in twice counts for nothing");
        let d = ledger.sent(1);
        assert_eq!(ledger.taken(d, 400), Some(400));
        assert!(ledger.open.is_empty());

        // Through a feed: round-robin whole batches carry their numbers.
        let (tx0, mut rx0) = mpsc::channel(4);
        let (tx1, mut rx1) = mpsc::channel(4);
        let feed = SourceFeed {
            senders: vec![tx0, tx1],
            threads: Arc::default(),
            next: Arc::default(),
            router: None,
            ledger: Some(Arc::default()),
        };
        feed.blocking_send(records(0..10)).unwrap();
        feed.blocking_send(records(10..20)).unwrap();
        let (first, second) = (rx0.try_recv().unwrap(), rx1.try_recv().unwrap());
        assert_eq!(second.finish(19), None, "the first batch is not taken in yet");
        assert_eq!(first.finish(9), Some(19));
    }
}
