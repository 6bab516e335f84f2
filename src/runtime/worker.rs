//! The worker loop: one per timely worker thread, serving every rule.
//!
//! Each iteration (1) worker 0 moves new commands into the control dataflow,
//! (2) every worker applies the commands the control probe has passed, in
//! sequence order (`handle_create_rule`, `handle_drop_rule`), (3) drains the
//! feed channels of its rules — decoding records here, on the worker they
//! arrived at (a key-partitioned input's feed sends each worker the records
//! of its own keys: see `oort_operators::partition`) — and advances each
//! rule's inputs (processing time: to the next sub-tick of now; event time:
//! to the shared watermark), (4) advances
//! idle windowed rules only when a window boundary has been crossed, and (5)
//! steps timely, parking until the next boundary when there is nothing to do.
//! An idle rule therefore costs nothing between boundaries, and a rule
//! without windows costs nothing at all while idle.

use super::FeedBatch;
use super::clock::Clock;
use super::command::Command;
use super::metrics::RuleMetrics;
use oort_compiler::plan::{LogicalPlan, RulePlan, SourcePlan, WindowKind};
use oort_operators::key_placement::KeyPlacement;
use oort_operators::query::Emission;
use oort_operators::render::{self, RuleInput};
use oort_operators::shared_scan::{self, SharedScan};
use oort_operators::source::{Item, SourceDecoder};
use oort_operators::time::{self, Time};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Duration;
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::worker::Worker;
use tokio::sync::mpsc;

/// Most records taken from one feed channel per iteration (whole batches:
/// the last may pass it), so one busy rule cannot starve the others — and so
/// that the rows a round decodes are still in the cache when the dataflow
/// step folds them: with 64 batches (65,536 rows, several MB) per round, the
/// first touch of each row after decoding was a cache miss (`Value::group_key`
/// was 13 % of a 2-worker Q2 profile). Counted in records, not batches: a
/// key-partitioned feed hands each of W workers parts of 1/W of a batch, and
/// a round per part multiplied the rounds (and their progress tracking and
/// operator scheduling) by W (Q2 on 2 workers: 5.02 → 5.27 M events/s,
/// 8,192 records against 4 batches; PROFILE.md, session 10).
const MAX_RECORDS_PER_ROUND: usize = 8192;

/// How soon a worker looks again at a rule whose sinks are behind.
const BACKLOG_RECHECK_MS: u64 = 2;

/// The process-local half of a rule installation, waiting for workers to take their share.
pub struct RuleWiring {
    /// `feeds[worker][source]`.
    pub feeds: Vec<Vec<Option<mpsc::Receiver<FeedBatch>>>>,
    /// Where emissions go: one message per output batch of a worker.
    pub sink: mpsc::UnboundedSender<Vec<Emission>>,
    /// The rule's counters.
    pub metrics: Arc<RuleMetrics>,
    /// Largest event time seen per source (shared by the workers of this process).
    pub max_event_ts: Arc<Vec<AtomicU64>>,
    /// Until when (ms) some worker may hold open windows of this rule.
    pub active_until: Arc<AtomicU64>,
    /// The rule's start time (ms): every worker starts its inputs there, so
    /// processing-time windows (aligned to the rule start) agree everywhere.
    pub anchor_ms: u64,
    /// Which inputs are tables (they do not hold back the event-time watermark).
    pub is_table: Vec<bool>,
    /// Workers that have not taken their share yet.
    pub remaining: usize,
    /// Gather every emission to worker 0 before the sink (in a cluster, so
    /// process 0's sinks see the whole output).
    pub gather: bool,
    /// Set when the rule is stopped, before its `DropRule` reaches the
    /// workers: a member of a stream group (whose source keeps running for
    /// the other members) emits nothing from then on.
    pub stopped: Arc<AtomicBool>,
    /// Where a keyed window's GROUP BY keys are folded (shared by the
    /// process's workers; `None`: by the key hash).
    pub keys: Option<Arc<KeyPlacement>>,
}

/// Registry of rule wirings, keyed by `(rule id, generation)`.
#[derive(Default)]
pub struct Wiring {
    rules: Mutex<HashMap<(String, u64), RuleWiring>>,
}

impl Wiring {
    /// Registers a rule's wiring before its `CreateRule` is sent.
    pub fn register(&self, id: &str, generation: u64, wiring: RuleWiring) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.insert((id.to_string(), generation), wiring);
        }
    }

    /// Takes a worker's share of a rule's wiring; when none was registered
    /// (a process of a cluster that did not send the command), `wire` builds
    /// it first — once per process, under the registry's lock.
    fn take(
        &self,
        id: &str,
        generation: u64,
        worker: usize,
        wire: Option<&dyn Fn() -> RuleWiring>,
    ) -> Option<WorkerShare> {
        let mut rules = self.rules.lock().ok()?;
        let key = (id.to_string(), generation);
        if !rules.contains_key(&key)
            && let Some(wire) = wire
        {
            rules.insert(key.clone(), wire());
        }
        let w = rules.get_mut(&key)?;
        let feeds = w.feeds.get_mut(worker)?.iter_mut().map(|f| f.take()).collect();
        let share = WorkerShare {
            feeds,
            sink: w.sink.clone(),
            metrics: w.metrics.clone(),
            max_event_ts: w.max_event_ts.clone(),
            active_until: w.active_until.clone(),
            anchor_ms: w.anchor_ms,
            is_table: w.is_table.clone(),
            gather: w.gather,
            stopped: w.stopped.clone(),
            keys: w.keys.clone(),
        };
        w.remaining = w.remaining.saturating_sub(1);
        if w.remaining == 0 {
            rules.remove(&key);
        }
        Some(share)
    }
}

struct WorkerShare {
    feeds: Vec<Option<mpsc::Receiver<FeedBatch>>>,
    sink: mpsc::UnboundedSender<Vec<Emission>>,
    metrics: Arc<RuleMetrics>,
    max_event_ts: Arc<Vec<AtomicU64>>,
    active_until: Arc<AtomicU64>,
    anchor_ms: u64,
    is_table: Vec<bool>,
    gather: bool,
    stopped: Arc<AtomicBool>,
    keys: Option<Arc<KeyPlacement>>,
}

/// What every worker shares with the rest of the process.
pub struct WorkerContext {
    /// Commands from the rule manager (only worker 0 reads them).
    pub commands: crossbeam_channel::Receiver<Command>,
    /// Rule wirings.
    pub wiring: Arc<Wiring>,
    /// Processing time.
    pub clock: Arc<dyn Clock>,
    /// Every worker thread of this process, to wake them when a watermark moves.
    pub threads: Arc<Mutex<Vec<Thread>>>,
    /// Global index of this process's first worker (feeds are indexed locally).
    pub first_index: usize,
    /// On a process of a cluster that does not own the rules: builds a rule's
    /// wiring when its `CreateRule` arrives.
    pub remote: Option<Arc<super::RemoteWiring>>,
}

struct InstalledRule {
    generation: u64,
    dataflow: usize,
    /// One per plan source; `None` once closed (a source this process does not read).
    inputs: Vec<Option<RuleInput>>,
    decoders: Vec<SourceDecoder>,
    feeds: Vec<Option<mpsc::Receiver<FeedBatch>>>,
    metrics: Arc<RuleMetrics>,
    buffer_length: i64,
    event_time: bool,
    late_tolerance_ms: u64,
    max_event_ts: Arc<Vec<AtomicU64>>,
    /// Window grid for advancing processing-time windowed rules, and how long
    /// after a record its windows may stay open.
    tick: Option<Tick>,
    next_tick: u64,
    /// Until when some worker may hold open windows (shared by all workers).
    active_until: Arc<AtomicU64>,
    /// Rule start (ms): window boundaries fall on `anchor + k * grid`.
    anchor_ms: u64,
    /// Which inputs are tables.
    is_table: Vec<bool>,
    /// The sink queue was over `bufferLength` at the last round, so the feed
    /// was not drained: re-check soon (nothing else will wake this worker).
    backlogged: bool,
    _probe: ProbeHandle<Time>,
}

/// A stream group on this worker: one dataflow decoding the group's feed
/// once for every member rule (see [`oort_operators::shared_scan`]).
struct InstalledGroup {
    dataflow: usize,
    input: RuleInput,
    feed: Option<mpsc::Receiver<FeedBatch>>,
    /// The source layout and row width shared by the members.
    source: SourcePlan,
    width: usize,
    /// Slots some member reads (the decoder decodes these).
    used: Vec<bool>,
    decoder: SourceDecoder,
    scan: Rc<RefCell<SharedScan>>,
    members: HashMap<String, GroupMember>,
    /// Every member's sinks were behind at the last round: the feed was not
    /// drained, re-check soon.
    backlogged: bool,
    _probe: ProbeHandle<Time>,
}

struct GroupMember {
    metrics: Arc<RuleMetrics>,
    buffer_length: i64,
}

/// Everything installed on one worker.
#[derive(Default)]
struct Installed {
    rules: HashMap<String, InstalledRule>,
    groups: HashMap<u64, InstalledGroup>,
    /// Rule id → (group, generation) of the rules that run in a group.
    members: HashMap<String, (u64, u64)>,
}

/// Runs the worker loop until `Shutdown`.
pub fn run(worker: &mut Worker, ctx: WorkerContext) {
    let index = worker.index();
    let log: Rc<RefCell<Vec<(u64, Command)>>> = Rc::new(RefCell::new(Vec::new()));
    let log_in = log.clone();
    let (control_input, control_probe) = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Vec<(u64, Command)>>();
        let probe = stream
            .broadcast()
            .inspect_batch(move |_t, data| log_in.borrow_mut().extend(data.iter().cloned()))
            .probe()
            .0;
        (input, probe)
    });
    // Only worker 0 sequences commands; the others close their control input at once.
    // (Shadowing alone would keep the handle alive: it must be dropped explicitly.)
    let mut control_input = if index == 0 {
        Some(control_input)
    } else {
        drop(control_input);
        None
    };
    let mut next_seq: u64 = 0;
    let mut applied: u64 = 0;
    let mut installed = Installed::default();
    let mut shutting_down = false;

    loop {
        if let Some(input) = control_input.as_mut() {
            let mut sent = false;
            while let Ok(cmd) = ctx.commands.try_recv() {
                input.send((next_seq, cmd));
                next_seq += 1;
                sent = true;
            }
            if sent {
                input.advance_to(next_seq);
            }
        }

        // Apply sequenced commands in order, once the control probe has passed them.
        let ready: Vec<(u64, Command)> = {
            let mut log = log.borrow_mut();
            log.sort_by_key(|(s, _)| *s);
            let mut n = 0;
            while let Some((s, _)) = log.get(n) {
                if *s != applied + n as u64 || control_probe.less_equal(s) {
                    break;
                }
                n += 1;
            }
            log.drain(..n).collect()
        };
        for (seq, cmd) in ready {
            applied = seq + 1;
            match cmd {
                Command::CreateRule { id, generation, anchor_ms, plan } => {
                    handle_create_rule(worker, &ctx, &mut installed, id, generation, anchor_ms, plan);
                }
                Command::DropRule { id, generation } => handle_drop_rule(worker, &mut installed, &id, generation),
                Command::CreateGroup { group, plan } => handle_create_group(worker, &ctx, &mut installed, group, &plan),
                Command::JoinGroup { id, generation, group, plan } => {
                    handle_join_group(worker, &ctx, &mut installed, id, generation, group, plan);
                }
                Command::DropGroup { group } => handle_drop_group(worker, &mut installed, group),
                Command::Shutdown => {
                    let ids: Vec<String> = installed.rules.keys().cloned().collect();
                    for id in ids {
                        if let Some(g) = installed.rules.get(&id).map(|r| r.generation) {
                            handle_drop_rule(worker, &mut installed, &id, g);
                        }
                    }
                    let groups: Vec<u64> = installed.groups.keys().copied().collect();
                    for g in groups {
                        handle_drop_group(worker, &mut installed, g);
                    }
                    control_input = None;
                    shutting_down = true;
                }
            }
        }
        if shutting_down {
            // Let the control dataflow complete everywhere, then leave.
            while worker.step_or_park(Some(Duration::from_millis(5))) {}
            return;
        }

        let now = ctx.clock.now_ms();
        let mut wake_all = false;
        for rule in installed.rules.values_mut() {
            wake_all |= feed_rule(rule, now);
        }
        for group in installed.groups.values_mut() {
            feed_group(group, now);
        }
        if wake_all && let Ok(threads) = ctx.threads.lock() {
            for t in threads.iter() {
                t.unpark();
            }
        }

        // Park until the next window boundary of a rule that may hold open
        // windows (or a wake-up). Rules without open windows need no ticks.
        let now = ctx.clock.now_ms();
        let mut park: Option<u64> = None;
        if installed.groups.values().any(|g| g.backlogged) {
            park = Some(BACKLOG_RECHECK_MS);
        }
        for rule in installed.rules.values() {
            if rule.tick.is_some() && rule.active_until.load(Ordering::Relaxed) >= now {
                let wait = rule.next_tick.saturating_sub(now);
                park = Some(park.map_or(wait, |p| p.min(wait)));
            }
            if rule.backlogged {
                park = Some(park.map_or(BACKLOG_RECHECK_MS, |p| p.min(BACKLOG_RECHECK_MS)));
            }
        }
        worker.step_or_park(park.map(Duration::from_millis));
    }
}

/// Notes that a worker has taken `batch` in, with event times up to
/// `local_max`, and raises its input's shared maximum `max` with what that
/// completes: a batch counts once it, every part of it and every batch sent
/// before it are taken in ([`FeedBatch::finish`]). Whether the maximum moved.
fn take_in(max: &AtomicU64, batch: &FeedBatch, local_max: u64) -> bool {
    batch.finish(local_max).is_some_and(|m| m > max.load(Ordering::SeqCst) && max.fetch_max(m, Ordering::SeqCst) < m)
}

/// Drains a rule's feeds into its inputs and advances them. Returns whether
/// the other workers must wake: a shared watermark moved, or the rule went
/// from idle to holding open windows (every worker must then tick, since the
/// slowest worker holds the frontier).
fn feed_rule(rule: &mut InstalledRule, now: u64) -> bool {
    let mut moved = false;
    let backlogged = rule.metrics.pending_out.load(Ordering::Relaxed) > rule.buffer_length;
    rule.backlogged = backlogged;
    let mut fed = false;
    if !backlogged {
        for (i, feed) in rule.feeds.iter_mut().enumerate() {
            let mut room = MAX_RECORDS_PER_ROUND;
            while let Some(batch) = take_batch_within(feed, &mut room) {
                fed = true;
                rule.metrics.batch_taken_us.store(super::metrics::monotonic_us(), Ordering::Relaxed);
                let decoder = &rule.decoders[i];
                let Some(input) = rule.inputs[i].as_mut() else {
                    // Dropped, yet its place in the source's order is passed.
                    if rule.event_time {
                        moved |= take_in(&rule.max_event_ts[i], &batch, 0);
                    }
                    continue;
                };
                let mut items = oort_operators::source::item_batch(batch.records.len());
                if rule.event_time {
                    // The watermark moves with this batch's own event times; the
                    // other inputs' maxima are read once per batch and the shared
                    // maximum is raised once (no atomic per record).
                    let others = others_max(&rule.max_event_ts, &rule.is_table, i);
                    let seen = rule.max_event_ts[i].load(Ordering::SeqCst);
                    let mut local_max = seen;
                    let mut late = 0;
                    for rec in batch.records.iter() {
                        let item = decoder.decode_ref(rec);
                        if let Item::Row(r) = &item {
                            let own = if rule.is_table[i] { None } else { Some(local_max) };
                            let wm =
                                own.into_iter().chain(others).min().unwrap_or(0).saturating_sub(rule.late_tolerance_ms);
                            if r.ts < wm {
                                late += 1;
                                continue;
                            }
                            local_max = local_max.max(r.ts);
                        }
                        items.push(item);
                    }
                    if late > 0 {
                        rule.metrics.late.fetch_add(late, Ordering::Relaxed);
                    }
                    moved |= take_in(&rule.max_event_ts[i], &batch, local_max);
                } else {
                    items.extend(batch.records.iter().map(|rec| decoder.decode_ref(rec)));
                }
                rule.metrics.records_in.fetch_add(batch.records.len() as u64, Ordering::Relaxed);
                // One message per batch into the dataflow, not one push per record.
                input.send_batch(&mut items);
            }
        }
    }
    if rule.event_time {
        // Inputs go to just past the watermark: rows at the watermark are complete.
        let wm = time::of_ms(watermark(&rule.max_event_ts, &rule.is_table, rule.late_tolerance_ms)) + 1;
        for input in rule.inputs.iter_mut().flatten() {
            if *input.time() < wm {
                input.advance_to(wm);
            } else if fed {
                let t = *input.time() + 1;
                input.advance_to(t);
            }
        }
    } else if fed {
        for input in rule.inputs.iter_mut().flatten() {
            let t = time::after_batch(*input.time(), now);
            input.advance_to(t);
        }
        if let Some(tick) = rule.tick {
            let until = now + tick.span_ms + tick.grid_ms;
            if rule.active_until.fetch_max(until, Ordering::Relaxed) < now {
                moved = true;
            }
            rule.next_tick = rule.next_tick.min(next_boundary(rule.anchor_ms, tick.grid_ms, now));
        }
    } else if let Some(tick) = rule.tick
        && now >= rule.next_tick
        && rule.active_until.load(Ordering::Relaxed) + tick.grid_ms >= now
    {
        for input in rule.inputs.iter_mut().flatten() {
            let t = time::of_ms(now);
            if *input.time() < t {
                input.advance_to(t);
            }
        }
        rule.next_tick = next_boundary(rule.anchor_ms, tick.grid_ms, now);
    }
    moved
}

/// Drains a group's feed into its input: every record is decoded once for
/// all members. Members whose sinks are over their `bufferLength` are
/// served nothing while they are behind and the records they miss are
/// reported on them (a shared stream serves its fastest rules); when every
/// member is behind, the feed is not drained at all.
fn feed_group(g: &mut InstalledGroup, now: u64) {
    // Records wait in the feed until the first member has joined on this worker.
    if g.members.is_empty() {
        return;
    }
    if g.feed.is_none() {
        return;
    }
    let behind: HashSet<String> = g
        .members
        .iter()
        .filter(|(_, m)| m.metrics.pending_out.load(Ordering::Relaxed) > m.buffer_length)
        .map(|(id, _)| id.clone())
        .collect();
    g.backlogged = behind.len() == g.members.len();
    if g.backlogged {
        return;
    }
    // Everything this round sends is processed by the next step, before the next round.
    g.scan.borrow_mut().set_behind(behind);
    let (mut taken, mut room) = (0u64, MAX_RECORDS_PER_ROUND);
    while let Some(batch) = take_batch_within(&mut g.feed, &mut room) {
        taken += batch.records.len() as u64;
        let mut items = oort_operators::source::item_batch(batch.records.len());
        items.extend(batch.records.iter().map(|rec| g.decoder.decode_ref(rec)));
        g.input.send_batch(&mut items);
    }
    if taken == 0 {
        return;
    }
    let at = super::metrics::monotonic_us();
    let scan = g.scan.borrow();
    for (id, m) in &g.members {
        m.metrics.records_in.fetch_add(taken, Ordering::Relaxed);
        m.metrics.batch_taken_us.store(at, Ordering::Relaxed);
        if scan.is_behind(id) {
            let msg = format!(
                "{taken} records of the shared stream skipped: the rule's sinks are behind (more than bufferLength {} results queued)",
                m.buffer_length
            );
            m.metrics.exception(&msg, now);
        }
    }
    let t = time::after_batch(*g.input.time(), now);
    g.input.advance_to(t);
}

/// The next batch waiting on a feed, if any; a feed whose senders are all
/// gone is closed (set to `None`).
fn take_batch(feed: &mut Option<mpsc::Receiver<FeedBatch>>) -> Option<FeedBatch> {
    match feed.as_mut()?.try_recv() {
        Ok(batch) => Some(batch),
        Err(mpsc::error::TryRecvError::Empty) => None,
        Err(mpsc::error::TryRecvError::Disconnected) => {
            *feed = None;
            None
        }
    }
}

/// [`take_batch`] while a round has `room` left, charging it the batch's
/// records (at least one, so empty batches end a round too).
fn take_batch_within(feed: &mut Option<mpsc::Receiver<FeedBatch>>, room: &mut usize) -> Option<FeedBatch> {
    if *room == 0 {
        return None;
    }
    let batch = take_batch(feed)?;
    *room = room.saturating_sub(batch.records.len().max(1));
    Some(batch)
}

/// min over the stream inputs other than `input` of the largest event time seen.
fn others_max(max: &[AtomicU64], is_table: &[bool], input: usize) -> Option<u64> {
    max.iter()
        .zip(is_table)
        .enumerate()
        .filter(|(j, (_, t))| *j != input && !**t)
        .map(|(_, (m, _))| m.load(Ordering::SeqCst))
        .min()
}

/// min over stream inputs of the largest event time seen, minus the tolerance.
fn watermark(max: &[AtomicU64], is_table: &[bool], tolerance: u64) -> u64 {
    max.iter()
        .zip(is_table)
        .filter(|(_, t)| !**t)
        .map(|(m, _)| m.load(Ordering::SeqCst))
        .min()
        .unwrap_or(0)
        .saturating_sub(tolerance)
}

/// The first time after `now` on the grid `anchor + k * grid`.
fn next_boundary(anchor: u64, grid: u64, now: u64) -> u64 {
    let grid = grid.max(1);
    if now < anchor {
        return anchor;
    }
    anchor + ((now - anchor) / grid + 1) * grid
}

/// When a processing-time windowed rule must be advanced without data.
#[derive(Debug, Clone, Copy)]
struct Tick {
    /// Window boundaries fall on multiples of this (ms).
    grid_ms: u64,
    /// A record's windows are all closed this long after it arrived (ms).
    span_ms: u64,
}

/// The window grid a processing-time rule must be advanced on while it holds open windows.
fn tick_of(plan: &RulePlan) -> Option<Tick> {
    fn find(p: &LogicalPlan) -> Option<Tick> {
        match p {
            LogicalPlan::Window { spec, .. } => match spec.kind {
                WindowKind::Tumbling { size_ms } => Some(Tick { grid_ms: size_ms, span_ms: size_ms }),
                WindowKind::Hopping { size_ms, hop_ms } => Some(Tick { grid_ms: hop_ms, span_ms: size_ms }),
                // Their deadlines (trigger + delay, last row + timeout) are not on a
                // grid: while active, advance every 10 ms.
                WindowKind::Sliding { size_ms, delay_ms } => Some(Tick { grid_ms: 10, span_ms: size_ms + delay_ms }),
                WindowKind::Session { max_ms, timeout_ms } => {
                    Some(Tick { grid_ms: 10, span_ms: max_ms.max(timeout_ms) + timeout_ms })
                }
                WindowKind::Count { .. } | WindowKind::State { .. } => None,
            },
            LogicalPlan::Scan { .. } => None,
            LogicalPlan::Join { left, .. } => find(left),
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Project { input, .. } => find(input),
        }
    }
    if plan.options.is_event_time { None } else { find(&plan.root).filter(|t| t.grid_ms > 0) }
}

/// The closure a rule's emissions reach on this worker: it counts them and
/// queues them for the rule's sink driver (errors only under `sendError`),
/// and drops them once the rule is marked stopped (`RuleWiring::stopped`).
fn rule_sink(share: &WorkerShare, send_error: bool, clock: Arc<dyn Clock>) -> render::SinkFn {
    let sink_tx = share.sink.clone();
    let metrics = share.metrics.clone();
    let stopped = share.stopped.clone();
    Box::new(move |_t, batch| {
        if stopped.load(Ordering::Acquire) {
            batch.clear();
            return;
        }
        // Clocks are read, counters updated and the sink queue sent to once
        // per batch, not per emission.
        let now = clock.now_ms();
        let mut rows_out = 0u64;
        batch.retain(|e| match e {
            Emission::Rows(rows) | Emission::Delayed { rows, .. } => {
                rows_out += rows.len() as u64;
                true
            }
            Emission::Error(msg) => {
                metrics.exception(msg, now);
                if msg.starts_with(oort_operators::query::PANIC_PREFIX) {
                    metrics.fail(msg);
                }
                send_error
            }
        });
        if rows_out > 0 {
            metrics.records_out.fetch_add(rows_out, Ordering::Relaxed);
        }
        let sent = batch.len() as i64;
        if sent > 0 {
            // Counted before the send: the sink driver may take them at once.
            metrics.pending_out.fetch_add(sent, Ordering::Relaxed);
            if sink_tx.send(std::mem::take(batch)).is_err() {
                metrics.pending_out.fetch_sub(sent, Ordering::Relaxed);
            }
            metrics.last_invocation.store(now, Ordering::Relaxed);
            let taken = metrics.batch_taken_us.load(Ordering::Relaxed);
            let latency = super::metrics::monotonic_us().saturating_sub(taken);
            metrics.process_latency_us.store(latency, Ordering::Relaxed);
        }
    })
}

fn handle_create_rule(
    worker: &mut Worker,
    ctx: &WorkerContext,
    installed: &mut Installed,
    id: String,
    generation: u64,
    anchor_ms: u64,
    plan: Arc<RulePlan>,
) {
    drop_any(worker, installed, &id);
    let local = worker.index().saturating_sub(ctx.first_index);
    let wire = ctx.remote.as_ref().map(|remote| {
        let (id, plan) = (&id, &plan);
        move || remote.wire(id, plan, anchor_ms)
    });
    let share = ctx.wiring.take(&id, generation, local, wire.as_ref().map(|w| w as &dyn Fn() -> RuleWiring));
    let Some(share) = share else {
        tracing::error!(rule = %id, generation, "rule wiring missing; rule not installed on this worker");
        return;
    };
    let dataflow = worker.next_dataflow_index();
    let sink = rule_sink(&share, plan.options.send_error, ctx.clock.clone());
    let options = render::BuildOptions { gather_emissions: share.gather, keys: share.keys.clone() };
    let built = worker.dataflow_named::<Time, _, _>(&format!("rule:{id}"), |scope| {
        render::build_with(scope, plan.clone(), sink, options)
    });
    let handles = match built {
        Ok(h) => h,
        Err(e) => {
            // The dataflow was created empty; remove it so every worker stays in step.
            worker.drop_dataflow(dataflow);
            share.metrics.exception(&e.to_string(), ctx.clock.now_ms());
            tracing::error!(rule = %id, error = %e, "rule could not be built");
            return;
        }
    };
    let now = ctx.clock.now_ms();
    let anchor = share.anchor_ms.min(now);
    let tick = tick_of(&plan);
    // An input whose source this process does not read is closed at once, so
    // it never holds back the rule's frontier.
    let mut inputs: Vec<Option<RuleInput>> =
        handles.inputs.into_iter().zip(&share.feeds).map(|(input, feed)| feed.is_some().then_some(input)).collect();
    if !plan.options.is_event_time {
        for input in inputs.iter_mut().flatten() {
            input.advance_to(time::of_ms(anchor));
        }
    }
    // A closed input (read on another process) holds back no watermark here.
    let is_table: Vec<bool> = share.is_table.iter().zip(&inputs).map(|(t, i)| *t || i.is_none()).collect();
    installed.rules.insert(
        id,
        InstalledRule {
            generation,
            dataflow,
            inputs,
            decoders: handles.decoders,
            feeds: share.feeds,
            metrics: share.metrics,
            buffer_length: plan.options.buffer_length.max(1) as i64,
            event_time: plan.options.is_event_time,
            late_tolerance_ms: plan.options.late_tolerance_ms,
            max_event_ts: share.max_event_ts,
            tick,
            next_tick: tick.map_or(u64::MAX, |t| next_boundary(anchor, t.grid_ms, now)),
            active_until: share.active_until,
            anchor_ms: anchor,
            is_table,
            backlogged: false,
            _probe: handles.probe,
        },
    );
}

fn handle_drop_rule(worker: &mut Worker, installed: &mut Installed, id: &str, generation: u64) {
    if let Some(&(group, g)) = installed.members.get(id) {
        if g == generation {
            installed.members.remove(id);
            if let Some(group) = installed.groups.get_mut(&group) {
                group.members.remove(id);
                group.scan.borrow_mut().remove(id, generation);
            }
        }
        return;
    }
    let rules = &mut installed.rules;
    if rules.get(id).is_none_or(|r| r.generation != generation) {
        return;
    }
    if let Some(rule) = rules.remove(id) {
        let dataflow = rule.dataflow;
        // Close the inputs first, then remove the dataflow (which drops its sink closure).
        drop(rule.inputs);
        drop(rule.feeds);
        worker.drop_dataflow(dataflow);
    }
}

/// Removes whatever installation of `id` this worker has (a rule being replaced).
fn drop_any(worker: &mut Worker, installed: &mut Installed, id: &str) {
    if let Some(g) = installed.rules.get(id).map(|r| r.generation) {
        handle_drop_rule(worker, installed, id, g);
    }
    if let Some(&(_, g)) = installed.members.get(id) {
        handle_drop_rule(worker, installed, id, g);
    }
}

fn handle_create_group(
    worker: &mut Worker,
    ctx: &WorkerContext,
    installed: &mut Installed,
    group: u64,
    plan: &RulePlan,
) {
    let local = worker.index().saturating_sub(ctx.first_index);
    let Some(mut share) = ctx.wiring.take(super::command::GROUP_WIRING, group, local, None) else {
        tracing::error!(group, "group wiring missing; group not opened on this worker");
        return;
    };
    let Some(source) = plan.sources.first().cloned() else { return };
    let scan = Rc::new(RefCell::new(SharedScan::default()));
    let dataflow = worker.next_dataflow_index();
    let scan_op = scan.clone();
    let (mut input, probe) = worker.dataflow_named::<Time, _, _>(&format!("group:{group}"), |scope| {
        let (input, items) = scope.new_input::<Vec<Item>>();
        (input, shared_scan::render(items, scan_op))
    });
    input.advance_to(time::of_ms(share.anchor_ms.min(ctx.clock.now_ms())));
    let used = oort_operators::plan_exprs::referenced_slots(plan);
    let mut decoder = SourceDecoder::new(&source, plan.width, false);
    decoder.restrict_to(&used);
    installed.groups.insert(
        group,
        InstalledGroup {
            dataflow,
            input,
            feed: share.feeds.first_mut().and_then(Option::take),
            source,
            width: plan.width,
            used,
            decoder,
            scan,
            members: HashMap::new(),
            backlogged: false,
            _probe: probe,
        },
    );
}

fn handle_join_group(
    worker: &mut Worker,
    ctx: &WorkerContext,
    installed: &mut Installed,
    id: String,
    generation: u64,
    group: u64,
    plan: Arc<RulePlan>,
) {
    drop_any(worker, installed, &id);
    let local = worker.index().saturating_sub(ctx.first_index);
    let Some(share) = ctx.wiring.take(&id, generation, local, None) else {
        tracing::error!(rule = %id, generation, "rule wiring missing; rule not installed on this worker");
        return;
    };
    let Some(g) = installed.groups.get_mut(&group) else {
        tracing::error!(rule = %id, group, "stream group missing; rule not installed on this worker");
        return;
    };
    // A member reading more fields than the group decodes widens the decoder.
    let used = oort_operators::plan_exprs::referenced_slots(&plan);
    if used.iter().zip(&g.used).any(|(u, have)| *u && !*have) {
        for (have, u) in g.used.iter_mut().zip(&used) {
            *have |= *u;
        }
        g.decoder = SourceDecoder::new(&g.source, g.width, false);
        g.decoder.restrict_to(&g.used);
    }
    let sink = rule_sink(&share, plan.options.send_error, ctx.clock.clone());
    let buffer_length = plan.options.buffer_length.max(1) as i64;
    if let Err(e) = g.scan.borrow_mut().add(&id, generation, plan, sink) {
        share.metrics.exception(&e.to_string(), ctx.clock.now_ms());
        tracing::error!(rule = %id, error = %e, "rule could not join its stream group");
        return;
    }
    g.members.insert(id.clone(), GroupMember { metrics: share.metrics.clone(), buffer_length });
    installed.members.insert(id, (group, generation));
}

fn handle_drop_group(worker: &mut Worker, installed: &mut Installed, group: u64) {
    let Some(g) = installed.groups.remove(&group) else { return };
    for id in g.members.keys() {
        installed.members.remove(id);
    }
    let dataflow = g.dataflow;
    drop(g);
    worker.drop_dataflow(dataflow);
}
