//! The per-record query logic of a rule, independent of timely: WHERE,
//! analytic functions and the SELECT list for row-at-a-time rules
//! ([`RowQuery`]), and the projection shared with windowed rules
//! ([`Projector`]). Operators in `render` wrap these; tests drive them directly.
//!
//! WHERE and SELECT share one [`Evaluator`], because eKuiper's
//! `last_hit_count()` and analytic functions see one state across both
//! clauses (an alias from SELECT may be used in WHERE).

use crate::eval::{EvalError, Evaluator, GroupContext};
use crate::source::Item;
use crate::value::{Row, Value};
use oort_compiler::plan::{LogicalPlan, ProjectItem, RulePlan, ScalarExpr};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One output row: field names and values in SELECT order.
pub type OutRow = Vec<(Arc<str>, Value)>;

/// What a rule hands its sinks at once: the rows of one result (one row for
/// a row-at-a-time rule, all rows of a window firing), or a runtime error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Emission {
    /// Result rows (possibly empty, for a window whose rows were all filtered out).
    Rows(Vec<OutRow>),
    /// A runtime error in eKuiper's words (`run Where error: …`).
    Error(Arc<str>),
    /// Result rows whose SELECT called `delay(ms, …)`: sinks get them no
    /// earlier than `delay_ms` after they were produced, in the rule's order.
    Delayed {
        /// The delay, ms (the largest of the row's `delay` calls).
        delay_ms: u64,
        /// The rows.
        rows: Vec<OutRow>,
    },
}

impl Emission {
    /// Result rows, delayed when the evaluation that produced them called
    /// `delay()` (see [`crate::functions::other::take_delay`]).
    pub fn rows(rows: Vec<OutRow>) -> Emission {
        match crate::functions::other::take_delay() {
            Some(delay_ms) => Emission::Delayed { delay_ms, rows },
            None => Emission::Rows(rows),
        }
    }
}

/// Errors building a rule's operators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The plan uses something this build cannot run yet.
    #[error("not supported yet: {0}")]
    Unsupported(String),
}

/// Evaluates a SELECT list into output rows.
#[derive(Debug, Clone)]
pub struct Projector {
    items: Vec<ProjectItem>,
    names: Vec<Arc<str>>,
    send_nil: bool,
    /// Every item is an expression with its own name, none a wildcard,
    /// `unnest` or `changed_cols`: each projection is exactly one row, the
    /// items' values in order (see [`Projector::project_one`]).
    plain: bool,
}

impl Projector {
    /// A projector for `items`.
    pub fn new(items: &[ProjectItem], send_nil: bool) -> Self {
        let names: Vec<Arc<str>> = items
            .iter()
            .map(|i| match i {
                // Shared with the other workers' projectors (see `field_names`).
                ProjectItem::Expr { name, .. } => crate::field_names::intern(name),
                ProjectItem::Wildcard { .. } => crate::field_names::intern("*"),
            })
            .collect();
        let plain = items.iter().all(|i| {
            matches!(i, ProjectItem::Expr { expr, .. } if !matches!(call_name(expr), Some("unnest" | "changed_cols")))
        }) && names.iter().enumerate().all(|(i, n)| !names[..i].contains(n));
        Self { items: items.to_vec(), names, send_nil, plain }
    }

    /// Projects one row of a [plain](Self::plain) SELECT list (`None` for
    /// any other: use [`Self::project`]), as [`Self::project`] would, without
    /// its intermediate vectors.
    fn project_one(&self, ev: &mut Evaluator, row: &Row, g: GroupContext) -> Option<Result<OutRow, Arc<str>>> {
        if !self.plain {
            return None;
        }
        // A row a sink gave back (names kept), when there is one.
        let mut out: OutRow = crate::out_rows::recycled_row(self.items.len());
        Some(self.fill_one(ev, row, g, &mut out).map(|()| out))
    }

    /// [`Self::project_one`] of a plain SELECT list into `out`, a row that
    /// may hold an earlier result ([`crate::out_rows`]): its fields are
    /// overwritten, names kept where they are the same.
    fn fill_one(&self, ev: &mut Evaluator, row: &Row, g: GroupContext, out: &mut OutRow) -> Result<(), Arc<str>> {
        let mut filled = 0;
        for (item, name) in self.items.iter().zip(&self.names) {
            let ProjectItem::Expr { expr, invisible, aliased, name: text } = item else { continue };
            let v = match ev.eval(expr, row, g) {
                Ok(v) => v,
                Err(e) => return Err(select_error(ev.plan(), aliased.then_some(text.as_str()), expr, &e)),
            };
            if *invisible || (!self.send_nil && v.is_null()) {
                continue;
            }
            crate::out_rows::set_field(out, filled, name, v);
            filled += 1;
        }
        out.truncate(filled);
        Ok(())
    }

    /// Projects one row (within group context `g`). Returns several rows when a
    /// set-returning function (`unnest`) expands it. Errors carry eKuiper's
    /// `run Select error: …` text.
    pub fn project(&self, ev: &mut Evaluator, row: &Row, g: GroupContext) -> Result<Vec<OutRow>, Arc<str>> {
        let mut rows = Vec::with_capacity(1);
        self.project_into(ev, row, g, &mut rows)?;
        Ok(rows)
    }

    /// [`project`](Self::project), appending the rows to `rows`.
    pub fn project_into(
        &self,
        ev: &mut Evaluator,
        row: &Row,
        g: GroupContext,
        rows: &mut Vec<OutRow>,
    ) -> Result<(), Arc<str>> {
        if let Some(one) = self.project_one(ev, row, g) {
            rows.push(one?);
            return Ok(());
        }
        let mut out: OutRow = Vec::with_capacity(self.items.len());
        let mut unnest: Option<Arc<Vec<Value>>> = None;
        for (i, item) in self.items.iter().enumerate() {
            match item {
                ProjectItem::Wildcard { .. } => {
                    for (k, v) in ev.wildcard_fields(row, item) {
                        put(&mut out, k, v);
                    }
                }
                ProjectItem::Expr { expr, invisible, aliased, name } => {
                    let v = ev.eval(expr, row, g).map_err(|e| {
                        if call_name(expr) == Some("unnest") {
                            // eKuiper reports set-returning function errors bare.
                            return Arc::from(e.0.as_str());
                        }
                        select_error(ev.plan(), aliased.then_some(name.as_str()), expr, &e)
                    })?;
                    if *invisible {
                        continue;
                    }
                    match (call_name(expr), v) {
                        (Some("unnest"), Value::Array(a)) => {
                            unnest = Some(a);
                        }
                        (Some("changed_cols"), Value::Object(m)) => {
                            for (k, v) in m.iter() {
                                put(&mut out, Arc::from(k.as_str()), v.clone());
                            }
                        }
                        (_, v) => put(&mut out, self.names[i].clone(), v),
                    }
                }
            }
        }
        let first = rows.len();
        match unnest {
            None => rows.push(out),
            Some(values) => rows.extend(values.iter().map(|v| {
                let mut r: OutRow = Vec::with_capacity(out.len() + 2);
                let name = self.unnest_name();
                match v {
                    Value::Object(m) => {
                        for (k, x) in m.iter() {
                            put(&mut r, Arc::from(k.as_str()), x.clone());
                        }
                    }
                    other => put(&mut r, name, other.clone()),
                }
                for (k, x) in out.iter() {
                    if !r.iter().any(|(rk, _)| rk == k) {
                        r.push((k.clone(), x.clone()));
                    }
                }
                r
            })),
        }
        if !self.send_nil {
            for r in &mut rows[first..] {
                r.retain(|(_, v)| !v.is_null());
            }
        }
        Ok(())
    }

    fn unnest_name(&self) -> Arc<str> {
        for (i, item) in self.items.iter().enumerate() {
            if let ProjectItem::Expr { expr, .. } = item
                && call_name(expr) == Some("unnest")
            {
                return self.names[i].clone();
            }
        }
        Arc::from("unnest")
    }
}

fn put(out: &mut OutRow, k: Arc<str>, v: Value) {
    match out.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => out.push((k, v)),
    }
}

fn call_name(e: &ScalarExpr) -> Option<&str> {
    match e {
        ScalarExpr::Call(c) => Some(c.name.as_str()),
        _ => None,
    }
}

/// eKuiper's text for an error in the SELECT list (`alias: c ` when the item has one).
pub fn select_error(plan: &RulePlan, alias: Option<&str>, expr: &ScalarExpr, e: &EvalError) -> Arc<str> {
    let alias = alias.map(|a| format!("alias: {a} ")).unwrap_or_default();
    Arc::from(format!(
        "run Select error: {alias}expr: {} meet error, err:{}",
        oort_compiler::ekuiper_expr_text(expr, plan),
        e.0
    ))
}

/// eKuiper's text for an error in WHERE.
pub fn where_error(e: &EvalError) -> Arc<str> {
    Arc::from(format!("run Where error: {}", e.0))
}

/// Prefix of the error emission that reports a panic inside a rule's operator;
/// the runtime stops such a rule with `stopped by error: …`.
pub const PANIC_PREFIX: &str = "panic in rule operator: ";

/// Runs `f`, turning a panic into a fatal error emission (the operator then
/// stays poisoned: a rule whose state may be half-updated processes nothing more).
pub fn contain_panic(poisoned: &mut bool, out: &mut Vec<Emission>, f: impl FnOnce(&mut Vec<Emission>)) {
    if *poisoned {
        return;
    }
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(out))) {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        *poisoned = true;
        out.push(Emission::Error(Arc::from(format!("{PANIC_PREFIX}{msg}"))));
    }
}

/// A row-at-a-time rule: `SELECT … FROM s [WHERE …]`, no window, no join.
pub struct RowQuery {
    ev: Evaluator,
    filter: Option<ScalarExpr>,
    projector: Projector,
    poisoned: bool,
}

impl RowQuery {
    /// Builds the query of a plan shaped `Project(Filter?(Scan))`.
    pub fn new(plan: Arc<RulePlan>) -> Result<Self, RenderError> {
        let LogicalPlan::Project { input, items } = &plan.root else {
            return Err(RenderError::Unsupported("plan root is not a projection".into()));
        };
        let filter = match &**input {
            LogicalPlan::Scan { .. } => None,
            LogicalPlan::Filter { input, predicate } if matches!(**input, LogicalPlan::Scan { .. }) => {
                Some(predicate.clone())
            }
            other => return Err(RenderError::Unsupported(format!("row query over {}", node_name(other)))),
        };
        let projector = Projector::new(items, plan.options.send_nil_field);
        Ok(Self { ev: Evaluator::new(plan), filter, projector, poisoned: false })
    }

    /// Whether the rule keeps state across rows (analytic functions,
    /// `last_hit_*`): then it must see all rows in one order, on one worker.
    pub fn is_stateful(&self) -> bool {
        self.ev.has_analytics() || self.uses_hits()
    }

    fn uses_hits(&self) -> bool {
        crate::plan_walk::calls_any(&self.ev.plan().root, crate::plan_walk::is_hit_counter)
    }

    /// Processes one item, appending what it emits. Errors are always emitted
    /// (they are counted); whether they reach sinks (`sendError`) is the consumer's choice.
    /// A panic while processing is contained (see [`contain_panic`]).
    pub fn process(&mut self, item: &Item, out: &mut Vec<Emission>) {
        let mut poisoned = self.poisoned;
        contain_panic(&mut poisoned, out, |out| self.process_item(item, out));
        self.poisoned = poisoned;
    }

    fn process_item(&mut self, item: &Item, out: &mut Vec<Emission>) {
        let row = match item {
            Item::Row(r) => r,
            Item::Error(e) => {
                out.push(Emission::Error(e.clone()));
                return;
            }
        };
        let g = GroupContext::default();
        crate::functions::other::take_delay();
        if let Err(e) = self.ev.begin_row(row, g) {
            out.push(Emission::Error(where_error(&e)));
            return;
        }
        if let Some(f) = &self.filter {
            match self.ev.eval_condition(f, row, g) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    out.push(Emission::Error(where_error(&e)));
                    return;
                }
            }
        }
        if self.projector.plain {
            // The row goes out in a list of its own, both recycled when a
            // sink gave them back.
            let mut list = crate::out_rows::one_row_list(self.projector.items.len());
            match self.projector.fill_one(&mut self.ev, row, g, &mut list[0]) {
                Ok(()) => {
                    self.ev.hits.hit_count += 1;
                    self.ev.hits.hit_time = row.ts as i64;
                    out.push(Emission::rows(list));
                }
                Err(e) => out.push(Emission::Error(e)),
            }
            return;
        }
        match self.projector.project(&mut self.ev, row, g) {
            Ok(rows) => {
                self.ev.hits.hit_count += 1;
                self.ev.hits.hit_time = row.ts as i64;
                let delay = crate::functions::other::take_delay();
                for r in rows {
                    out.push(match delay {
                        Some(delay_ms) => Emission::Delayed { delay_ms, rows: vec![r] },
                        None => Emission::Rows(vec![r]),
                    });
                }
            }
            Err(e) => out.push(Emission::Error(e)),
        }
    }
}

/// A short name of a plan node for messages.
pub fn node_name(p: &LogicalPlan) -> &'static str {
    match p {
        LogicalPlan::Scan { .. } => "scan",
        LogicalPlan::Join { .. } => "join",
        LogicalPlan::Window { .. } => "window",
        LogicalPlan::Filter { .. } => "filter",
        LogicalPlan::Aggregate { .. } => "aggregate",
        LogicalPlan::Sort { .. } => "sort",
        LogicalPlan::Project { .. } => "project",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_contained_and_poisons_the_operator() {
        let mut poisoned = false;
        let mut out = Vec::new();
        contain_panic(&mut poisoned, &mut out, |_| panic!("boom"));
        assert!(poisoned);
        assert_eq!(out, vec![Emission::Error(Arc::from(format!("{PANIC_PREFIX}boom")))]);
        contain_panic(&mut poisoned, &mut out, |out| out.push(Emission::Rows(Vec::new())));
        assert_eq!(out.len(), 1, "a poisoned operator processes nothing more");
    }

    fn plan(sql: &str) -> Arc<RulePlan> {
        let mut streams = std::collections::BTreeMap::new();
        let def = oort_compiler::parse_stream_ddl(
            r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, ts BIGINT) WITH (DATASOURCE="d", FORMAT="JSON")"#,
        )
        .expect("parses");
        streams.insert(def.name.clone(), def);
        Arc::new(oort_compiler::compile_rule(sql, &streams, Default::default()).expect("compiles"))
    }

    /// Runs `records` through the row query of `sql`; its one-row results,
    /// each rendered `name=value,...`, are handed back for reuse when `recycle`.
    fn run(sql: &str, records: &[&str], recycle: bool) -> Vec<String> {
        let plan = plan(sql);
        let decoder = crate::source::SourceDecoder::new(&plan.sources[0], plan.width, false);
        let mut query = RowQuery::new(plan.clone()).expect("a row query");
        let mut out = Vec::new();
        let mut shown = Vec::new();
        for r in records {
            let rec = crate::source::SourceRecord {
                payload: crate::source::Payload::Bytes(bytes::Bytes::copy_from_slice(r.as_bytes())),
                meta: None,
                ts: 0,
            };
            query.process(&decoder.decode(&rec), &mut out);
            for e in &out {
                let Emission::Rows(rows) = e else { panic!("{e:?}") };
                for row in rows {
                    shown.push(row.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(","));
                }
            }
            if recycle {
                crate::out_rows::recycle(std::mem::take(&mut out));
            }
            out.clear();
        }
        shown
    }

    #[test]
    fn rows_filled_into_recycled_lists_of_other_rules_are_the_rows_a_new_list_gets() {
        let records = [
            r#"{"deviceId":"d1","temperature":51.5,"ts":1}"#,
            r#"{"temperature":60.0,"ts":2}"#,
            r#"{"deviceId":"d3","temperature":10.0,"ts":3}"#,
            r#"{"deviceId":"d4","temperature":70.25,"ts":4}"#,
        ];
        let wide = "SELECT temperature AS t, deviceId AS d, ts FROM demo";
        let narrow = "SELECT deviceId, temperature FROM demo WHERE temperature > 50";
        // Each rule's lists go back to the pool and are taken again by the
        // other rule and by itself: another rule's names, a field left out
        // (no deviceId, a null), a row of three fields then two.
        for _ in 0..3 {
            assert_eq!(
                run(wide, &records, true),
                [
                    "t=Float(51.5),d=String(\"d1\"),ts=Int(1)",
                    "t=Float(60.0),ts=Int(2)",
                    "t=Float(10.0),d=String(\"d3\"),ts=Int(3)",
                    "t=Float(70.25),d=String(\"d4\"),ts=Int(4)",
                ]
            );
            assert_eq!(
                run(narrow, &records, true),
                [
                    "deviceId=String(\"d1\"),temperature=Float(51.5)",
                    "temperature=Float(60.0)",
                    "deviceId=String(\"d4\"),temperature=Float(70.25)"
                ]
            );
        }
        assert_eq!(run(narrow, &records, false), run(narrow, &records, true));
    }
}
