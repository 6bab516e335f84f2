//! Keyed parallel aggregation: tumbling and hopping windows with GROUP BY
//! keys and aggregates, spread over all workers by group key (or, for
//! mergeable aggregates, folded where the rows were decoded and merged).
//!
//! ```text
//!            KeyTag (each worker)          KeyedWindow (each worker)        WindowFinish (worker 0)
//!  items ──► hash of GROUP BY key, ──rows──► rows of its keys (the others ──► one emission per window:
//!            (worker, seq) order tag         come by exchange) released     merge the workers' groups,
//!                                            in time order into
//!                 │                          per-(window, key) accumulators; HAVING, ORDER BY, SELECT
//!                 └──first row──► WindowAlign ──alignment (broadcast)──►│    (fires every window end,
//!                     candidates  (worker 0)                                 empty ones too)
//! ```
//!
//! The window boundaries follow eKuiper exactly as [`crate::window_kinds::FixedWindows`]
//! does: they are aligned on the rule start (processing time: the first
//! frontier past 0) or on the first row in event-time order (event time). That
//! one number (`x`) is decided by `WindowAlign` on worker 0 — in event time
//! from the smallest `(time, ts)` each worker saw per batch — and broadcast.
//! From `x` every worker computes the same window ends `end0 + k·hop` and
//! assigns a row released at dataflow time `at` to the windows the single
//! worker state machine would have put it in (the first end past both the
//! row's millisecond and its timestamp; for hopping windows, the following
//! ones while the row is inside their left edge).
//!
//! `KeyTag` keeps a row whose key is its own worker's on that worker
//! (through the pipeline, not the exchange's buffers) and sends only the
//! others through the exchange. Which worker folds a key is the rule's
//! [`KeyPlacement`]: keys given out in turn as they are first seen, on the
//! workers of one process (by the key hash alone in a cluster). When the
//! rule's input is key-partitioned ([`crate::partition`]), each worker
//! decoded just the records of its own keys, so nearly every row stays on
//! the core that decoded it.
//!
//! `KeyedWindow` keeps no rows: a row waits only until the frontier passes its
//! time (so each key folds its rows in time order, as the single-worker path
//! does), then updates the accumulators of its (window, key). The keys live in
//! one `GroupTable` per worker, shared by the open windows: a row's key is
//! encoded and looked up once however many (hopping) windows it belongs to,
//! and a key that comes back window after window keeps its slot. Once the
//! frontier reaches a window's end, the window's groups are finished and sent,
//! as one message per worker, at `of_ms(end) - 1` to worker 0; their
//! accumulators are reset for the next window's groups, and keys that had no
//! row in that window are forgotten. `WindowFinish` holds a capability at the
//! next window end and fires each end when its frontier reaches it (every
//! worker's groups have arrived then), ordering groups by their first row
//! `(time, source worker, arrival sequence)` — the order rows are folded in —
//! on one worker that is the single-worker path's first-arrival order; on
//! several it is deterministic for a given distribution of records over
//! workers (compare results as multisets).
//!
//! **Projection on the folding worker.** When each group's SELECT stands
//! alone — no HAVING or ORDER BY over the window's groups, no
//! `row_number`, `last_hit_*`, `last_agg_hit_*` or `delay` — each worker
//! finishes and projects the groups it folded and sends result rows tagged
//! with their groups' first-row orders ([`KeyedOut::Projected`]);
//! `WindowFinish` only merges the workers' rows, each worker's already in
//! that order. A SELECT error is the window's error at its group's first
//! row (phase 3: after the fold's errors), so the earliest failing group's
//! error is emitted, as on one worker.
//!
//! **Two-phase plans** (experimental, off unless [`TWO_PHASE_ENV`] is `1`,
//! until its slowdown on 2 workers is understood). When every aggregate merges partial states
//! ([`crate::functions::aggregate::mergeable`]: `count`, `sum`, `avg`, `min`,
//! `max`), rows are not exchanged by key: each worker folds the rows it
//! decoded (`KeyTag` computes no key hash) and, at a window's end, sends per
//! key its partial states, its first row with that row's order, and the
//! window's earliest error ([`KeyedOut::Partials`]). `WindowFinish` merges the
//! partials of equal encoded keys (the GROUP BY key equality of the
//! single-worker path), keeps the smallest first-row order and error, finishes
//! the accumulators and proceeds as below. A merge equals the sequential fold
//! in row order (positions are the row orders), so results are those of the
//! exchange path, float sums aside (added in another order: last bits).
//! Plans with another aggregate keep the exchange by key hash. A single
//! worker neither hashes keys nor sends partial states: it folds every row
//! and finishes its groups itself (the output of a sequential scan).
//!
//! Errors keep the single-worker semantics: a pushed-down WHERE or a window
//! `FILTER` that fails is emitted at the row's time, in time order with the
//! window emissions; a post-window WHERE error, then a GROUP BY or aggregate
//! argument error, then an aggregate that fails to finish, replaces the
//! window's emission (the earliest row's error wins, as in a sequential scan).
//!
//! Plans this path does not cover (joins, tables, other window kinds,
//! analytic functions, no GROUP BY key, `deduplicate`) use the single-worker
//! window operator of [`crate::window`].

use crate::eval::{Evaluator, GroupContext};
use crate::functions::aggregate::{self, InlineAccumulator, PartialState};
use crate::functions::{self, Accumulator};
use crate::join::TableStore;
use crate::key_placement::KeyPlacement;
use crate::query::{Emission, OutRow, RenderError, where_error};
use crate::render::{EmissionStream, ItemStream, Stream};
use crate::source::Item;
use crate::time::{self, Time};
use crate::value::{Row, Value};
use crate::window::{GroupQuery, PlanShape, new_accumulator};
use crate::window_kinds::aligned_window_end;
use oort_compiler::plan::{AggregateCall, RulePlan, ScalarExpr, TimeUnit, WindowKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::{Exchange as ExchangePact, ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, Concat, Exchange};

/// Where a row stands in processing order: (dataflow time, source worker, arrival sequence).
pub type Order = (Time, u32, u64);

/// A window's error: (phase, row order, message); the smallest wins.
type WindowError = (u8, Order, Arc<str>);

/// Keeps in `error` the earlier of it and `e`: by phase, then row order.
fn keep_earliest(error: &mut Option<WindowError>, e: WindowError) {
    if error.as_ref().is_none_or(|(p, o, _)| (e.0, e.1) < (*p, *o)) {
        *error = Some(e);
    }
}

/// An item tagged before the exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TagOut {
    /// A record (or a decode error) with its key hash and order tag.
    Row {
        /// Hash of the GROUP BY key (0 for errors).
        hash: u64,
        /// The worker that received it.
        src: u32,
        /// Its arrival sequence on that worker.
        seq: u64,
        /// The item.
        item: Item,
    },
    /// The smallest `(time, ts)` of one batch (event time), for the alignment.
    Min(Time, u64),
}

/// What a keyed worker sends to the finishing worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum KeyedOut {
    /// A decode error, emitted at once.
    Immediate(Arc<str>),
    /// An admission error, emitted at the row's time.
    RowError(Order, Arc<str>),
    /// One worker's groups of one window.
    Window {
        /// The window end (ms).
        end: u64,
        /// Each group: its first row's order, first row, finished aggregates.
        groups: Vec<(Order, Row, Vec<Value>)>,
        /// The window's earliest error.
        error: Option<WindowError>,
    },
    /// One worker's groups of one window, projected (plans whose groups
    /// [project apart](crate::window::GroupQuery::projects_groups_apart)).
    Projected {
        /// The window end (ms).
        end: u64,
        /// How many groups the worker had in the window.
        groups: usize,
        /// Each result row's group's first-row order, ascending.
        orders: Vec<Order>,
        /// The result rows (empty when the window has an error).
        rows: Vec<OutRow>,
        /// The window's earliest error, a SELECT error included.
        error: Option<WindowError>,
    },
    /// One worker's partial groups of one window (two-phase plans).
    Partials {
        /// The window end (ms).
        end: u64,
        /// Each group: its key, its first row's order on this worker, that
        /// row, and each aggregate's partial state.
        groups: Vec<PartialGroup>,
        /// The window's earliest error on this worker.
        error: Option<WindowError>,
    },
}

/// One worker's result rows of one window, each with its group's first-row order.
type ProjectedPart = (Vec<Order>, Vec<OutRow>);

/// One worker's share of a group: key, first row's order, first row, partial states.
pub type PartialGroup = (Vec<u8>, Order, Row, Vec<Vec<Value>>);

/// The environment variable that switches the experimental two-phase path
/// on (value `1`). Off by default: measured on 2 workers (Q2/Q3 bench, 2
/// cores) it ran slower than the exchange by key, with twice the context
/// switches, though its instruction counts were close. It is read when a
/// rule is built, so every worker (and, in a cluster, every process) must
/// see the same value; `tests/parallel_two_phase.rs` runs with it on.
pub const TWO_PHASE_ENV: &str = "OORT_EXPERIMENTAL_TWO_PHASE";

/// Whether several workers fold [`two_phase`] plans where the rows were
/// decoded ([`TWO_PHASE_ENV`] is `1`).
pub fn two_phase_enabled() -> bool {
    std::env::var(TWO_PHASE_ENV).is_ok_and(|v| v == "1")
}

/// Whether every aggregate of the plan merges partial states: then rows fold
/// on the worker that decoded them (no exchange by key).
pub fn two_phase(shape: &PlanShape) -> bool {
    shape.aggregate.as_ref().is_some_and(|(_, aggs)| aggs.iter().all(|a| aggregate::mergeable(&a.name)))
}

/// Whether several workers fold this plan's rows where they were decoded
/// (two-phase, switched on), rather than exchanging them by key.
pub fn folds_where_decoded(shape: &PlanShape) -> bool {
    two_phase(shape) && two_phase_enabled()
}

/// Whether several workers of this plan (of `shape`) exchange its rows by
/// GROUP BY key, and so place its keys ([`KeyPlacement`]) and may decode
/// them key-partitioned ([`crate::partition::KeyPartition`]).
pub fn exchanges_by_key(plan: &Arc<RulePlan>, shape: &PlanShape) -> bool {
    eligible(plan, shape) && !folds_where_decoded(shape)
}

/// Whether the keyed parallel path can run this plan.
pub fn eligible(plan: &Arc<RulePlan>, shape: &PlanShape) -> bool {
    let Some(spec) = &shape.window else { return false };
    let Some((keys, aggs)) = &shape.aggregate else { return false };
    Clock::new(&spec.kind, spec.unit, plan.options.is_event_time).is_some()
        && spec.trigger.is_none()
        && plan.sources.len() == 1
        && shape.joins.is_empty()
        && !keys.is_empty()
        && aggs.iter().all(|a| a.name != "deduplicate" && functions::accumulator(&a.name).is_some())
        && !TableStore::new(plan).has_tables()
        && !Evaluator::new(plan.clone()).has_analytics()
}

/// The window grid of a tumbling or hopping window, as [`crate::window_kinds::FixedWindows`] computes it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    size: u64,
    hop: u64,
    overlapping: bool,
    raw_interval: u64,
    unit: TimeUnit,
    event_time: bool,
}

impl Clock {
    /// The clock of a tumbling or hopping window (`None` for other kinds).
    pub fn new(kind: &WindowKind, unit: TimeUnit, event_time: bool) -> Option<Self> {
        let raw = |ms: u64| (ms / unit.millis()).max(1);
        match *kind {
            WindowKind::Tumbling { size_ms } if size_ms > 0 => Some(Self {
                size: size_ms,
                hop: size_ms,
                overlapping: false,
                raw_interval: raw(size_ms),
                unit,
                event_time,
            }),
            WindowKind::Hopping { size_ms, hop_ms } if size_ms > 0 && hop_ms > 0 => Some(Self {
                size: size_ms,
                hop: hop_ms,
                overlapping: true,
                raw_interval: raw(hop_ms),
                unit,
                event_time,
            }),
            _ => None,
        }
    }

    /// The first window end for alignment `x` (rule start or first row's ts).
    pub fn first_end(&self, x: u64) -> u64 {
        aligned_window_end(x, self.raw_interval, self.unit)
    }

    /// The time the window ending at `end` follows (eKuiper's `triggerTime`);
    /// `end0` is [`first_end`](Self::first_end)`(x)`.
    fn previous(&self, end0: u64, x: u64, end: u64) -> i64 {
        if end <= end0 { x as i64 } else { (end - self.hop) as i64 }
    }

    /// `(window_start, window_end)` of the window ending at `end`.
    pub fn range(&self, x: u64, end: u64) -> (u64, u64) {
        self.range_from(self.first_end(x), x, end)
    }

    /// [`range`](Self::range) with `end0` = [`first_end`](Self::first_end)`(x)` known.
    fn range_from(&self, end0: u64, x: u64, end: u64) -> (u64, u64) {
        let previous = self.previous(end0, x, end);
        let mut start = if self.overlapping { previous - self.hop as i64 } else { previous };
        if start <= 0 {
            start = end as i64 - self.size as i64;
        }
        (start.max(0) as u64, end)
    }

    /// The oldest timestamp a hopping window ending at `end` keeps.
    fn left(&self, end0: u64, x: u64, end: u64) -> i64 {
        let previous = self.previous(end0, x, end);
        let end = end as i64;
        let drift = if self.event_time || previous == 0 { 0 } else { end - previous - self.hop as i64 };
        end - self.size as i64 - drift
    }

    /// The window ends a row released at `at` with timestamp `ts` belongs to.
    pub fn windows_of(&self, x: u64, at: Time, ts: u64, out: &mut Vec<u64>) {
        self.windows_from(self.first_end(x), x, at, ts, out)
    }

    /// [`windows_of`](Self::windows_of) with `end0` = [`first_end`](Self::first_end)`(x)` known.
    fn windows_from(&self, end0: u64, x: u64, at: Time, ts: u64, out: &mut Vec<u64>) {
        let past = time::to_ms(at).max(ts);
        let k = if past < end0 { 0 } else { (past - end0) / self.hop + 1 };
        let mut end = end0 + k * self.hop;
        if !self.overlapping {
            out.push(end);
            return;
        }
        while ts as i64 >= self.left(end0, x, end) {
            out.push(end);
            end += self.hop;
        }
    }
}

/// Renders an [eligible] plan; `keys` places its GROUP BY keys on the
/// workers (shared by all of them; by the key hash alone when `None`).
pub fn render<'s>(
    scope: Scope<'s, Time>,
    plan: &Arc<RulePlan>,
    shape: &PlanShape,
    input: ItemStream<'s>,
    keys: Option<Arc<KeyPlacement>>,
) -> Result<EmissionStream<'s>, RenderError> {
    let event_time = plan.options.is_event_time;
    let worker = scope.index();
    let clock = shape
        .window
        .as_ref()
        .and_then(|w| Clock::new(&w.kind, w.unit, event_time))
        .ok_or_else(|| RenderError::Unsupported("keyed window: not a tumbling or hopping window".into()))?;
    let (group_keys, aggs): (Vec<ScalarExpr>, Vec<AggregateCall>) = shape.aggregate.clone().unwrap_or_default();
    // One worker folds every row itself: no key hash, no partial states.
    let alone = scope.peers() == 1;
    let two_phase = !alone && folds_where_decoded(shape);
    // Two-phase plans need no key hash either: rows stay on their worker.
    let placement = keys.unwrap_or_else(|| Arc::new(KeyPlacement::by_hash(scope.peers())));
    let route = (!two_phase && !alone).then(|| Route::new(group_keys, placement.clone()));
    let (rows, strays, mins) = tag(input, plan.clone(), route, worker as u32, event_time);
    let alignment = align(mins, event_time, worker).broadcast();
    let pushed_where = shape.where_below_window(event_time);
    // Only HAVING, ORDER BY and SELECT of the query run on the finished
    // groups: on worker 0 over the merged groups or, when each group's
    // SELECT stands alone (and groups are not merged from partial states),
    // on the worker that folded the group (worker 0 merges the rows in order).
    let mut query = GroupQuery::new(plan.clone(), shape);
    let projection = (!two_phase && query.projects_groups_apart()).then(|| GroupQuery::new(plan.clone(), shape));
    let projected = projection.is_some();
    let folder = Folder::new(plan.clone(), shape, pushed_where, clock, two_phase, projection);
    // Rows whose key belongs to another worker go there through the exchange;
    // the others (all of them when the input is key-partitioned, see
    // `crate::partition`) stay where they were decoded.
    let rows = if two_phase || alone {
        rows
    } else {
        // The exchange's number is the worker itself (below `peers`, it
        // picks that worker).
        rows.concat(strays.exchange(move |t: &TagOut| match t {
            TagOut::Row { hash, .. } => placement.of(*hash),
            TagOut::Min(..) => 0,
        }))
    };
    let keyed = keyed_window(rows, alignment.clone(), Pipeline, folder);
    let post_filter = shape.filter.is_some() && !pushed_where;
    let emit = move |groups, window| query.emit_finished(groups, window);
    let firing = Firing { post_filter, projected };
    Ok(finish(keyed, alignment, clock, worker, firing, aggs, emit))
}

/// How `KeyTag` tells the rows that stay apart from those that move: the
/// GROUP BY key and the workers' keys.
struct Route {
    keys: Vec<ScalarExpr>,
    /// The slot of the key when it is one column.
    column: Option<usize>,
    placement: Arc<KeyPlacement>,
}

impl Route {
    fn new(keys: Vec<ScalarExpr>, placement: Arc<KeyPlacement>) -> Self {
        let column = match keys.as_slice() {
            [ScalarExpr::Column(c)] => Some(c.slot),
            _ => None,
        };
        Self { keys, column, placement }
    }

    /// The hash the exchange routes `row` by; `buf` is scratch.
    #[inline]
    fn hash(&self, ev: &mut Evaluator, row: &Row, buf: &mut Vec<u8>) -> u64 {
        // One string column: its text's hash, as [`columns_route_hash`]
        // computes it (the usual key, taken without the general path).
        if let Some(slot) = self.column
            && let Some(Value::String(text)) = row.slots.get(slot)
        {
            return str_route_hash(text);
        }
        buf.clear();
        for k in &self.keys {
            // A key that fails is reported by the keyed worker.
            let _ = push_key(ev, k, row, GroupContext::default(), buf);
        }
        key_hash(buf)
    }

    /// The worker of the key whose hash is `hash`.
    #[inline]
    fn target(&self, hash: u64) -> u64 {
        self.placement.of(hash)
    }
}

/// Tags items with their key hash and order: rows whose key is this
/// worker's (all rows without a [`Route`]) on the first output, the others
/// on the second; plus a first-row candidate per batch (third output, event
/// time only). One operator with three outputs: each tagged row is moved once.
#[allow(clippy::type_complexity)]
fn tag<'s>(
    items: ItemStream<'s>,
    plan: Arc<RulePlan>,
    route: Option<Route>,
    worker: u32,
    event_time: bool,
) -> (Stream<'s, Time, Vec<TagOut>>, Stream<'s, Time, Vec<TagOut>>, Stream<'s, Time, Vec<TagOut>>) {
    let mut builder = OperatorBuilder::new("KeyTag".to_owned(), items.scope());
    let mut input = builder.new_input(items, Pipeline);
    let (mut rows_out, rows) = builder.new_output::<Vec<TagOut>>();
    let (mut strays_out, strays) = builder.new_output::<Vec<TagOut>>();
    let (mut mins_out, mins) = builder.new_output::<Vec<TagOut>>();
    builder.build(move |_capabilities| {
        let mut ev = Evaluator::new(plan);
        let mut seq: u64 = 0;
        let mut buf = Vec::new();
        move |_frontiers| {
            let mut rows_out = rows_out.activate();
            let mut strays_out = strays_out.activate();
            let mut mins_out = mins_out.activate();
            input.for_each_time(|cap, data| {
                let t = *cap.time();
                let mut min: Option<(Time, u64)> = None;
                // Sized once for all of this time's batches: grown batch by
                // batch, the vector was copied again at every doubling.
                let mut tagged: Vec<TagOut> = Vec::with_capacity(data.as_slice().iter().map(Vec::len).sum());
                let mut strays: Vec<TagOut> = Vec::new();
                for batch in data {
                    for item in batch.drain(..) {
                        let hash = match &item {
                            Item::Row(r) => {
                                if event_time {
                                    let at = (time::of_ms(r.ts).max(t), r.ts);
                                    if min.is_none_or(|m| at < m) {
                                        min = Some(at);
                                    }
                                }
                                route.as_ref().map_or(0, |route| route.hash(&mut ev, r, &mut buf))
                            }
                            Item::Error(_) => 0,
                        };
                        seq += 1;
                        let out = TagOut::Row { hash, src: worker, seq, item };
                        match &route {
                            Some(route) if route.target(hash) != u64::from(worker) => strays.push(out),
                            _ => tagged.push(out),
                        }
                    }
                }
                if !tagged.is_empty() {
                    rows_out.give(&cap, &mut tagged);
                }
                if !strays.is_empty() {
                    strays_out.give(&cap, &mut strays);
                }
                if let Some((at, ts)) = min {
                    mins_out.give(&cap, &mut vec![TagOut::Min(at, ts)]);
                }
            });
        }
    });
    (rows, strays, mins)
}

/// The hash the exchange routes a row by whose GROUP BY key is the columns
/// `columns` of `slots` (as the rows' tag computes it, and
/// [`crate::partition::KeyRouter`] before decoding): [`string_key_hash`]
/// of a key that is one string, else [`key_hash`] of the encoded key.
/// `buf` is scratch.
#[inline]
pub(crate) fn columns_route_hash(slots: &[Value], columns: &[usize], buf: &mut Vec<u8>) -> u64 {
    if let [column] = columns
        && let Some(Value::String(text)) = slots.get(*column)
    {
        return str_route_hash(text);
    }
    buf.clear();
    for c in columns {
        match slots.get(*c) {
            Some(v) => v.group_key(buf),
            None => Value::Null.group_key(buf),
        }
    }
    key_hash(buf)
}

/// [`string_key_hash`] of a held string: from its two words when it is
/// held inline.
#[inline(always)]
fn str_route_hash(text: &crate::inline_str::Str) -> u64 {
    match text.inline_words() {
        Some((lo, hi, n)) => short_string_key_hash(lo, hi, n),
        None => string_key_hash(text.as_bytes()),
    }
}

/// The hash the exchange routes a row by whose key is not one string: of
/// its encoded group key, a word at a time.
pub(crate) fn key_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = GroupKeyHasher::default();
    h.write(bytes);
    h.finish()
}

/// The hash the exchange routes a row by when its GROUP BY key is one
/// string value: of the text and its length. Not [`key_hash`] of the
/// key's encoding: routing needs only that every place that routes (the
/// rows' tag, [`crate::partition::KeyRouter`] before decoding) computes the
/// same number, and a short text (a device id) takes two multiplies and a
/// fold here, where its encoding took three rounds and a finalizer.
#[inline]
pub(crate) fn string_key_hash(text: &[u8]) -> u64 {
    let n = text.len();
    if n <= SHORT_KEY_MAX {
        let lo = load_short(text);
        let hi = if n > 8 { load_short(text.get(8..).unwrap_or(&[])) } else { 0 };
        return short_string_key_hash(lo, hi, n);
    }
    long_string_key_hash(text)
}

/// The longest text [`short_string_key_hash`] takes: what a [`Str`](crate::inline_str::Str) holds inline.
const SHORT_KEY_MAX: usize = 15;

/// [`string_key_hash`] of a text of `n` ≤ [`SHORT_KEY_MAX`] bytes given as
/// two little-endian words, zero past the text (as
/// [`Str::inline_words`](crate::inline_str::Str::inline_words) gives them).
/// The second word holds at most 7 bytes, so its top byte takes the length
/// (texts that differ only in trailing NULs differ in length); the two
/// products are folded so that the low bits the exchange picks a worker by
/// depend on every byte.
#[inline]
pub(crate) fn short_string_key_hash(lo: u64, hi: u64, n: usize) -> u64 {
    let x = lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (hi | ((n as u64) << 56)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    let x = (x ^ (x >> 32)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 29)
}

/// [`string_key_hash`] of a text longer than [`SHORT_KEY_MAX`] bytes: its
/// length, then its bytes a word at a time.
fn long_string_key_hash(text: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = GroupKeyHasher::default();
    h.mix(text.len() as u64);
    h.write(text);
    h.finish()
}

/// The little-endian word of at most 8 bytes (zero-padded), in at most two
/// loads (overlapping when the length is not a power of two).
#[inline(always)]
fn load_short(b: &[u8]) -> u64 {
    let n = b.len().min(8);
    let at = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
    if n >= 4 {
        let lo = b.first_chunk::<4>().map_or(0, |w| u64::from(u32::from_le_bytes(*w)));
        let hi = b.get(n - 4..n).and_then(|w| w.first_chunk::<4>()).map_or(0, |w| u64::from(u32::from_le_bytes(*w)));
        lo | (hi << (8 * (n - 4)))
    } else if n > 0 {
        at(0) | (at(n / 2) << (8 * (n / 2))) | (at(n - 1) << (8 * (n - 1)))
    } else {
        0
    }
}

/// Decides the alignment on worker 0: the rule start (processing time) or the
/// timestamp of the first row in time order (event time).
fn align<'s>(mins: Stream<'s, Time, Vec<TagOut>>, event_time: bool, worker: usize) -> Stream<'s, Time, Vec<u64>> {
    mins.unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
        ExchangePact::new(|_: &TagOut| 0u64),
        "WindowAlign",
        move |initial, _info| {
            let mut hold = (!event_time && worker == 0).then_some(initial);
            let mut best: Option<(Time, u64)> = None;
            let mut done = false;
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    if done {
                        return;
                    }
                    for t in data.iter() {
                        if let TagOut::Min(at, ts) = *t
                            && best.is_none_or(|b| (at, ts) < b)
                        {
                            best = Some((at, ts));
                        }
                    }
                    if hold.as_ref().is_none_or(|h| cap.time() < h.time()) {
                        hold = Some(cap.retain(output.output_index()));
                    }
                });
                let Some(front) = frontier.frontier().iter().min().copied() else {
                    hold = None;
                    return;
                };
                if done {
                    return;
                }
                let x = if event_time {
                    best.filter(|(at, _)| *at < front).map(|(_, ts)| ts)
                } else {
                    (front > 0).then(|| time::to_ms(front))
                };
                if let Some(x) = x
                    && let Some(cap) = hold.take()
                {
                    output.session(&cap).give(x);
                    done = true;
                }
            }
        },
    )
}

/// A fast hasher for group keys (already-encoded bytes, hashed a word at a
/// time, FxHash-style): the per-row group lookup must not pay for SipHash.
#[derive(Default, Clone, Copy)]
pub struct GroupKeyHasher(u64);

impl GroupKeyHasher {
    /// Takes in one word of the bytes (the last one, if short, zero-padded
    /// and marked with its length in the top bits).
    #[inline(always)]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for GroupKeyHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finalizer: the table indexes on the low bits, which the
        // word-at-a-time multiply leaves depending on the keys' first bytes only.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.mix(load_short(rest) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

/// Group maps keyed by encoded group keys.
type GroupMap<V> = HashMap<Vec<u8>, V, std::hash::BuildHasherDefault<GroupKeyHasher>>;

/// An encoded group key held in place when short (a device id's is about
/// 15 bytes): the per-row lookup compares it without following a pointer.
type KeyBytes = smallvec::SmallVec<[u8; 24]>;

/// Appends the group-key encoding of `expr` for `row`: a column is read in
/// place (no clone of its value), anything else is evaluated.
fn push_key(
    ev: &mut Evaluator,
    expr: &ScalarExpr,
    row: &Row,
    g: GroupContext,
    out: &mut Vec<u8>,
) -> Result<(), crate::eval::EvalError> {
    match expr {
        ScalarExpr::Column(c) => match row.slots.get(c.slot) {
            Some(v) => v.group_key(out),
            None => Value::Null.group_key(out),
        },
        other => ev.eval(other, row, g)?.group_key(out),
    }
    Ok(())
}

/// One group's accumulators in one window.
struct GroupAcc {
    first: (Order, Row),
    accs: Vec<InlineAccumulator>,
}

/// One group key and its states in the open windows it has rows in.
struct KeySlot {
    key: Vec<u8>,
    /// `(window end, state)`, one per open window of the key (one for
    /// tumbling windows, up to size / hop for hopping ones).
    states: Vec<(u64, GroupAcc)>,
    /// The latest window end the key had a state in.
    last_end: u64,
}

/// Idle keys (no state in any open window) a table keeps before it looks
/// for ones to forget.
const IDLE_KEYS_KEPT: usize = 1024;
/// Most reset accumulator sets a table keeps for new groups.
const SPARE_ACCS_KEPT: usize = 16_384;

/// The group keys of one worker's open windows, shared by those windows: a
/// row's key is looked up once (not once per window it belongs to), and a
/// key that comes back window after window keeps its slot. Finished groups'
/// accumulators are reset and reused. A key with no state is forgotten once
/// it has had no row in the window that just closed, when more than
/// [`IDLE_KEYS_KEPT`] keys are idle.
#[derive(Default)]
struct GroupTable {
    index: HashMap<KeyBytes, u32, std::hash::BuildHasherDefault<GroupKeyHasher>>,
    slots: Vec<KeySlot>,
    /// Slots of forgotten keys, for new ones.
    free: Vec<u32>,
    /// Slots with no state.
    idle: usize,
    /// Reset accumulator sets.
    spare_accs: Vec<Vec<InlineAccumulator>>,
}

impl GroupTable {
    /// The slot of `key`, made when the key is new.
    fn slot_of(&mut self, key: &[u8]) -> u32 {
        if let Some(id) = self.index.get(key) {
            return *id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.slots.get_mut(id as usize) {
                    slot.key.clear();
                    slot.key.extend_from_slice(key);
                }
                id
            }
            None => {
                self.slots.push(KeySlot { key: key.to_vec(), states: Vec::new(), last_end: 0 });
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(KeyBytes::from_slice(key), id);
        self.idle += 1;
        id
    }

    /// The state of slot `id` in window `end`, made by `make` (given a reset
    /// accumulator set when there is one) and noted in `w` when new.
    fn state(
        &mut self,
        id: u32,
        end: u64,
        w: &mut WindowAcc,
        make: impl FnOnce(Option<Vec<InlineAccumulator>>) -> GroupAcc,
    ) -> Option<&mut GroupAcc> {
        let slot = self.slots.get_mut(id as usize)?;
        let at = match slot.states.iter().position(|(e, _)| *e == end) {
            Some(at) => at,
            None => {
                if slot.states.is_empty() {
                    self.idle -= 1;
                }
                slot.last_end = slot.last_end.max(end);
                slot.states.push((end, make(self.spare_accs.pop())));
                w.members.push(id);
                slot.states.len() - 1
            }
        };
        Some(&mut slot.states[at].1)
    }

    /// Takes the state of slot `id` in window `end` out of the table.
    fn take(&mut self, id: u32, end: u64) -> Option<(&[u8], GroupAcc)> {
        let slot = self.slots.get_mut(id as usize)?;
        let at = slot.states.iter().position(|(e, _)| *e == end)?;
        let (_, g) = slot.states.remove(at);
        if slot.states.is_empty() {
            self.idle += 1;
        }
        Some((&slot.key, g))
    }

    /// Keeps a finished group's accumulators for reuse, if they reset.
    fn recycle(&mut self, mut accs: Vec<InlineAccumulator>) {
        if self.spare_accs.len() < SPARE_ACCS_KEPT && accs.iter_mut().all(|a| a.reset()) {
            self.spare_accs.push(accs);
        }
    }

    /// After window `end` closed: forgets the idle keys that had no row in
    /// it, when many keys are idle.
    fn sweep(&mut self, end: u64) {
        if self.idle <= IDLE_KEYS_KEPT {
            return;
        }
        let (slots, free) = (&mut self.slots, &mut self.free);
        let mut forgotten = 0;
        self.index.retain(|_, id| {
            let Some(slot) = slots.get_mut(*id as usize) else { return false };
            if slot.states.is_empty() && slot.last_end < end {
                slot.key = Vec::new();
                slot.states = Vec::new();
                free.push(*id);
                forgotten += 1;
                false
            } else {
                true
            }
        });
        self.idle -= forgotten;
    }

    /// Forgets everything (the rule stops).
    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The open windows of one worker by end, in a vector kept sorted: there
/// are few (size / hop, plus any a lagging frontier keeps open), and rows
/// mostly go to the latest ones.
#[derive(Default)]
struct OpenWindows(Vec<(u64, WindowAcc)>);

impl OpenWindows {
    /// Window `end`, opened if new.
    fn entry(&mut self, end: u64) -> &mut WindowAcc {
        let at = match self.0.iter().rposition(|(e, _)| *e <= end) {
            Some(i) if self.0[i].0 == end => i,
            found => {
                let i = found.map_or(0, |i| i + 1);
                self.0.insert(i, (end, WindowAcc::default()));
                i
            }
        };
        &mut self.0[at].1
    }

    /// The earliest open window's end.
    fn first_end(&self) -> Option<u64> {
        self.0.first().map(|(e, _)| *e)
    }

    /// Removes the earliest open window if it ends at or before `front`.
    fn pop_closed(&mut self, front: Time) -> Option<(u64, WindowAcc)> {
        if self.first_end().is_some_and(|e| time::of_ms(e) <= front) { Some(self.0.remove(0)) } else { None }
    }
}

/// Rows waiting for the frontier: one queue per source worker, in arrival
/// order (sorted by release time, stably, when they came out of order), and
/// released by merging the queues on `(time, source worker, sequence)` — the
/// rows' [`Order`]. Rows from several workers arrive interleaved; merging
/// their queues moves each row once, where sorting one mixed queue moved
/// them several times.
#[derive(Default)]
struct PendingRows {
    /// Per source worker: its rows, and whether they are in time order.
    queues: Vec<(VecDeque<(Order, Row)>, bool)>,
}

impl PendingRows {
    fn push(&mut self, order: Order, row: Row) {
        let src = order.1 as usize;
        if self.queues.len() <= src {
            self.queues.resize_with(src + 1, || (VecDeque::new(), true));
        }
        let (queue, sorted) = &mut self.queues[src];
        if queue.back().is_some_and(|(o, _)| o.0 > order.0) {
            *sorted = false;
        }
        queue.push_back((order, row));
    }

    /// Puts each queue in time order (stable: arrival order holds within a time).
    fn sort(&mut self) {
        for (queue, sorted) in &mut self.queues {
            if !*sorted {
                queue.make_contiguous().sort_by_key(|(o, _)| o.0);
                *sorted = true;
            }
        }
    }

    /// The earliest waiting row if it is released before `front` ([`sort`](Self::sort) first).
    fn pop_before(&mut self, front: Time) -> Option<(Order, Row)> {
        let mut best: Option<(Order, usize)> = None;
        for (i, (queue, _)) in self.queues.iter().enumerate() {
            if let Some((o, _)) = queue.front()
                && o.0 < front
                && best.is_none_or(|(b, _)| *o < b)
            {
                best = Some((*o, i));
            }
        }
        let (_, i) = best?;
        self.queues.get_mut(i)?.0.pop_front()
    }

    /// The earliest release time waiting.
    fn first_time(&self) -> Option<Time> {
        self.queues.iter().filter_map(|(q, _)| q.front().map(|(o, _)| o.0)).min()
    }

    fn clear(&mut self) {
        self.queues.clear();
    }
}

/// One window's groups on one worker: the slots of the [`GroupTable`] that
/// have a state in it, in the order their first rows came.
#[derive(Default)]
struct WindowAcc {
    members: Vec<u32>,
    error: Option<WindowError>,
}

impl WindowAcc {
    fn fail(&mut self, phase: u8, order: Order, msg: Arc<str>) {
        keep_earliest(&mut self.error, (phase, order, msg));
    }
}

/// How the folder gets an aggregate's arguments.
enum ArgKind {
    /// `count(*)`: every row counts; the row object is not built.
    CountRows,
    /// One column, passed in place.
    Column(usize),
    /// Evaluated into the argument vector.
    Eval,
}

impl ArgKind {
    fn of(a: &AggregateCall) -> Self {
        match a.args.as_slice() {
            [ScalarExpr::Wildcard { .. }] if a.name == "count" => Self::CountRows,
            [ScalarExpr::Column(c)] => Self::Column(c.slot),
            _ => Self::Eval,
        }
    }
}

static TRUE: Value = Value::Bool(true);
static NULL: Value = Value::Null;

/// Folds released rows into per-(window, key) accumulators.
struct Folder {
    ev: Evaluator,
    pushed_where: Option<ScalarExpr>,
    window_filter: Option<ScalarExpr>,
    post_where: Option<ScalarExpr>,
    keys: Vec<ScalarExpr>,
    aggs: Vec<AggregateCall>,
    /// Per aggregate: how its arguments are had.
    arg_kinds: Vec<ArgKind>,
    clock: Clock,
    /// Send partial states, not finished groups.
    two_phase: bool,
    /// Runs the SELECT of each finished group here (see [`KeyedOut::Projected`]).
    projection: Option<GroupQuery>,
    /// The GROUP BY keys are columns: a row's key is the same in all its windows.
    keys_fixed: bool,
    /// Some expression is evaluated per row (WHERE after the window, a
    /// computed key, an aggregate FILTER or computed argument): it gets the
    /// row's window as context.
    evaluates: bool,
    /// `(x, first_end(x))` of the last row.
    grid: (u64, u64),
    /// Emptied slot vectors of added rows, for [`Folder::recycle_spent`].
    spent: Vec<Vec<Value>>,
    table: GroupTable,
    ends: Vec<u64>,
    key: Vec<u8>,
    args: Vec<Value>,
}

impl Folder {
    fn new(
        plan: Arc<RulePlan>,
        shape: &PlanShape,
        pushed_where: bool,
        clock: Clock,
        two_phase: bool,
        projection: Option<GroupQuery>,
    ) -> Self {
        let (keys, aggs) = shape.aggregate.clone().unwrap_or_default();
        let keys_are_columns = keys.iter().all(|k| matches!(k, ScalarExpr::Column(_)));
        let post_where = if pushed_where { None } else { shape.filter.clone() };
        let arg_kinds: Vec<ArgKind> = aggs.iter().map(ArgKind::of).collect();
        let evaluates = post_where.is_some()
            || !keys_are_columns
            || aggs.iter().zip(&arg_kinds).any(|(a, k)| a.filter.is_some() || matches!(k, ArgKind::Eval));
        Self {
            ev: Evaluator::new(plan),
            pushed_where: if pushed_where { shape.filter.clone() } else { None },
            window_filter: shape.window.as_ref().and_then(|w| w.filter.clone()),
            post_where,
            keys,
            arg_kinds,
            aggs,
            clock,
            two_phase,
            projection,
            keys_fixed: keys_are_columns,
            evaluates,
            grid: (u64::MAX, 0),
            spent: Vec::new(),
            table: GroupTable::default(),
            ends: Vec::new(),
            key: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Admits one row and adds it to its windows; `Err` is an error to emit at the row's time.
    fn add(&mut self, x: u64, order: Order, row: Row, open: &mut OpenWindows) -> Result<(), Arc<str>> {
        let result = self.add_row(x, order, &row, open);
        // The row is done with (a group's first row is kept as a copy): its
        // values go now, its vector back to the decoders with the batch's.
        let mut slots = row.slots;
        slots.clear();
        self.spent.push(slots);
        result
    }

    /// Gives the emptied slot vectors of the rows added so far back to this
    /// thread's decoders.
    fn recycle_spent(&mut self) {
        crate::value::recycle_all_slots(&mut self.spent);
    }

    fn add_row(&mut self, x: u64, order: Order, row: &Row, open: &mut OpenWindows) -> Result<(), Arc<str>> {
        let g = GroupContext::default();
        for cond in [&self.pushed_where, &self.window_filter].into_iter().flatten() {
            if !self.ev.eval_condition(cond, row, g).map_err(|e| where_error(&e))? {
                return Ok(());
            }
        }
        if self.grid.0 != x {
            self.grid = (x, self.clock.first_end(x));
        }
        let end0 = self.grid.1;
        self.ends.clear();
        self.clock.windows_from(end0, x, order.0, row.ts, &mut self.ends);
        let Folder {
            ev, post_where, keys, aggs, arg_kinds, clock, keys_fixed, evaluates, table, ends, key, args, ..
        } = self;
        // The key's slot, once computed (for every window when the key is columns).
        let mut slot: Option<u32> = None;
        for &end in ends.iter() {
            // Only evaluated expressions read the window.
            let window = if *evaluates { Some(clock.range_from(end0, x, end)) } else { None };
            let base = GroupContext { window, ..GroupContext::default() };
            let w = open.entry(end);
            if let Some(f) = post_where.as_ref() {
                match ev.eval_condition(f, row, base) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        w.fail(0, order, where_error(&e));
                        continue;
                    }
                }
            }
            let id = match slot {
                Some(id) if *keys_fixed => id,
                _ => {
                    key.clear();
                    let mut failed = None;
                    for k in keys.iter() {
                        if let Err(e) = push_key(ev, k, row, base, key) {
                            failed = Some(e);
                            break;
                        }
                    }
                    if let Some(e) = failed {
                        w.fail(1, order, Arc::from(format!("run Group By error: {}", e.0)));
                        continue;
                    }
                    let id = table.slot_of(key);
                    slot = Some(id);
                    id
                }
            };
            let Some(group) = table.state(id, end, w, |spare| GroupAcc {
                first: (order, crate::value::copy_row(row)),
                accs: spare.unwrap_or_else(|| {
                    aggs.iter().map(|a| InlineAccumulator::of(&a.name, || new_accumulator(a))).collect()
                }),
            }) else {
                continue;
            };
            for ((a, acc), kind) in aggs.iter().zip(group.accs.iter_mut()).zip(arg_kinds.iter()) {
                if let Some(f) = &a.filter
                    && !ev.eval_condition(f, row, base).unwrap_or(false)
                {
                    continue;
                }
                match kind {
                    ArgKind::CountRows => {
                        // `count(*)` only asks whether the row object is null; it never is.
                        let _ = acc.update_at(order, std::slice::from_ref(&TRUE));
                        continue;
                    }
                    ArgKind::Column(slot) => {
                        // One column: read in place, no argument vector.
                        let v = row.slots.get(*slot).unwrap_or(&NULL);
                        if let Err(e) = acc.update_at(order, std::slice::from_ref(v)) {
                            w.fail(1, order, Arc::from(format!("run Select error: {e}")));
                            break;
                        }
                        continue;
                    }
                    ArgKind::Eval => {}
                }
                args.clear();
                let mut failed = None;
                for arg in &a.args {
                    let v = match arg {
                        ScalarExpr::Column(c) => Ok(row.slots.get(c.slot).cloned().unwrap_or(Value::Null)),
                        other => ev.eval(other, row, base),
                    };
                    match v {
                        Ok(v) => args.push(v),
                        Err(e) => {
                            failed = Some(format!("run Select error: {}", e.0));
                            break;
                        }
                    }
                }
                let failed = match failed {
                    Some(f) => Some(f),
                    None => acc.update_at(order, args).err().map(|e| format!("run Select error: {e}")),
                };
                if let Some(msg) = failed {
                    w.fail(1, order, Arc::from(msg));
                    break;
                }
            }
        }
        Ok(())
    }

    /// Closes window `end`: its groups finished (or, two-phase, as partial
    /// states), their accumulators kept for reuse.
    fn close(&mut self, end: u64, w: WindowAcc) -> KeyedOut {
        let WindowAcc { members, mut error } = w;
        let table = &mut self.table;
        let out = if self.two_phase {
            let mut groups = Vec::with_capacity(members.len());
            for id in members {
                let Some((key, g)) = table.take(id, end) else { continue };
                let key = key.to_vec();
                let (order, row) = g.first;
                groups.push((key, order, row, g.accs.iter().map(|a| a.partial().unwrap_or_default()).collect()));
                table.recycle(g.accs);
            }
            KeyedOut::Partials { end, groups, error }
        } else if let Some(query) = self.projection.as_mut() {
            let window = Some(self.clock.range_from(self.grid.1, self.grid.0, end));
            let groups = members.len();
            let (mut orders, mut rows) = (Vec::with_capacity(groups), Vec::with_capacity(groups));
            let mut values = Vec::new();
            for id in members {
                let Some((_, g)) = table.take(id, end) else { continue };
                let GroupAcc { first: (order, first), accs } = g;
                values.clear();
                finish_group(&accs, order, &mut values, &mut error);
                // Once the window has an error it is the emission: the
                // other groups only finish (an earlier group's failure to
                // finish still wins over a SELECT error).
                if error.is_none() {
                    match query.project_group(&first, &values, window, &mut rows) {
                        Ok(()) => orders.resize(rows.len(), order),
                        Err(e) => keep_earliest(&mut error, (3, order, e)),
                    }
                }
                crate::value::recycle_slots(first.slots);
                table.recycle(accs);
            }
            if error.is_some() {
                orders.clear();
                rows.clear();
            }
            KeyedOut::Projected { end, groups, orders, rows, error }
        } else {
            let mut groups = Vec::with_capacity(members.len());
            for id in members {
                let Some((_, g)) = table.take(id, end) else { continue };
                let mut values = Vec::with_capacity(g.accs.len());
                finish_group(&g.accs, g.first.0, &mut values, &mut error);
                groups.push((g.first.0, g.first.1, values));
                table.recycle(g.accs);
            }
            KeyedOut::Window { end, groups, error }
        };
        table.sweep(end);
        out
    }
}

/// Finishes a group's accumulators into `values`; one that fails is a
/// window error at the group's first row `order`.
fn finish_group(accs: &[InlineAccumulator], order: Order, values: &mut Vec<Value>, error: &mut Option<WindowError>) {
    for acc in accs {
        match acc.finish() {
            Ok(v) => values.push(v),
            Err(e) => keep_earliest(error, (2, order, Arc::from(format!("run Select error: {e}")))),
        }
    }
}

/// Rows released in order into per-(window, key) accumulators; a window's
/// groups leave (and their accumulators are reset for reuse) once the
/// frontier reaches its end.
fn keyed_window<'s, P: ParallelizationContract<Time, Vec<TagOut>>>(
    rows: Stream<'s, Time, Vec<TagOut>>,
    alignment: Stream<'s, Time, Vec<u64>>,
    pact: P,
    mut folder: Folder,
) -> Stream<'s, Time, Vec<KeyedOut>> {
    let event_time = folder.clock.event_time;
    rows.binary_frontier::<_, CapacityContainerBuilder<Vec<KeyedOut>>, _, _, _, _>(
        alignment,
        pact,
        Pipeline,
        "KeyedWindow",
        move |_initial, _info| {
            let mut x: Option<u64> = None;
            // Rows waiting for the frontier, each with its release time `order.0`.
            let mut pending = PendingRows::default();
            let mut pending_cap: Option<Capability<Time>> = None;
            let mut open = OpenWindows::default();
            let mut open_cap: Option<Capability<Time>> = None;
            move |(input, rows_front), (align_in, align_front), output| {
                align_in.for_each(|_cap, data| {
                    for v in data.drain(..) {
                        x.get_or_insert(v);
                    }
                });
                input.for_each(|cap, data| {
                    for t in data.drain(..) {
                        let TagOut::Row { src, seq, item, .. } = t else { continue };
                        match item {
                            Item::Error(e) => output.session(&cap).give(KeyedOut::Immediate(e)),
                            Item::Row(row) => {
                                let at = if event_time { time::of_ms(row.ts).max(*cap.time()) } else { *cap.time() };
                                if pending_cap.as_ref().is_none_or(|c| cap.time() < c.time()) {
                                    pending_cap = Some(cap.retain(output.output_index()));
                                }
                                pending.push((at, src, seq), row);
                            }
                        }
                    }
                });
                let front = rows_front.frontier().iter().chain(align_front.frontier().iter()).min().copied();
                let Some(front) = front else {
                    // The input closed: the rule stops; nothing is flushed.
                    pending.clear();
                    open.0.clear();
                    folder.table.clear();
                    pending_cap = None;
                    open_cap = None;
                    return;
                };
                let Some(x) = x else { return };
                // Release, in order, the rows the frontier has passed.
                pending.sort();
                if let Some(pcap) = pending_cap.as_ref() {
                    let mut last_at = None;
                    while let Some((order, row)) = pending.pop_before(front) {
                        let at = order.0;
                        if last_at.is_some_and(|t| t != at) {
                            note_open(&open, pcap, &mut open_cap);
                        }
                        last_at = Some(at);
                        if let Err(e) = folder.add(x, order, row, &mut open) {
                            output.session(&pcap.delayed(&at)).give(KeyedOut::RowError(order, e));
                        }
                    }
                    if last_at.is_some() {
                        folder.recycle_spent();
                        note_open(&open, pcap, &mut open_cap);
                    }
                }
                while let Some((end, acc)) = open.pop_closed(front) {
                    if let Some(cap) = open_cap.as_ref() {
                        output.session(cap).give(folder.close(end, acc));
                    }
                }
                match open.first_end() {
                    Some(first) => {
                        let want = time::of_ms(first) - 1;
                        if let Some(c) = open_cap.as_mut()
                            && *c.time() < want
                        {
                            c.downgrade(&want);
                        }
                    }
                    None => open_cap = None,
                }
                match pending.first_time() {
                    Some(first) => {
                        if let Some(c) = pending_cap.as_mut()
                            && *c.time() < first
                        {
                            c.downgrade(&first);
                        }
                    }
                    None => pending_cap = None,
                }
            }
        },
    )
}

/// Holds a capability just before the end of the earliest open window (so
/// its groups can be sent at `of_ms(end) - 1`), never before `pcap`.
fn note_open(open: &OpenWindows, pcap: &Capability<Time>, open_cap: &mut Option<Capability<Time>>) {
    if let Some(first) = open.first_end() {
        let want = time::of_ms(first) - 1;
        if open_cap.as_ref().is_none_or(|c| *c.time() > want) {
            *open_cap = Some(pcap.delayed(&want.max(*pcap.time())));
        }
    }
}

/// The groups one window collected from the workers.
#[derive(Default)]
struct Collected {
    groups: Vec<(Order, Row, Vec<Value>)>,
    /// Two-phase plans: per group key, the first row's order, that row and
    /// the workers' partial states merged.
    merged: GroupMap<(Order, Row, Vec<Vec<Value>>)>,
    /// Projected plans: how many groups the workers had.
    projected_groups: usize,
    /// Projected plans: each worker's result rows.
    parts: Vec<ProjectedPart>,
    error: Option<WindowError>,
}

impl Collected {
    fn fail(&mut self, phase: u8, order: Order, msg: Arc<str>) {
        keep_earliest(&mut self.error, (phase, order, msg));
    }

    /// Merges one worker's share of a group: the earliest first row wins.
    fn merge(&mut self, ops: &[Option<PartialState>], (key, order, row, states): PartialGroup) {
        use std::collections::hash_map::Entry;
        let g = match self.merged.entry(key) {
            Entry::Vacant(v) => {
                v.insert((order, row, states));
                return;
            }
            Entry::Occupied(o) => o.into_mut(),
        };
        let loser = if order < g.0 {
            g.0 = order;
            std::mem::replace(&mut g.1, row)
        } else {
            row
        };
        // Spent vectors of values go back to this worker's decoders.
        crate::value::recycle_slots(loser.slots);
        let mut failed = None;
        for ((op, into), state) in ops.iter().zip(g.2.iter_mut()).zip(states) {
            let merged = match op {
                Some(op) => op.merge(into, &state),
                None => Err("this aggregate cannot merge partial states".into()),
            };
            crate::value::recycle_slots(state);
            if let Err(e) = merged {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            let first = g.0;
            self.fail(2, first, Arc::from(format!("run Select error: {e}")));
        }
    }

    /// Finishes the merged groups (their failures are window errors).
    fn finish_merged(&mut self, ops: &[Option<PartialState>]) {
        for (_, (first, row, states)) in std::mem::take(&mut self.merged) {
            let mut values = Vec::with_capacity(states.len());
            for (op, state) in ops.iter().zip(&states) {
                let v = match op {
                    Some(op) => op.finish(state),
                    None => Err("this aggregate cannot merge partial states".into()),
                };
                match v {
                    Ok(v) => values.push(v),
                    Err(e) => self.fail(2, first, Arc::from(format!("run Select error: {e}"))),
                }
            }
            self.groups.push((first, row, values));
        }
    }
}

/// How worker 0 makes a window's emission of what the workers sent.
#[derive(Clone, Copy)]
struct Firing {
    /// A WHERE runs after the window: a window without groups emits nothing.
    post_filter: bool,
    /// The workers sent result rows ([`KeyedOut::Projected`]), not groups.
    projected: bool,
}

/// The workers' result rows of one window in their groups' first-row order:
/// each worker's rows come in that order, so the parts are merged, not sorted.
fn merge_in_order(parts: Vec<ProjectedPart>) -> Vec<OutRow> {
    let mut parts: Vec<ProjectedPart> = parts.into_iter().filter(|(o, _)| !o.is_empty()).collect();
    if parts.len() <= 1 {
        return parts.pop().map(|(_, rows)| rows).unwrap_or_default();
    }
    let total = parts.iter().map(|(o, _)| o.len()).sum();
    let mut out = Vec::with_capacity(total);
    let mut heads: Vec<_> = parts.into_iter().map(|(o, rows)| (o.into_iter().peekable(), rows.into_iter())).collect();
    loop {
        let mut best: Option<(Order, usize)> = None;
        for (i, (orders, _)) in heads.iter_mut().enumerate() {
            if let Some(&o) = orders.peek()
                && best.is_none_or(|(b, _)| o < b)
            {
                best = Some((o, i));
            }
        }
        let Some((_, i)) = best else { break };
        let Some((orders, rows)) = heads.get_mut(i) else { break };
        orders.next();
        if let Some(row) = rows.next() {
            out.push(row);
        }
    }
    out
}

/// Worker 0 fires every window end in order (empty windows too), merging
/// the workers' groups into one emission, interleaved with row errors by time.
fn finish<'s>(
    keyed: Stream<'s, Time, Vec<KeyedOut>>,
    alignment: Stream<'s, Time, Vec<u64>>,
    clock: Clock,
    worker: usize,
    firing: Firing,
    aggs: Vec<AggregateCall>,
    mut emit: impl FnMut(Vec<(Order, Row, Vec<Value>)>, Option<(u64, u64)>) -> Option<Emission> + 'static,
) -> EmissionStream<'s> {
    keyed.binary_frontier::<_, CapacityContainerBuilder<Vec<Emission>>, _, _, _, _>(
        alignment,
        ExchangePact::new(|_: &KeyedOut| 0u64),
        Pipeline,
        "WindowFinish",
        move |_initial, _info| {
            let ops: Vec<Option<PartialState>> = aggs.iter().map(|a| PartialState::of(&a.name)).collect();
            let mut x: Option<u64> = None;
            let mut next_end: Option<u64> = None;
            let mut hold: Option<Capability<Time>> = None;
            let mut collected: HashMap<u64, Collected> = HashMap::new();
            type RowErrors = BTreeMap<Time, (Capability<Time>, Vec<(Order, Arc<str>)>)>;
            let mut errors: RowErrors = BTreeMap::new();
            move |(input, keyed_front), (align_in, align_front), output| {
                align_in.for_each(|cap, data| {
                    for v in data.drain(..) {
                        if worker == 0 && x.is_none() {
                            x = Some(v);
                            let end0 = clock.first_end(v);
                            next_end = Some(end0);
                            hold = Some(cap.delayed(&time::of_ms(end0).max(*cap.time()), output.output_index()));
                        }
                    }
                });
                input.for_each(|cap, data| {
                    for out in data.drain(..) {
                        match out {
                            KeyedOut::Immediate(e) => output.session(&cap).give(Emission::Error(e)),
                            KeyedOut::RowError(order, e) => {
                                errors
                                    .entry(*cap.time())
                                    .or_insert_with(|| (cap.retain(output.output_index()), Vec::new()))
                                    .1
                                    .push((order, e));
                            }
                            KeyedOut::Window { end, groups, error } => {
                                let c = collected.entry(end).or_default();
                                if c.groups.is_empty() {
                                    c.groups = groups;
                                } else {
                                    c.groups.extend(groups);
                                }
                                if let Some((p, o, e)) = error {
                                    c.fail(p, o, e);
                                }
                            }
                            KeyedOut::Projected { end, groups, orders, rows, error } => {
                                let c = collected.entry(end).or_default();
                                c.projected_groups += groups;
                                if !rows.is_empty() {
                                    c.parts.push((orders, rows));
                                }
                                if let Some((p, o, e)) = error {
                                    c.fail(p, o, e);
                                }
                            }
                            KeyedOut::Partials { end, groups, error } => {
                                let c = collected.entry(end).or_default();
                                for g in groups {
                                    c.merge(&ops, g);
                                }
                                if let Some((p, o, e)) = error {
                                    c.fail(p, o, e);
                                }
                            }
                        }
                    }
                });
                let front = keyed_front.frontier().iter().chain(align_front.frontier().iter()).min().copied();
                let Some(front) = front else {
                    hold = None;
                    errors.clear();
                    collected.clear();
                    return;
                };
                let Some(x) = x else { return };
                loop {
                    let next_error = errors.first_key_value().map(|(t, _)| *t).filter(|t| *t < front);
                    let deadline = next_end.filter(|d| time::of_ms(*d) <= front);
                    let d = match (next_error, deadline) {
                        (None, None) => break,
                        (Some(t), Some(d)) if time::of_ms(d) <= t => d,
                        (None, Some(d)) => d,
                        (Some(_), _) => {
                            if let Some((_, (cap, mut errs))) = errors.pop_first() {
                                errs.sort_by_key(|(o, _)| *o);
                                output.session(&cap).give_iterator(errs.into_iter().map(|(_, e)| Emission::Error(e)));
                            }
                            continue;
                        }
                    };
                    {
                        let mut c = collected.remove(&d).unwrap_or_default();
                        c.finish_merged(&ops);
                        let Collected { mut groups, error, projected_groups, parts, .. } = c;
                        let emission = if let Some((_, _, e)) = error {
                            Some(Emission::Error(e))
                        } else if groups.is_empty() && projected_groups == 0 && firing.post_filter {
                            None
                        } else if firing.projected {
                            Some(Emission::Rows(merge_in_order(parts)))
                        } else {
                            groups.sort_by_key(|(o, _, _)| *o);
                            emit(groups, Some(clock.range(x, d)))
                        };
                        if let (Some(e), Some(cap)) = (emission, hold.as_ref()) {
                            output.session(cap).give(e);
                        }
                        let next = d + clock.hop;
                        next_end = Some(next);
                        if let Some(h) = hold.as_mut()
                            && *h.time() < time::of_ms(next)
                        {
                            h.downgrade(&time::of_ms(next));
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_keys_hash_is_the_same_from_its_text_or_its_inline_words() {
        let texts: Vec<String> = (0..=40)
            .map(|n| (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect())
            .chain(["d7".into(), "\u{e9}t\u{e9}-\u{1f600}".into(), "with \"quote\"".into(), "a\0".into()])
            .collect();
        let mut seen = std::collections::HashSet::new();
        for text in &texts {
            let hash = string_key_hash(text.as_bytes());
            assert!(seen.insert(hash), "{text:?} hashes like another text");
            // The inline form's words give the same hash (the route's path).
            let held = crate::inline_str::Str::from(text.as_str());
            match held.inline_words() {
                Some((lo, hi, n)) => assert_eq!(short_string_key_hash(lo, hi, n), hash, "{text:?} inline"),
                None => assert!(text.len() > SHORT_KEY_MAX, "{text:?} is held inline"),
            }
        }
        // Trailing NULs count (the words are zero-padded; the length tells).
        assert_ne!(string_key_hash(b"a"), string_key_hash(b"a\0"));
    }

    /// The workload's device ids (and ids of other shapes and lengths) spread
    /// over 2, 3 and 4 workers as a uniform draw would.
    #[test]
    fn string_keys_spread_evenly_over_the_workers() {
        let shapes: [fn(u32) -> String; 4] = [
            |k| format!("d{k}"),
            |k| format!("device-{k:06}"),
            |k| format!("sensor/{k}/temperature"),
            |k| format!("{k:08x}"),
        ];
        for (s, shape) in shapes.iter().enumerate() {
            for keys in [1_000u32, 10_000] {
                for peers in [2u64, 3, 4] {
                    let mut per = vec![0u32; peers as usize];
                    for k in 0..keys {
                        per[KeyPlacement::by_hash(peers as usize).of(string_key_hash(shape(k).as_bytes())) as usize] +=
                            1;
                    }
                    // Within 4 standard deviations of a uniform draw.
                    let p = 1.0 / peers as f64;
                    let (even, sigma) = (f64::from(keys) * p, (f64::from(keys) * p * (1.0 - p)).sqrt());
                    for (w, n) in per.iter().enumerate() {
                        assert!(
                            (f64::from(*n) - even).abs() <= 4.0 * sigma,
                            "shape {s}, {keys} keys on {peers}: worker {w} has {n} (uniform: {even:.0} ± {sigma:.0})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn groups_project_apart_unless_the_window_needs_them_together() {
        let def = oort_compiler::parse_stream_ddl(
            r#"CREATE STREAM demo (deviceId STRING, v BIGINT) WITH (DATASOURCE="d", FORMAT="JSON")"#,
        )
        .expect("parses");
        let streams = std::collections::BTreeMap::from([(def.name.clone(), def)]);
        let window = "FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)";
        for (select, tail, apart) in [
            ("deviceId, count(*) AS c, window_end() AS we", "", true),
            ("deviceId, count(*) AS c", " HAVING count(*) > 1", false),
            ("deviceId, count(*) AS c", " ORDER BY c", false),
            ("deviceId, row_number() AS r", "", false),
            ("deviceId, LAST_AGG_HIT_COUNT() AS h", "", false),
            ("deviceId, last_hit_time() AS h", "", false),
            ("deviceId, delay(10, count(*)) AS c", "", false),
        ] {
            let sql = format!("SELECT {select} {window}{tail}");
            let plan = Arc::new(oort_compiler::compile_rule(&sql, &streams, Default::default()).expect("compiles"));
            let shape = PlanShape::of(&plan).expect("shape");
            assert_eq!(GroupQuery::new(plan.clone(), &shape).projects_groups_apart(), apart, "{sql}");
        }
    }

    #[test]
    fn the_workers_rows_of_a_window_are_merged_in_their_groups_order() {
        let at = |t: u64, src: u32| (time::of_ms(t), src, t);
        let row = |name: &str| vec![(Arc::from("d"), Value::str(name))];
        let part = |items: &[(u64, u32, &str)]| {
            let orders = items.iter().map(|(t, s, _)| at(*t, *s)).collect();
            (orders, items.iter().map(|(_, _, n)| row(n)).collect())
        };
        let cases: Vec<(Vec<ProjectedPart>, Vec<&str>)> = vec![
            (vec![], vec![]),
            (vec![part(&[]), part(&[(5, 1, "a"), (9, 1, "b")])], vec!["a", "b"]),
            (vec![part(&[(1, 0, "a"), (4, 0, "c")]), part(&[(2, 1, "b"), (7, 1, "d")])], vec!["a", "b", "c", "d"]),
            // One group's several rows (unnest) share its order and stay together.
            (
                vec![part(&[(3, 0, "x1"), (3, 0, "x2")]), part(&[(1, 1, "a"), (8, 1, "z")]), part(&[(2, 2, "b")])],
                vec!["a", "b", "x1", "x2", "z"],
            ),
        ];
        for (parts, want) in cases {
            let got: Vec<OutRow> = merge_in_order(parts);
            assert_eq!(got, want.iter().map(|n| row(n)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_short_word_loads_as_its_bytes_zero_padded() {
        let bytes: Vec<u8> = (1..=8).map(|i| i * 17).collect();
        for n in 0..=8 {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(load_short(&bytes[..n]), u64::from_le_bytes(padded), "{n} bytes");
        }
    }

    #[test]
    fn tumbling_rows_go_to_the_first_end_past_their_time() {
        let c = Clock::new(&WindowKind::Tumbling { size_ms: 10_000 }, TimeUnit::Second, true).expect("clock");
        let x = 1_700_000_000_000;
        let end0 = c.first_end(x);
        let mut out = Vec::new();
        c.windows_of(x, time::of_ms(x), x, &mut out);
        assert_eq!(out, vec![end0]);
        out.clear();
        c.windows_of(x, time::of_ms(end0), end0, &mut out);
        assert_eq!(out, vec![end0 + 10_000]);
        assert_eq!(c.range(x, end0), (x, end0));
        assert_eq!(c.range(x, end0 + 10_000), (end0, end0 + 10_000));
    }

    #[test]
    fn hopping_rows_belong_to_every_window_covering_them() {
        let c =
            Clock::new(&WindowKind::Hopping { size_ms: 10_000, hop_ms: 5_000 }, TimeUnit::Second, true).expect("clock");
        let x = 1_700_000_000_000;
        let end0 = c.first_end(x);
        let mut out = Vec::new();
        let ts = end0 + 1_000;
        c.windows_of(x, time::of_ms(ts), ts, &mut out);
        assert_eq!(out, vec![end0 + 5_000, end0 + 10_000]);
    }

    /// Puts each key in `keys` into window `end` of `table`, as a folded row would.
    fn fill(table: &mut GroupTable, end: u64, keys: std::ops::Range<u32>) -> WindowAcc {
        let mut w = WindowAcc::default();
        for k in keys {
            let id = table.slot_of(&k.to_le_bytes());
            let first = ((time::of_ms(end), 0, u64::from(k)), Row::default());
            table.state(id, end, &mut w, |_| GroupAcc { first, accs: Vec::new() });
        }
        w
    }

    /// Closes window `end` of `table` as the folder does.
    fn close(table: &mut GroupTable, end: u64, w: WindowAcc) -> usize {
        let mut n = 0;
        for id in w.members {
            if let Some((_, g)) = table.take(id, end) {
                table.recycle(g.accs);
                n += 1;
            }
        }
        table.sweep(end);
        n
    }

    #[test]
    fn group_table_keeps_returning_keys_and_forgets_absent_ones() {
        let mut t = GroupTable::default();
        // Two overlapping windows share the keys' slots.
        let w10 = fill(&mut t, 10, 0..3000);
        let w20 = fill(&mut t, 20, 1000..3000);
        assert_eq!(t.index.len(), 3000);
        assert_eq!(t.slots[t.index[&1500u32.to_le_bytes()[..]] as usize].states.len(), 2);
        assert_eq!(close(&mut t, 10, w10), 3000);
        // Keys 0..1000 are idle but had a row in window 10: kept.
        assert_eq!((t.index.len(), t.idle), (3000, 1000));
        let w30 = fill(&mut t, 30, 2000..4000);
        assert_eq!(close(&mut t, 20, w20), 2000);
        // Idle now: 0..2000 (3000.. has window 30); 0..1000 had no row in window 20.
        assert_eq!(t.index.len(), 3000);
        assert!(!t.index.contains_key(&5u32.to_le_bytes()[..]));
        assert!(t.index.contains_key(&1500u32.to_le_bytes()[..]));
        assert_eq!(t.idle, 1000);
        // Forgotten slots are reused for new keys.
        let w40 = fill(&mut t, 40, 5000..5500);
        assert_eq!(t.slots.len(), 4000);
        assert_eq!(close(&mut t, 30, w30), 2000);
        assert_eq!(close(&mut t, 40, w40), 500);
        // Keys idle since before window 40 are forgotten once more than 1,024 are idle.
        assert_eq!(t.index.len(), 500);
        assert_eq!(t.idle, 500);
    }
}
