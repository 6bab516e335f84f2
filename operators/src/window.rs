//! Windows, joins and everything above them: the rows of a rule's inputs are
//! collected into windows, joined, then WHERE, GROUP BY with aggregates,
//! HAVING, ORDER BY and the SELECT list run once per window firing.
//!
//! ```text
//!  input 0 ─┐ tag with                 WindowOperator                  GroupQuery
//!  input 1 ─┼─► input index ─► exchange ─► (rows in time order,  ─► (join, where, group,  ─► emissions
//!  table  ──┘   + concatenate   (worker 0)  deadlines as          aggregate, having,
//!                                            capabilities)         sort, project)
//! ```
//!
//! Tumbling and hopping windows with GROUP BY keys and plain aggregates over
//! one stream take the keyed parallel path of [`crate::keyed`] (rows
//! exchanged by key hash, per-(window, key) accumulators on every worker,
//! one merged emission per window on worker 0). Everything else runs here,
//! on worker 0:
//!
//! The [`WindowOperator`](window_operator) is one frontier-driven timely
//! operator for every window kind. Rows wait until the input frontier has
//! passed their time, then enter the kind's state machine
//! ([`crate::window_kinds`]) in time order, interleaved with the kind's
//! deadlines: a deadline `d` fires once the frontier reaches `time::of_ms(d)`,
//! before any row of that millisecond. So a window closes when the clock
//! (processing time) or the watermark (event time) reaches its end, and
//! nothing but the frontier drives it. The operator holds one capability at
//! the next deadline (or at the frontier while an event-time session waits
//! for the watermark) and drops it when nothing is pending, and one at the
//! earliest row still waiting (not one per waiting time); a fired window's
//! rows are handed on and dropped.
//!
//! Processing-time rows are timed by their arrival; event-time rows by their
//! event time (the driver advances the inputs to `of_ms(watermark) + 1`, so
//! every row at or before the watermark is released, as eKuiper's watermark
//! operator does). Table inputs never enter a window: they update a
//! [`TableStore`] whose rows are appended to each pane (and a stream–table
//! join without a window makes one pane per stream row).
//!
//! Where the WHERE clause runs follows eKuiper's planner: for processing-time
//! tumbling, hopping and session windows over one stream it is pushed below
//! the window (a failing row is reported at once, the window fires without
//! it, and a window left empty emits `[]`); otherwise it runs on the fired
//! window, and a window whose rows all fail it emits nothing. Errors are
//! always emitted as [`Emission::Error`].

use crate::eval::{Evaluator, GroupContext};
use crate::functions::{self, Accumulator};
use crate::join::{JoinStep, TableStore, join_pane};
use crate::key_placement::KeyPlacement;
use crate::plan_exprs::has_aggregate;
use crate::query::{Emission, OutRow, Projector, RenderError, where_error};
use crate::render::{EmissionStream, ItemStream, Stream};
use crate::source::Item;
use crate::time::{self, Time};
use crate::value::{Row, Value};
pub use crate::window_kinds::{Entry, Memo, WindowEvent, WindowPane};
use crate::window_kinds::{RowPanes, RowSignals, WindowKindState, new_state};
use oort_compiler::plan::{
    AggregateCall, LogicalPlan, ProjectItem, RulePlan, ScalarExpr, SortKey, WindowKind, WindowSpec,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, Concatenate};

/// An item tagged with the index of the rule input it came from.
pub type Sourced = (usize, Item);

/// Renders a windowed or joined plan; `keys` places the GROUP BY keys of a
/// plan on the keyed path ([`crate::keyed::render`]).
pub fn render<'s>(
    scope: Scope<'s, Time>,
    plan: &Arc<RulePlan>,
    inputs: Vec<ItemStream<'s>>,
    keys: Option<Arc<KeyPlacement>>,
) -> Result<EmissionStream<'s>, RenderError> {
    let shape = PlanShape::of(plan)?;
    if inputs.len() == 1 && crate::keyed::eligible(plan, &shape) {
        let Some(input) = inputs.into_iter().next() else {
            return Err(RenderError::Unsupported("a rule without input".into()));
        };
        return crate::keyed::render(scope, plan, &shape, input, keys);
    }
    let tables = TableStore::new(plan);
    let event_time = plan.options.is_event_time;
    let state: Box<dyn WindowKindState> = match &shape.window {
        Some(spec) => new_state(&spec.kind, spec.unit, event_time).map_err(RenderError::Unsupported)?,
        None if !shape.joins.is_empty() && tables.has_tables() => Box::new(RowPanes),
        None if !shape.joins.is_empty() => {
            return Err(RenderError::Unsupported(
                "a time window or count window is required to join multiple streams".into(),
            ));
        }
        None => return Err(RenderError::Unsupported("aggregation without a window".into())),
    };
    let pushed_where = shape.where_below_window(event_time);
    let tagged: Vec<Stream<'s, Time, Vec<Sourced>>> =
        inputs.into_iter().enumerate().map(|(i, s)| s.map(move |item| (i, item))).collect();
    let merged = scope.concatenate(tagged);
    let admission = Admission::new(plan.clone(), &shape, pushed_where);
    let events = window_operator(merged, state, admission, tables, event_time);
    let mut query = GroupQuery::new(plan.clone(), &shape);
    if pushed_where {
        query.shape.filter = None;
    }
    Ok(events.unary::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(Pipeline, "GroupQuery", move |_c, _i| {
        move |input, output| {
            input.for_each(|cap, data| {
                let mut session = output.session(&cap);
                for event in data.drain(..) {
                    let emission = match event {
                        WindowEvent::Pane(pane) => query.process(pane),
                        WindowEvent::Error(e) => Some(Emission::Error(e)),
                    };
                    if let Some(e) = emission {
                        session.give(e);
                    }
                }
            });
        }
    }))
}

/// The parts of a windowed or joined plan, top to bottom.
#[derive(Debug, Clone, Default)]
pub struct PlanShape {
    /// The window (`None` for a stream–table join without one).
    pub window: Option<WindowSpec>,
    /// The FROM input of the join chain.
    pub from: usize,
    /// The joins, left-deep, in SQL order.
    pub joins: Vec<JoinStep>,
    /// WHERE.
    pub filter: Option<ScalarExpr>,
    /// GROUP BY keys and aggregates (when the query aggregates).
    pub aggregate: Option<(Vec<ScalarExpr>, Vec<AggregateCall>)>,
    /// HAVING.
    pub having: Option<ScalarExpr>,
    /// ORDER BY.
    pub sort: Vec<SortKey>,
    /// SELECT list.
    pub items: Vec<ProjectItem>,
}

impl PlanShape {
    /// Reads the shape of a windowed or joined plan.
    pub fn of(plan: &RulePlan) -> Result<Self, RenderError> {
        let mut shape = PlanShape::default();
        let mut node = &plan.root;
        let mut having_pending = plan.has_having;
        loop {
            match node {
                LogicalPlan::Project { input, items } => {
                    shape.items = items.clone();
                    node = input;
                }
                LogicalPlan::Sort { input, keys } => {
                    shape.sort = keys.clone();
                    node = input;
                }
                LogicalPlan::Filter { input, predicate } => {
                    // The topmost filter is HAVING when the query has one
                    // (older plans: when it sits on the aggregation).
                    let is_having = having_pending
                        || (shape.aggregate.is_none() && matches!(**input, LogicalPlan::Aggregate { .. }));
                    if is_having && shape.having.is_none() {
                        shape.having = Some(predicate.clone());
                    } else {
                        shape.filter = Some(predicate.clone());
                    }
                    having_pending = false;
                    node = input;
                }
                LogicalPlan::Aggregate { input, group_by, aggregates } => {
                    shape.aggregate = Some((group_by.clone(), aggregates.clone()));
                    node = input;
                }
                LogicalPlan::Window { input, spec } => {
                    shape.window = Some(spec.clone());
                    node = input;
                }
                LogicalPlan::Join { left, right, kind, on } => {
                    shape.joins.push(JoinStep { right: *right, kind: *kind, on: on.clone() });
                    node = left;
                }
                LogicalPlan::Scan { source } => {
                    shape.from = *source;
                    shape.joins.reverse();
                    return Ok(shape);
                }
            }
        }
    }

    /// Whether WHERE runs on each row before the window (eKuiper pushes it
    /// down for processing-time tumbling, hopping and session windows).
    pub fn where_below_window(&self, event_time: bool) -> bool {
        let Some(w) = &self.window else { return false };
        !event_time
            && self.joins.is_empty()
            && self.filter.as_ref().is_some_and(|f| !has_aggregate(f))
            && matches!(w.kind, WindowKind::Tumbling { .. } | WindowKind::Hopping { .. } | WindowKind::Session { .. })
    }
}

/// What happens to a row before it enters a window: analytic functions are
/// stepped (once per row), the pushed-down WHERE and the window's
/// `FILTER (WHERE …)` applied, and the signals its kind needs evaluated.
pub struct Admission {
    ev: Evaluator,
    pushed_where: Option<ScalarExpr>,
    filter: Option<ScalarExpr>,
    trigger: Option<ScalarExpr>,
    state_conditions: Option<(ScalarExpr, ScalarExpr)>,
}

impl Admission {
    /// The admission of `shape`'s window (`pushed_where`: WHERE runs here).
    pub fn new(plan: Arc<RulePlan>, shape: &PlanShape, pushed_where: bool) -> Self {
        let spec = shape.window.as_ref();
        Self {
            ev: Evaluator::new(plan),
            pushed_where: if pushed_where { shape.filter.clone() } else { None },
            filter: spec.and_then(|w| w.filter.clone()),
            trigger: spec.and_then(|w| w.trigger.clone()),
            state_conditions: spec.and_then(|w| match &w.kind {
                WindowKind::State { begin, end } => Some((begin.clone(), end.clone())),
                _ => None,
            }),
        }
    }

    /// Admits a row: `Ok(None)` when a filter drops it, `Err` for an error to emit.
    pub fn admit(&mut self, source: usize, row: Row) -> Result<Option<(Entry, RowSignals)>, Arc<str>> {
        let g = GroupContext::default();
        self.ev.begin_row(&row, g).map_err(|e| where_error(&e))?;
        let memo = self.ev.memo_snapshot();
        for cond in [&self.pushed_where, &self.filter].into_iter().flatten() {
            if !self.ev.eval_condition(cond, &row, g).map_err(|e| where_error(&e))? {
                return Ok(None);
            }
        }
        let mut signals = RowSignals { trigger: true, ..RowSignals::default() };
        if let Some(t) = &self.trigger {
            // eKuiper: a trigger that fails to evaluate does not fire; the
            // implicit state (`last_hit_time()`) moves only when it fires.
            signals.trigger = self.ev.eval_condition(t, &row, g).unwrap_or(false);
            if signals.trigger {
                self.ev.hits.hit_count += 1;
                self.ev.hits.hit_time = row.ts as i64;
            }
            self.ev.restore_memo(&memo);
        }
        if let Some((begin, end)) = &self.state_conditions {
            signals.begin = self.ev.eval_condition(begin, &row, g).unwrap_or(false);
            signals.end = self.ev.eval_condition(end, &row, g).unwrap_or(false);
        }
        Ok(Some((Entry { source, row, memo }, signals)))
    }
}

/// Rows waiting for the frontier to pass their time: kept in arrival order
/// and put in time order (stably, so arrival order holds within a time)
/// before any is taken. Rows mostly come in time order, so this seldom
/// sorts, and a row costs a push rather than an ordered map's entry (an
/// event-time row is nearly always a millisecond of its own).
#[derive(Default)]
struct Pending {
    rows: VecDeque<(Time, usize, Row)>,
    /// Some row came before one of a later time.
    unsorted: bool,
}

impl Pending {
    fn push(&mut self, at: Time, source: usize, row: Row) {
        if self.rows.back().is_some_and(|(t, ..)| *t > at) {
            self.unsorted = true;
        }
        self.rows.push_back((at, source, row));
    }

    /// The earliest pending time.
    fn first_time(&mut self) -> Option<Time> {
        if self.unsorted {
            self.rows.make_contiguous().sort_by_key(|(t, ..)| *t);
            self.unsorted = false;
        }
        self.rows.front().map(|(t, ..)| *t)
    }

    /// The next row of time `t` ([`Pending::first_time`] first).
    fn pop_at(&mut self, t: Time) -> Option<(usize, Row)> {
        if self.rows.front().is_some_and(|(at, ..)| *at == t) {
            self.rows.pop_front().map(|(_, source, row)| (source, row))
        } else {
            None
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.unsorted = false;
    }
}

/// Ensures `hold` is a capability at or before `at` (taken from the input
/// capability `cap`): one capability covers all of an operator's pending
/// rows. A capability per pending time cost timely's progress tracking a
/// change to sort and an antichain to rebuild for nearly every event-time
/// row (each row its own millisecond): over half of a windowed join's CPU.
fn cover(hold: &mut Option<Capability<Time>>, at: Time, make: impl FnOnce(&Time) -> Capability<Time>) {
    if hold.as_ref().is_none_or(|h| *h.time() > at) {
        *hold = Some(make(&at));
    }
}

/// Moves `hold` up to `first`, the earliest pending time, once rows have
/// left (done once per activation, not per time released); drops it when
/// nothing waits.
fn follow(hold: &mut Option<Capability<Time>>, first: Option<Time>) {
    match (first, hold.as_mut()) {
        (None, _) => *hold = None,
        (Some(t), Some(h)) if *h.time() < t => h.downgrade(&t),
        _ => {}
    }
}

/// The window operator: rows in time order through the kind's state machine,
/// deadlines fired when the frontier reaches them, tables kept beside.
fn window_operator<'s>(
    items: Stream<'s, Time, Vec<Sourced>>,
    mut state: Box<dyn WindowKindState>,
    mut admission: Admission,
    mut tables: TableStore,
    event_time: bool,
) -> Stream<'s, Time, Vec<WindowEvent>> {
    items.unary_frontier::<CapacityContainerBuilder<Vec<WindowEvent>>, _, _, _>(
        ExchangePact::new(|_: &Sourced| 0u64),
        "Window",
        move |initial, _info| {
            // Held until the rule's start is known (processing-time kinds), then
            // at the next deadline; `None` when nothing is pending.
            let mut hold: Option<Capability<Time>> = state.needs_start().then_some(initial);
            let mut started = !state.needs_start();
            let mut pending = Pending::default();
            // At or before the earliest pending row's time while any waits.
            let mut rows_hold: Option<Capability<Time>> = None;
            let mut panes = Vec::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (source, item) in data.drain(..) {
                        match item {
                            Item::Error(e) => output.session(&cap).give(WindowEvent::Error(e)),
                            Item::Row(row) => {
                                let at = if event_time && !tables.is_table(source) {
                                    time::of_ms(row.ts).max(*cap.time())
                                } else {
                                    *cap.time()
                                };
                                cover(&mut rows_hold, at, |t| cap.delayed(t, output.output_index()));
                                pending.push(at, source, row);
                            }
                        }
                    }
                });
                // The input closed: the rule stops; nothing is flushed.
                let Some(front) = frontier.frontier().iter().min().copied() else {
                    hold = None;
                    rows_hold = None;
                    pending.clear();
                    return;
                };
                if !started && front > 0 {
                    state.start(time::to_ms(front));
                    started = true;
                    retarget(&mut hold, None, state.as_ref(), front);
                }
                if !started {
                    return;
                }
                loop {
                    let next_row = pending.first_time().filter(|t| *t < front);
                    // A due deadline fires before the rows of its millisecond and later ones.
                    let deadline = state
                        .next_deadline()
                        .filter(|d| time::of_ms(*d) <= front && next_row.is_none_or(|t| time::of_ms(*d) <= t));
                    match (next_row, deadline) {
                        (None, None) => break,
                        (Some(_), None) => {
                            let held = rows_hold.as_ref();
                            if let Some((cap, events)) = run_rows(
                                &mut pending,
                                held,
                                &mut admission,
                                &mut tables,
                                state.as_mut(),
                                &mut hold,
                                front,
                            ) {
                                output.session(cap).give_iterator(events.into_iter());
                            }
                        }
                        (_, Some(d)) => {
                            state.on_deadline(d, &mut panes);
                            let events = pane_events(&mut panes, &tables);
                            if let Some(cap) = &hold {
                                output.session(cap).give_iterator(events.into_iter());
                            }
                            retarget(&mut hold, None, state.as_ref(), front);
                        }
                    }
                }
                if event_time && state.wants_watermark() {
                    state.on_watermark(time::to_ms(front.saturating_sub(1)), &mut panes);
                    let events = pane_events(&mut panes, &tables);
                    if let Some(cap) = &hold {
                        output.session(cap).give_iterator(events.into_iter());
                    }
                }
                retarget(&mut hold, None, state.as_ref(), front);
                follow(&mut rows_hold, pending.first_time());
            }
        },
    )
}

/// Processes the earliest batch of pending rows: the capability to emit at
/// (`rows_hold`, which covers them) and what to emit.
fn run_rows<'c>(
    pending: &mut Pending,
    rows_hold: Option<&'c Capability<Time>>,
    admission: &mut Admission,
    tables: &mut TableStore,
    state: &mut dyn WindowKindState,
    hold: &mut Option<Capability<Time>>,
    front: Time,
) -> Option<(&'c Capability<Time>, Vec<WindowEvent>)> {
    let cap = rows_hold?;
    let t = pending.first_time()?;
    let mut events = Vec::new();
    let mut panes = Vec::new();
    while let Some((source, row)) = pending.pop_at(t) {
        if tables.is_table(source) {
            tables.update(Entry { source, row, memo: Vec::new() });
            continue;
        }
        match admission.admit(source, row) {
            Ok(Some((entry, signals))) => state.on_row(entry, signals, &mut panes),
            Ok(None) => {}
            Err(e) => events.push(WindowEvent::Error(e)),
        }
        if !panes.is_empty() {
            events.extend(pane_events(&mut panes, tables));
        }
    }
    retarget(hold, Some(cap), state, front);
    Some((cap, events))
}

/// Fired panes as events, each with the current rows of the joined tables appended.
fn pane_events(panes: &mut Vec<WindowPane>, tables: &TableStore) -> Vec<WindowEvent> {
    panes
        .drain(..)
        .map(|mut pane| {
            pane.rows.extend(tables.rows().cloned());
            WindowEvent::Pane(pane)
        })
        .collect()
}

/// Moves the held capability to where the next emission can happen: the next
/// deadline, or the frontier while an event-time session waits for the
/// watermark; drops it when nothing is pending. `row_cap` (the capability of
/// the rows just processed) provides one when none is held or the held one is late.
fn retarget(
    hold: &mut Option<Capability<Time>>,
    row_cap: Option<&Capability<Time>>,
    state: &dyn WindowKindState,
    front: Time,
) {
    let want = match state.next_deadline() {
        Some(d) => Some(time::of_ms(d)),
        None if state.wants_watermark() => Some(front),
        None => None,
    };
    let Some(want) = want else {
        *hold = None;
        return;
    };
    match hold {
        // Timely's `downgrade` makes a new capability and drops the old one
        // even to the same time: two progress changes for nothing, and this
        // runs for every released time.
        Some(h) if *h.time() == want => {}
        Some(h) if *h.time() < want => h.downgrade(&want),
        _ => {
            if let Some(c) = row_cap {
                *hold = Some(c.delayed(&want.max(*c.time())));
            }
        }
    }
}

/// A group of rows with the same GROUP BY key inside one window.
pub(crate) struct Group {
    rows: Vec<(Row, Memo)>,
    accs: Vec<Box<dyn Accumulator>>,
    aggregates: Vec<Value>,
}

impl Group {
    /// A group known by its first row and its finished aggregates (the keyed path).
    pub(crate) fn finished(first: Row, aggregates: Vec<Value>) -> Self {
        Self { rows: vec![(first, Vec::new())], accs: Vec::new(), aggregates }
    }
}

/// WHERE, GROUP BY, aggregates, HAVING, ORDER BY and SELECT over one window pane.
pub struct GroupQuery {
    ev: Evaluator,
    shape: PlanShape,
    projector: Projector,
}

/// The rows of a pane after the joins (each with its analytic results).
type Rows = Vec<(Row, Memo)>;

impl GroupQuery {
    /// Builds the query for a windowed plan of this shape.
    pub fn new(plan: Arc<RulePlan>, shape: &PlanShape) -> Self {
        let projector = Projector::new(&shape.items, plan.options.send_nil_field);
        Self { ev: Evaluator::new(plan), shape: shape.clone(), projector }
    }

    /// The joined rows of a pane: `Err` carries an emission (an error) or
    /// `None` when the join yields nothing (eKuiper's join emits nothing then).
    fn joined(&mut self, pane: WindowPane, base: GroupContext) -> Result<Rows, Option<Emission>> {
        if self.shape.joins.is_empty() {
            return Ok(pane.rows.into_iter().map(|e| (e.row, e.memo)).collect());
        }
        let plan = self.ev.plan().clone();
        let joined = join_pane(&mut self.ev, &plan, self.shape.from, &self.shape.joins, &pane.rows, base);
        // The pane's rows were read, not kept: their slot vectors go back
        // to this thread's decoders.
        for entry in pane.rows {
            crate::value::recycle_slots(entry.row.slots);
        }
        match joined {
            Ok(rows) if rows.is_empty() => Err(None),
            Ok(rows) => Ok(rows),
            Err(e) => Err(Some(Emission::Error(e))),
        }
    }

    /// Evaluates one pane into its emission (`None` when nothing is to be sent).
    pub fn process(&mut self, pane: WindowPane) -> Option<Emission> {
        let window = pane.range;
        let base = GroupContext { window, ..GroupContext::default() };
        let joined = match self.joined(pane, base) {
            Ok(rows) => rows,
            Err(emission) => return emission,
        };
        let rows = match self.shape.filter.clone() {
            None => joined,
            Some(f) => {
                let mut kept = Vec::with_capacity(joined.len());
                for (r, memo) in joined {
                    self.ev.restore_memo(&memo);
                    match self.ev.eval_condition(&f, &r, base) {
                        Ok(true) => kept.push((r, memo)),
                        Ok(false) => {}
                        Err(e) => return self.error(where_error(&e)),
                    }
                }
                // eKuiper's filter passes nothing on when no row meets it.
                if kept.is_empty() {
                    return None;
                }
                kept
            }
        };
        let mut groups: Vec<Group> = Vec::new();
        match &self.shape.aggregate {
            None => {
                for entry in rows {
                    groups.push(Group { rows: vec![entry], accs: Vec::new(), aggregates: Vec::new() });
                }
            }
            Some((keys, aggs)) => {
                let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
                for (r, memo) in rows {
                    self.ev.restore_memo(&memo);
                    let mut key = Vec::new();
                    for k in keys {
                        match self.ev.eval(k, &r, base) {
                            Ok(v) => v.group_key(&mut key),
                            Err(e) => return self.error(Arc::from(format!("run Group By error: {}", e.0))),
                        }
                    }
                    let gi = *index.entry(key).or_insert_with(|| {
                        groups.push(Group {
                            rows: Vec::new(),
                            accs: aggs.iter().map(|a| new_accumulator(a)).collect(),
                            aggregates: Vec::new(),
                        });
                        groups.len() - 1
                    });
                    let g = &mut groups[gi];
                    for (a, acc) in aggs.iter().zip(g.accs.iter_mut()) {
                        if let Some(f) = &a.filter
                            && !self.ev.eval_condition(f, &r, base).unwrap_or(false)
                        {
                            continue;
                        }
                        let mut args = Vec::with_capacity(a.args.len());
                        for x in &a.args {
                            match self.ev.eval(x, &r, base) {
                                Ok(v) => args.push(v),
                                Err(e) => return self.error(Arc::from(format!("run Select error: {}", e.0))),
                            }
                        }
                        if a.name == "deduplicate" && args.len() == 3 {
                            // The binder passes eKuiper's `(*, key, all)`; the
                            // accumulator takes the row last: `(key, all, row)`.
                            args.rotate_left(1);
                        }
                        if let Err(e) = acc.update(&args) {
                            return self.error(Arc::from(format!("run Select error: {e}")));
                        }
                    }
                    g.rows.push((r, memo));
                }
                if groups.is_empty() && keys.is_empty() {
                    // An empty window: `[]`, unless HAVING is there to reject it.
                    return if self.shape.having.is_some() { None } else { Some(Emission::Rows(Vec::new())) };
                }
                for g in &mut groups {
                    let mut values = Vec::with_capacity(g.accs.len());
                    for acc in &g.accs {
                        match acc.finish() {
                            Ok(v) => values.push(v),
                            Err(e) => return self.error(Arc::from(format!("run Select error: {e}"))),
                        }
                    }
                    g.aggregates = values;
                }
            }
        }
        self.emit_groups(groups, window)
    }

    /// [`emit_groups`](Self::emit_groups) for groups known by their first
    /// row and finished aggregates (the keyed path), in this order; the
    /// first element of each is ignored. Without HAVING and ORDER BY the
    /// groups are projected as they are, and their first rows' slot vectors
    /// go back to this thread's decoders.
    pub(crate) fn emit_finished<O>(
        &mut self,
        groups: Vec<(O, Row, Vec<Value>)>,
        window: Option<(u64, u64)>,
    ) -> Option<Emission> {
        if self.shape.having.is_some() || !self.shape.sort.is_empty() {
            let groups = groups.into_iter().map(|(_, row, values)| Group::finished(row, values)).collect();
            return self.emit_groups(groups, window);
        }
        let emission = self.project_groups(
            groups.len(),
            groups.iter().map(|(_, first, aggregates)| Some((first, &[][..], aggregates.as_slice()))),
            window,
        );
        for (_, first, _) in groups {
            crate::value::recycle_slots(first.slots);
        }
        emission
    }

    /// Whether each finished group's SELECT can run apart from the window's
    /// other groups (on the worker that folded it): no HAVING or ORDER BY
    /// over the window's groups, and no call that reads the emission's state
    /// (`row_number`, `last_hit_*`, `last_agg_hit_*`) or delays it (`delay`).
    pub(crate) fn projects_groups_apart(&self) -> bool {
        if self.shape.having.is_some() || !self.shape.sort.is_empty() || self.ev.has_analytics() {
            return false;
        }
        !crate::plan_walk::calls_any(&self.ev.plan().root, |name| {
            name == "row_number" || name == "delay" || crate::plan_walk::is_hit_counter(name)
        })
    }

    /// SELECT over one finished group (its first row and finished
    /// aggregates), appending its rows to `out`; for plans that
    /// [project groups apart](Self::projects_groups_apart).
    pub(crate) fn project_group(
        &mut self,
        first: &Row,
        aggregates: &[Value],
        window: Option<(u64, u64)>,
        out: &mut Vec<OutRow>,
    ) -> Result<(), Arc<str>> {
        let end = window.map(|w| w.1);
        self.ev.next_row();
        let ctx = group_context(aggregates, window, self.shape.aggregate.is_some(), end);
        self.projector.project_into(&mut self.ev, first, ctx, out)
    }

    /// HAVING, ORDER BY and SELECT over the groups of one window (in their
    /// first-row order), then the `last_agg_hit_*` counters.
    pub(crate) fn emit_groups(&mut self, mut groups: Vec<Group>, window: Option<(u64, u64)>) -> Option<Emission> {
        let end = window.map(|w| w.1);
        let aggregated = self.shape.aggregate.is_some();
        if let Some(h) = self.shape.having.clone() {
            let mut kept = Vec::with_capacity(groups.len());
            for g in groups {
                let Some((first, memo)) = g.rows.first() else { continue };
                self.ev.restore_memo(memo);
                match self.ev.eval_condition(&h, first, group_context(&g.aggregates, window, aggregated, end)) {
                    Ok(true) => kept.push(g),
                    Ok(false) => {}
                    Err(e) => return self.error(Arc::from(format!("run Having error: {}", e.0))),
                }
            }
            // Like WHERE, a HAVING that no group meets passes nothing on.
            if kept.is_empty() {
                return None;
            }
            groups = kept;
        }
        if !self.shape.sort.is_empty() {
            let mut keyed = Vec::with_capacity(groups.len());
            for g in groups {
                let mut k = Vec::with_capacity(self.shape.sort.len());
                if let Some((first, memo)) = g.rows.first() {
                    self.ev.restore_memo(memo);
                    for s in &self.shape.sort {
                        k.push(
                            self.ev
                                .eval(&s.expr, first, group_context(&g.aggregates, window, aggregated, end))
                                .unwrap_or(Value::Null),
                        );
                    }
                }
                keyed.push((k, g));
            }
            let sort = self.shape.sort.clone();
            let mut failure: Option<String> = None;
            let mut keyed: Vec<(usize, Vec<Value>, Group)> =
                keyed.into_iter().enumerate().map(|(i, (k, g))| (i, k, g)).collect();
            keyed.sort_by(|(ia, a, _), (ib, b, _)| {
                for (i, s) in sort.iter().enumerate() {
                    // An error names the types in row order, whichever way the sort compares.
                    let (first, second) = if ia <= ib { (&a[i], &b[i]) } else { (&b[i], &a[i]) };
                    let o = match order_cmp(first, second) {
                        Ok(o) if ia <= ib => o,
                        Ok(o) => o.reverse(),
                        Err(e) => {
                            failure.get_or_insert(e);
                            std::cmp::Ordering::Equal
                        }
                    };
                    let o = if s.descending { o.reverse() } else { o };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
            if let Some(e) = failure {
                return self.error(Arc::from(format!("run Order By error: {e}")));
            }
            groups = keyed.into_iter().map(|(_, _, g)| g).collect();
        }
        let firsts = groups
            .iter()
            .map(|g| g.rows.first().map(|(first, memo)| (first, memo.as_slice(), g.aggregates.as_slice())));
        self.project_groups(groups.len(), firsts, window)
    }

    /// SELECT over the groups of one window, each as its first row, that
    /// row's memo and its aggregates (`None`: a group without rows, skipped
    /// but counted by `row_number()`), then the `last_agg_hit_*` counters,
    /// which count the groups emitted by an aggregating or HAVING query.
    fn project_groups<'g>(
        &mut self,
        len: usize,
        groups: impl Iterator<Item = Option<(&'g Row, &'g [(usize, Value)], &'g [Value])>>,
        window: Option<(u64, u64)>,
    ) -> Option<Emission> {
        let end = window.map(|w| w.1);
        let aggregated = self.shape.aggregate.is_some();
        let mut out: Vec<OutRow> = Vec::with_capacity(len);
        crate::functions::other::take_delay();
        for (i, group) in groups.enumerate() {
            let Some((first, memo, aggregates)) = group else { continue };
            self.ev.restore_memo(memo);
            let mut ctx = group_context(aggregates, window, aggregated, end);
            ctx.row_number = i as u64 + 1;
            if let Err(e) = self.projector.project_into(&mut self.ev, first, ctx, &mut out) {
                return self.error(e);
            }
        }
        if (aggregated || self.shape.having.is_some()) && !out.is_empty() {
            self.ev.hits.agg_hit_count += 1;
            self.ev.hits.agg_hit_time = end.unwrap_or(0) as i64;
        }
        Some(Emission::rows(out))
    }

    fn error(&self, e: Arc<str>) -> Option<Emission> {
        Some(Emission::Error(e))
    }
}

fn group_context(
    aggregates: &[Value],
    window: Option<(u64, u64)>,
    aggregated: bool,
    end: Option<u64>,
) -> GroupContext<'_> {
    GroupContext { aggregates, window, row_number: 0, group_time: if aggregated { end } else { None } }
}

/// eKuiper's ORDER BY comparison: numbers with numbers, strings with
/// strings, booleans with booleans; null sorts after any value; other
/// mixtures are an error (`incompatible types for comparison: int and string`).
fn order_cmp(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "map",
        }
    }
    match (a, b) {
        (Value::Null, Value::Null) => Ok(Ordering::Equal),
        (Value::Null, _) => Ok(Ordering::Greater),
        (_, Value::Null) => Ok(Ordering::Less),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => Ok(a.sort_cmp(b)),
        _ if kind(a) == kind(b) => Ok(a.sort_cmp(b)),
        _ => Err(format!("incompatible types for comparison: {} and {}", kind(a), kind(b))),
    }
}

pub(crate) fn new_accumulator(a: &AggregateCall) -> Box<dyn Accumulator> {
    functions::accumulator(&a.name).unwrap_or_else(|| Box::new(Unavailable(a.name.clone())))
}

struct Unavailable(String);

impl Accumulator for Unavailable {
    fn update(&mut self, _args: &[Value]) -> Result<(), String> {
        Err(format!("aggregate function {} is not implemented yet", self.0))
    }
    fn finish(&self) -> Result<Value, String> {
        Err(format!("aggregate function {} is not implemented yet", self.0))
    }
}

/// Releases rows of an event-time, row-at-a-time rule in event-time order as
/// the watermark (the input frontier) passes them.
pub fn event_time_order(items: ItemStream<'_>) -> ItemStream<'_> {
    items.unary_frontier::<CapacityContainerBuilder<Vec<Item>>, _, _, _>(
        ExchangePact::new(|_: &Item| 0u64),
        "EventTimeOrder",
        move |_cap, _info| {
            // By event time: each item's release time and the items.
            let mut pending: BTreeMap<u64, (Time, Vec<Item>)> = BTreeMap::new();
            // At or before every pending item's release time while any waits.
            let mut hold: Option<Capability<Time>> = None;
            move |(input, frontier), output| {
                input.for_each_time(|cap, data| {
                    for batch in data {
                        for item in batch.drain(..) {
                            let ts = match &item {
                                Item::Row(r) => r.ts,
                                Item::Error(_) => time::to_ms(*cap.time()),
                            };
                            // Released once the watermark reaches the row's time.
                            let t = time::of_ms(ts).max(*cap.time());
                            let e = pending.entry(ts).or_insert_with(|| (t, Vec::new()));
                            cover(&mut hold, e.0, |t| cap.delayed(&(*t).max(*cap.time()), output.output_index()));
                            e.1.push(item);
                        }
                    }
                });
                let Some(cap) = hold.as_mut() else { return };
                let mut session = output.session(cap);
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(&entry.get().0) {
                        break;
                    }
                    let (_, (_, items)) = entry.remove_entry();
                    session.give_iterator(items.into_iter());
                }
                drop(session);
                // Up to the earliest event time left: at or before every
                // release time left (a late item's is later, its arrival's).
                match pending.keys().next() {
                    None => hold = None,
                    Some(ts) if *cap.time() < time::of_ms(*ts) => cap.downgrade(&time::of_ms(*ts)),
                    Some(_) => {}
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: u64) -> Row {
        Row { slots: vec![Value::Int(ts as i64)], meta: None, ts }
    }

    /// Takes every pending row, time by time, as `(time, source)`.
    fn drain(p: &mut Pending) -> Vec<(Time, usize)> {
        let mut out = Vec::new();
        while let Some(t) = p.first_time() {
            while let Some((source, _)) = p.pop_at(t) {
                out.push((t, source));
            }
        }
        out
    }

    #[test]
    fn pending_rows_leave_in_time_order_and_in_arrival_order_within_a_time() {
        // (arrival: time, source) → the order they are taken in.
        type Taken = [(Time, usize)];
        let cases: &[(&Taken, &Taken)] = &[
            (&[(1, 0), (2, 1), (3, 0)], &[(1, 0), (2, 1), (3, 0)]),
            (&[(3, 0), (1, 1), (3, 1), (2, 0), (1, 0)], &[(1, 1), (1, 0), (2, 0), (3, 0), (3, 1)]),
            (&[(5, 1), (5, 0), (5, 2)], &[(5, 1), (5, 0), (5, 2)]),
        ];
        for (arrivals, taken) in cases {
            let mut p = Pending::default();
            for &(t, source) in *arrivals {
                p.push(t, source, row(t));
            }
            assert_eq!(drain(&mut p), *taken, "arrivals {arrivals:?}");
        }
    }

    #[test]
    fn a_later_push_goes_into_order_with_what_is_left() {
        let mut p = Pending::default();
        p.push(4, 0, row(4));
        p.push(6, 0, row(6));
        assert_eq!(p.first_time(), Some(4));
        assert!(p.pop_at(4).is_some());
        assert!(p.pop_at(4).is_none(), "only rows of the time asked for");
        p.push(5, 1, row(5));
        assert_eq!(drain(&mut p), vec![(5, 1), (6, 0)]);
        p.push(1, 0, row(1));
        p.clear();
        assert_eq!(p.first_time(), None);
    }
}
