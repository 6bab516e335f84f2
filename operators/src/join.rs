//! Joins: stream–stream joins inside a window firing, and the tables that
//! stream rows are joined with.
//!
//! A window pane holds the rows of every joined input. [`join_pane`] joins them
//! left-deep, in the plan's order, exactly as eKuiper's `JoinOp`: start from
//! the rows of the FROM input, then for each `JOIN` combine the rows so far
//! with the rows of the next input (INNER, LEFT, RIGHT, FULL, CROSS). A joined
//! row is the concatenation of its inputs' slots — every input owns its slot
//! range of the row, so joining copies the right row's range into the left
//! row. An `ON` condition that fails to evaluate fails the whole pane
//! (`run Join error: …`); an empty join result emits nothing.
//!
//! Tables ([`TableStore`]) are kept inside the window operator, updated by the
//! table inputs in arrival order, and appended to every pane (eKuiper's
//! `JoinAlignNode`): a table keeps its last `RETAIN_SIZE` rows, or the latest
//! row per `KEY`, or (a file table) every row.

use crate::eval::{Evaluator, GroupContext};
use crate::value::{Row, Value};
use crate::window_kinds::{Entry, Memo};
use oort_compiler::catalog::StreamKind;
use oort_compiler::plan::{JoinKind, RulePlan, ScalarExpr};
use std::collections::VecDeque;
use std::sync::Arc;

/// One `JOIN` of the left-deep chain.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinStep {
    /// The joined input.
    pub right: usize,
    /// Kind.
    pub kind: JoinKind,
    /// `ON` condition.
    pub on: Option<ScalarExpr>,
}

/// A row of the join result with the analytic results of its leftmost row.
pub type JoinedRow = (Row, Memo);

/// Joins the rows of a pane. `Ok(rows)` in eKuiper's order, or the error text.
pub fn join_pane(
    ev: &mut Evaluator,
    plan: &RulePlan,
    from: usize,
    steps: &[JoinStep],
    rows: &[Entry],
    g: GroupContext,
) -> Result<Vec<JoinedRow>, Arc<str>> {
    let of = |source: usize| rows.iter().filter(move |e| e.source == source);
    let mut acc: Vec<JoinedRow> = of(from).map(|e| (e.row.clone(), e.memo.clone())).collect();
    for step in steps {
        let rights: Vec<&Entry> = of(step.right).collect();
        acc = join_step(ev, plan, acc, &rights, step, g).map_err(|e| Arc::from(format!("run Join error: {e}")))?;
    }
    Ok(acc)
}

fn merge(plan: &RulePlan, left: &Row, right: &Row, right_source: usize) -> Row {
    let mut row = left.clone();
    if let Some(src) = plan.sources.get(right_source) {
        let range = src.offset..(src.offset + src.width()).min(row.slots.len());
        for i in range {
            if let Some(v) = right.slots.get(i) {
                row.slots[i] = v.clone();
            }
        }
    }
    row
}

fn matches(ev: &mut Evaluator, step: &JoinStep, merged: &Row, g: GroupContext) -> Result<bool, String> {
    match &step.on {
        Some(on) => ev.eval_condition(on, merged, g).map_err(|e| e.0),
        None => Ok(true),
    }
}

fn join_step(
    ev: &mut Evaluator,
    plan: &RulePlan,
    lefts: Vec<JoinedRow>,
    rights: &[&Entry],
    step: &JoinStep,
    g: GroupContext,
) -> Result<Vec<JoinedRow>, String> {
    let mut out = Vec::new();
    if step.kind == JoinKind::Right {
        return right_join(ev, plan, &lefts, rights, step, g, false);
    }
    for (left, memo) in &lefts {
        let mut joined = false;
        for right in rights {
            let merged = merge(plan, left, &right.row, step.right);
            if step.kind == JoinKind::Cross || matches(ev, step, &merged, g)? {
                joined = true;
                out.push((merged, memo.clone()));
            }
        }
        if !joined && matches!(step.kind, JoinKind::Left | JoinKind::Full) {
            out.push((left.clone(), memo.clone()));
        }
    }
    if step.kind == JoinKind::Full {
        out.extend(right_join(ev, plan, &lefts, rights, step, g, true)?);
    }
    Ok(out)
}

/// RIGHT join (and the unmatched right rows of a FULL join when `unmatched_only`).
fn right_join(
    ev: &mut Evaluator,
    plan: &RulePlan,
    lefts: &[JoinedRow],
    rights: &[&Entry],
    step: &JoinStep,
    g: GroupContext,
    unmatched_only: bool,
) -> Result<Vec<JoinedRow>, String> {
    let mut out = Vec::new();
    for right in rights {
        let mut joined = false;
        for (left, memo) in lefts {
            let merged = merge(plan, left, &right.row, step.right);
            if matches(ev, step, &merged, g)? {
                joined = true;
                if !unmatched_only {
                    out.push((merged, memo.clone()));
                }
            }
        }
        if !joined {
            let mut row = right.row.clone();
            for v in row.slots.iter_mut() {
                *v = Value::Null;
            }
            out.push((merge(plan, &row, &right.row, step.right), right.memo.clone()));
        }
    }
    Ok(out)
}

/// How one table keeps its rows.
#[derive(Debug, Clone)]
enum Retention {
    /// The last `n` rows.
    Last(usize),
    /// The latest row per value of the key slot.
    ByKey(usize),
    /// Every row (file tables).
    All,
}

/// The current rows of the rule's tables.
#[derive(Debug, Clone, Default)]
pub struct TableStore {
    tables: Vec<Option<(Retention, VecDeque<Entry>)>>,
}

impl TableStore {
    /// The tables among `plan`'s inputs, with the retention their DDL asks for.
    pub fn new(plan: &RulePlan) -> Self {
        let tables =
            plan.sources
                .iter()
                .map(|s| {
                    if s.def.kind != StreamKind::Table {
                        return None;
                    }
                    let key_slot = s.def.options.key.as_ref().and_then(|k| {
                        s.slots.iter().position(|d| d.name.eq_ignore_ascii_case(k)).map(|i| s.offset + i)
                    });
                    let retention = match (s.def.options.retain_size, key_slot) {
                        (Some(n), _) if n > 0 => Retention::Last(n),
                        (_, Some(slot)) => Retention::ByKey(slot),
                        _ => Retention::All,
                    };
                    Some((retention, VecDeque::new()))
                })
                .collect();
        Self { tables }
    }

    /// Whether input `source` is a table.
    pub fn is_table(&self, source: usize) -> bool {
        self.tables.get(source).is_some_and(Option::is_some)
    }

    /// Whether the rule joins any table.
    pub fn has_tables(&self) -> bool {
        self.tables.iter().any(Option::is_some)
    }

    /// Applies a row of table input `entry.source`.
    pub fn update(&mut self, entry: Entry) {
        let Some(Some((retention, rows))) = self.tables.get_mut(entry.source) else { return };
        match retention {
            Retention::Last(n) => {
                rows.push_back(entry);
                while rows.len() > *n {
                    rows.pop_front();
                }
            }
            Retention::ByKey(slot) => {
                let key = entry.row.slots.get(*slot).cloned().unwrap_or(Value::Null);
                rows.retain(|e| !crate::eval::values_equal(e.row.slots.get(*slot).unwrap_or(&Value::Null), &key));
                rows.push_back(entry);
            }
            Retention::All => rows.push_back(entry),
        }
    }

    /// Every table row, table by table.
    pub fn rows(&self) -> impl Iterator<Item = &Entry> {
        self.tables.iter().flatten().flat_map(|(_, rows)| rows.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oort_compiler::catalog::{StreamDef, StreamOptions};
    use oort_compiler::plan::{BinaryOp, ColumnRef, RuleOptions, SlotDef, SourcePlan};

    fn source(name: &str, offset: usize, kind: StreamKind, options: StreamOptions) -> SourcePlan {
        SourcePlan {
            def: StreamDef { name: name.into(), kind, fields: None, options, sql: String::new() },
            alias: name.into(),
            offset,
            slots: vec![SlotDef { name: "id".into(), ty: None }, SlotDef { name: "v".into(), ty: None }],
            rest_slot: None,
        }
    }

    fn plan() -> RulePlan {
        RulePlan {
            sql: String::new(),
            sources: vec![
                source("l", 0, StreamKind::Stream, StreamOptions::default()),
                source("r", 2, StreamKind::Stream, StreamOptions::default()),
            ],
            width: 4,
            root: oort_compiler::plan::LogicalPlan::Scan { source: 0 },
            call_sites: 0,
            options: RuleOptions::default(),
            has_having: false,
            rule_id: String::new(),
        }
    }

    fn entry(source: usize, id: i64, v: &str) -> Entry {
        let mut slots = vec![Value::Null; 4];
        slots[source * 2] = Value::Int(id);
        slots[source * 2 + 1] = Value::str(v);
        Entry { source, row: Row { slots, meta: None, ts: 0 }, memo: Vec::new() }
    }

    fn on_ids() -> Option<ScalarExpr> {
        let col =
            |source: usize, slot: usize| Box::new(ScalarExpr::Column(ColumnRef { source, slot, name: "id".into() }));
        Some(ScalarExpr::Binary { op: BinaryOp::Eq, left: col(0, 0), right: col(1, 2) })
    }

    /// `(left v, right v)` of each joined row, `-` for a missing side.
    fn run(kind: JoinKind) -> Vec<(String, String)> {
        let plan = plan();
        let mut ev = Evaluator::new(Arc::new(plan.clone()));
        let rows = vec![entry(0, 1, "a"), entry(0, 2, "b"), entry(1, 2, "x"), entry(1, 3, "y")];
        let on = if kind == JoinKind::Cross { None } else { on_ids() };
        let steps = [JoinStep { right: 1, kind, on }];
        let out = join_pane(&mut ev, &plan, 0, &steps, &rows, GroupContext::default()).expect("join");
        let side = |v: &Value| match v {
            Value::String(s) => s.to_string(),
            _ => "-".into(),
        };
        out.iter().map(|(r, _)| (side(&r.slots[1]), side(&r.slots[3]))).collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn join_kinds_follow_ekuiper() {
        assert_eq!(run(JoinKind::Inner), pairs(&[("b", "x")]));
        assert_eq!(run(JoinKind::Left), pairs(&[("a", "-"), ("b", "x")]));
        assert_eq!(run(JoinKind::Right), pairs(&[("b", "x"), ("-", "y")]));
        assert_eq!(run(JoinKind::Full), pairs(&[("a", "-"), ("b", "x"), ("-", "y")]));
        assert_eq!(run(JoinKind::Cross), pairs(&[("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]));
    }

    #[test]
    fn join_condition_errors_fail_the_pane() {
        let plan = plan();
        let mut ev = Evaluator::new(Arc::new(plan.clone()));
        let mut bad = entry(1, 0, "x");
        bad.row.slots[2] = Value::str("2");
        let steps = [JoinStep { right: 1, kind: JoinKind::Inner, on: on_ids() }];
        let err = join_pane(&mut ev, &plan, 0, &steps, &[entry(0, 2, "b"), bad], GroupContext::default())
            .expect_err("a join error");
        assert!(err.starts_with("run Join error: invalid operation"), "{err}");
    }

    #[test]
    fn tables_keep_retain_size_rows_or_latest_per_key() {
        let mut p = plan();
        p.sources[1].def.kind = StreamKind::Table;
        p.sources[1].def.options.retain_size = Some(2);
        let mut store = TableStore::new(&p);
        assert!(store.is_table(1) && !store.is_table(0));
        for (id, v) in [(1, "a"), (2, "b"), (3, "c")] {
            store.update(entry(1, id, v));
        }
        let ids: Vec<Value> = store.rows().map(|e| e.row.slots[2].clone()).collect();
        assert_eq!(ids, vec![Value::Int(2), Value::Int(3)]);

        p.sources[1].def.options.retain_size = None;
        p.sources[1].def.options.key = Some("id".into());
        let mut keyed = TableStore::new(&p);
        for (id, v) in [(1, "a"), (2, "b"), (1, "c")] {
            keyed.update(entry(1, id, v));
        }
        let vs: Vec<Value> = keyed.rows().map(|e| e.row.slots[3].clone()).collect();
        assert_eq!(vs, vec![Value::str("b"), Value::str("c")]);
    }
}
