//! Windows and everything above them: WHERE over the window's rows, GROUP BY
//! with aggregates, HAVING, ORDER BY and the SELECT list, one emission per
//! window firing.
//!
//! ```text
//!  items ──► exchange(worker 0) ──► WindowAssigner ──► GroupQuery ──► emissions
//!                                   (capability held     (where, group, aggregate,
//!                                    at each window end)  having, sort, project)
//! ```
//!
//! The assigner is a frontier-driven timely operator: a row is stored in every
//! window it belongs to, each open window holds a capability at
//! `time::of_ms(end)`, and the window fires once the input frontier passes
//! that time — driven by the clock (processing time) or the watermark (event
//! time), never by a timer of our own. A fired window's rows are handed on and
//! its state dropped. A window that received no row emits nothing; a window
//! whose rows were all filtered out by WHERE emits an empty result, as eKuiper does.

use crate::eval::{Evaluator, GroupContext};
use crate::functions::{self, Accumulator};
use crate::query::{Emission, OutRow, Projector, RenderError, where_error};
use crate::render::{EmissionStream, ItemStream};
use crate::source::Item;
use crate::time::{self, Time};
use crate::value::{Row, Value};
use oort_compiler::plan::{AggregateCall, LogicalPlan, ProjectItem, RulePlan, ScalarExpr, SortKey, WindowKind, WindowSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Scope;

/// Analytic-function results computed for one row when it arrived: `(call_id, value)`.
pub type Memo = Vec<(usize, Value)>;

/// The rows of one window firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPane {
    /// Window start, ms.
    pub start: u64,
    /// Window end, ms.
    pub end: u64,
    /// Rows (or errors) in arrival order, each with its analytic results.
    pub items: Vec<(Item, Memo)>,
}

/// Steps analytic functions on an arriving row (once, whatever the number of
/// windows it lands in) and applies the window's `FILTER (WHERE …)`.
/// Returns `None` for a row the filter drops.
fn admit(ev: &mut Evaluator, filter: Option<&ScalarExpr>, item: Item) -> Option<(Item, Memo)> {
    let Item::Row(r) = &item else { return Some((item, Vec::new())) };
    if let Err(e) = ev.begin_row(r, GroupContext::default()) {
        return Some((Item::Error(where_error(&e)), Vec::new()));
    }
    let memo = ev.memo_snapshot();
    if let Some(f) = filter {
        match ev.eval_condition(f, r, GroupContext::default()) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => return Some((Item::Error(where_error(&e)), Vec::new())),
        }
    }
    Some((item, memo))
}

/// Renders a windowed plan.
pub fn render<'s>(
    _scope: Scope<'s, Time>,
    plan: &Arc<RulePlan>,
    mut inputs: Vec<ItemStream<'s>>,
) -> Result<EmissionStream<'s>, RenderError> {
    let shape = PlanShape::of(&plan.root)?;
    if inputs.len() != 1 {
        return Err(RenderError::Unsupported("joins".into()));
    }
    let Some(items) = inputs.pop() else {
        return Err(RenderError::Unsupported("a rule without input".into()));
    };
    let Some(spec) = shape.window.clone() else {
        return Err(RenderError::Unsupported("aggregation without a window".into()));
    };
    let panes = assign(items, spec, plan.clone())?;
    let mut query = GroupQuery::new(plan.clone(), &shape);
    Ok(panes.unary::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(Pipeline, "GroupQuery", move |_c, _i| {
        move |input, output| {
            input.for_each_time(|cap, data| {
                let mut session = output.session(&cap);
                for batch in data {
                    for pane in batch.drain(..) {
                        if let Some(e) = query.process(pane) {
                            session.give(e);
                        }
                    }
                }
            });
        }
    }))
}

/// The parts of a windowed plan, top to bottom.
#[derive(Debug, Clone, Default)]
pub struct PlanShape {
    /// The window.
    pub window: Option<WindowSpec>,
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
    /// Reads the shape of a single-input windowed plan.
    pub fn of(root: &LogicalPlan) -> Result<Self, RenderError> {
        let mut shape = PlanShape::default();
        let mut node = root;
        let mut seen_aggregate = false;
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
                    if seen_aggregate || shape.aggregate.is_some() {
                        shape.filter = Some(predicate.clone());
                    } else if matches!(**input, LogicalPlan::Aggregate { .. }) {
                        shape.having = Some(predicate.clone());
                    } else {
                        shape.filter = Some(predicate.clone());
                    }
                    node = input;
                }
                LogicalPlan::Aggregate { input, group_by, aggregates } => {
                    seen_aggregate = true;
                    shape.aggregate = Some((group_by.clone(), aggregates.clone()));
                    node = input;
                }
                LogicalPlan::Window { input, spec } => {
                    shape.window = Some(spec.clone());
                    node = input;
                }
                LogicalPlan::Scan { .. } => return Ok(shape),
                LogicalPlan::Join { .. } => return Err(RenderError::Unsupported("joins".into())),
            }
        }
    }
}

struct OpenWindow {
    cap: Capability<Time>,
    start: u64,
    items: Vec<(Item, Memo)>,
}

/// Assigns items to windows and releases each window when the frontier passes its end.
fn assign<'s>(items: ItemStream<'s>, spec: WindowSpec, plan: Arc<RulePlan>) -> Result<crate::render::Stream<'s, Time, Vec<WindowPane>>, RenderError> {
    let (size, hop) = match spec.kind {
        WindowKind::Tumbling { size_ms } => (size_ms, size_ms),
        WindowKind::Hopping { size_ms, hop_ms } => (size_ms, hop_ms),
        WindowKind::Count { count, interval } => return Ok(count_window(items, spec, count, interval, plan)),
        ref other => return Err(RenderError::Unsupported(format!("window {other:?}"))),
    };
    if size == 0 || hop == 0 {
        return Err(RenderError::Unsupported("a window of length zero".into()));
    }
    let filter = spec.filter.clone();
    Ok(items.unary_frontier::<CapacityContainerBuilder<Vec<WindowPane>>, _, _, _>(
        ExchangePact::new(|_: &Item| 0u64),
        "WindowAssigner",
        move |_cap, _info| {
            let mut open: BTreeMap<u64, OpenWindow> = BTreeMap::new();
            let mut ev = Evaluator::new(plan);
            move |(input, frontier), output| {
                input.for_each_time(|cap, data| {
                    for batch in data {
                        for item in batch.drain(..) {
                            let ts = match &item {
                                Item::Row(r) => r.ts,
                                Item::Error(_) => time::to_ms(*cap.time()),
                            };
                            let Some(entry) = admit(&mut ev, filter.as_ref(), item) else { continue };
                            // Windows [end - size, end) with `end` on the hop grid containing ts.
                            let mut end = (ts / hop + 1) * hop;
                            while end.saturating_sub(size) <= ts {
                                let t = time::of_ms(end).max(*cap.time());
                                let w = open.entry(end).or_insert_with(|| OpenWindow {
                                    cap: cap.delayed(&t, output.output_index()),
                                    start: end.saturating_sub(size),
                                    items: Vec::new(),
                                });
                                w.items.push(entry.clone());
                                end += hop;
                            }
                        }
                    }
                });
                while let Some(entry) = open.first_entry() {
                    if frontier.less_than(&time::of_ms(*entry.key())) {
                        break;
                    }
                    let (end, w) = entry.remove_entry();
                    let mut items = w.items;
                    items.sort_by_key(|(i, _)| match i {
                        Item::Row(r) => r.ts,
                        Item::Error(_) => 0,
                    });
                    output.session(&w.cap).give(WindowPane { start: w.start, end, items });
                }
            }
        },
    ))
}

fn count_window<'s>(
    items: ItemStream<'s>,
    spec: WindowSpec,
    count: u64,
    interval: u64,
    plan: Arc<RulePlan>,
) -> crate::render::Stream<'s, Time, Vec<WindowPane>> {
    let count = count.max(1) as usize;
    let interval = if interval == 0 { count } else { interval as usize };
    let filter = spec.filter;
    let mut ev = Evaluator::new(plan);
    items.unary::<CapacityContainerBuilder<Vec<WindowPane>>, _, _, _>(
        ExchangePact::new(|_: &Item| 0u64),
        "CountWindow",
        move |_cap, _info| {
            let mut buf: std::collections::VecDeque<(Item, Memo)> = std::collections::VecDeque::new();
            let mut since_emit = 0usize;
            move |input, output| {
                input.for_each_time(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data {
                        for item in batch.drain(..) {
                            let Some(entry) = admit(&mut ev, filter.as_ref(), item) else { continue };
                            buf.push_back(entry);
                            if buf.len() > count {
                                buf.pop_front();
                            }
                            since_emit += 1;
                            if since_emit >= interval && buf.len() >= count.min(interval) {
                                since_emit = 0;
                                let items: Vec<(Item, Memo)> = buf.iter().cloned().collect();
                                let ts = |(i, _): &(Item, Memo)| match i {
                                    Item::Row(r) => r.ts,
                                    Item::Error(_) => 0,
                                };
                                let start = items.first().map(ts).unwrap_or(0);
                                let end = items.last().map(ts).unwrap_or(0);
                                if interval >= count {
                                    buf.clear();
                                }
                                session.give(WindowPane { start, end, items });
                            }
                        }
                    }
                });
            }
        },
    )
}

/// A group of rows with the same GROUP BY key inside one window.
struct Group {
    rows: Vec<(Row, Memo)>,
    accs: Vec<Box<dyn Accumulator>>,
    aggregates: Vec<Value>,
}

/// WHERE, GROUP BY, aggregates, HAVING, ORDER BY and SELECT over one window pane.
pub struct GroupQuery {
    ev: Evaluator,
    shape: PlanShape,
    projector: Projector,
}

impl GroupQuery {
    /// Builds the query for a windowed plan of this shape.
    pub fn new(plan: Arc<RulePlan>, shape: &PlanShape) -> Self {
        let projector = Projector::new(&shape.items, plan.options.send_nil_field);
        Self { ev: Evaluator::new(plan), shape: shape.clone(), projector }
    }

    /// Evaluates one pane into its emission (`None` when nothing is to be sent).
    pub fn process(&mut self, pane: WindowPane) -> Option<Emission> {
        let window = Some((pane.start, pane.end));
        let base = GroupContext { window, ..GroupContext::default() };
        let mut rows = Vec::with_capacity(pane.items.len());
        for (item, memo) in pane.items {
            match item {
                Item::Row(r) => {
                    self.ev.restore_memo(&memo);
                    if let Some(f) = &self.shape.filter {
                        match self.ev.eval_condition(f, &r, base) {
                            Ok(true) => rows.push((r, memo)),
                            Ok(false) => {}
                            Err(e) => return self.error(where_error(&e)),
                        }
                    } else {
                        rows.push((r, memo));
                    }
                }
                Item::Error(e) => return self.error(e),
            }
        }
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
                        if let Some(f) = &a.filter {
                            if !self.ev.eval_condition(f, &r, base).unwrap_or(false) {
                                continue;
                            }
                        }
                        let mut args = Vec::with_capacity(a.args.len());
                        for x in &a.args {
                            match self.ev.eval(x, &r, base) {
                                Ok(v) => args.push(v),
                                Err(e) => return self.error(Arc::from(format!("run Select error: {}", e.0))),
                            }
                        }
                        if let Err(e) = acc.update(&args) {
                            return self.error(Arc::from(format!("run Select error: {e}")));
                        }
                    }
                    g.rows.push((r, memo));
                }
                if groups.is_empty() && keys.is_empty() {
                    return Some(Emission::Rows(Vec::new()));
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
        let aggregated = self.shape.aggregate.is_some();
        let end = pane.end;
        if let Some(h) = self.shape.having.clone() {
            let mut kept = Vec::with_capacity(groups.len());
            for g in groups {
                let Some((first, memo)) = g.rows.first() else { continue };
                self.ev.restore_memo(memo);
                match self.ev.eval_condition(&h, first, group_context(&g, window, aggregated, end)) {
                    Ok(true) => kept.push(g),
                    Ok(false) => {}
                    Err(e) => return self.error(Arc::from(format!("run Having error: {}", e.0))),
                }
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
                        k.push(self.ev.eval(&s.expr, first, group_context(&g, window, aggregated, end)).unwrap_or(Value::Null));
                    }
                }
                keyed.push((k, g));
            }
            let sort = self.shape.sort.clone();
            keyed.sort_by(|(a, _), (b, _)| {
                for (i, s) in sort.iter().enumerate() {
                    let o = a[i].sort_cmp(&b[i]);
                    let o = if s.descending { o.reverse() } else { o };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
            groups = keyed.into_iter().map(|(_, g)| g).collect();
        }
        let mut out: Vec<OutRow> = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let Some((first, memo)) = g.rows.first() else { continue };
            self.ev.restore_memo(memo);
            let mut ctx = group_context(g, window, aggregated, end);
            ctx.row_number = i as u64 + 1;
            match self.projector.project(&mut self.ev, first, ctx) {
                Ok(rows) => out.extend(rows),
                Err(e) => return self.error(e),
            }
        }
        if aggregated && !out.is_empty() {
            self.ev.hits.agg_hit_count += 1;
            self.ev.hits.agg_hit_time = pane.end as i64;
        }
        Some(Emission::Rows(out))
    }

    fn error(&self, e: Arc<str>) -> Option<Emission> {
        Some(Emission::Error(e))
    }
}

fn group_context(g: &Group, window: Option<(u64, u64)>, aggregated: bool, end: u64) -> GroupContext<'_> {
    GroupContext {
        aggregates: &g.aggregates,
        window,
        row_number: 0,
        group_time: aggregated.then_some(end),
    }
}

fn new_accumulator(a: &AggregateCall) -> Box<dyn Accumulator> {
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
            let mut pending: BTreeMap<u64, (Capability<Time>, Vec<Item>)> = BTreeMap::new();
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
                            let e = pending
                                .entry(ts)
                                .or_insert_with(|| (cap.delayed(&t, output.output_index()), Vec::new()));
                            e.1.push(item);
                        }
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(&entry.get().0.time().clone()) {
                        break;
                    }
                    let (_, (cap, items)) = entry.remove_entry();
                    output.session(&cap).give_iterator(items.into_iter());
                }
            }
        },
    )
}
