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
//! INNER and LEFT joins whose `ON` starts with an equality of a column of the
//! rows so far and a column of the joined input (`a.k = b.k [AND …]`) are
//! hash joins when every key on both sides is a string, or every key an
//! integer: each left row meets only the right rows of its key, in their
//! order, and the whole `ON` is evaluated on those pairs. Skipping the other
//! pairs is exact — their `ON` would stop at the leading equality, which is
//! false and cannot fail between two strings or two integers — so results,
//! order and errors are the nested loop's, at a cost linear in the rows
//! instead of their product. Other joins and key types take the nested loop.
//!
//! Tables ([`TableStore`]) are kept inside the window operator, updated by the
//! table inputs in arrival order, and appended to every pane (eKuiper's
//! `JoinAlignNode`): a table keeps its last `RETAIN_SIZE` rows, or the latest
//! row per `KEY`, or (a file table) every row.

use crate::eval::{Evaluator, GroupContext};
use crate::value::{Row, Value};
use crate::window_kinds::{Entry, Memo};
use oort_compiler::catalog::StreamKind;
use oort_compiler::plan::{BinaryOp, JoinKind, RulePlan, ScalarExpr};
use std::collections::{HashMap, VecDeque};
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
    let step_error = |e: String| Arc::from(format!("run Join error: {e}"));
    // The FROM rows are read in place: an inner join copies only the ones
    // that meet a row of the joined input.
    let firsts: Vec<LeftRow<'_>> = of(from).map(|e| (&e.row, &e.memo)).collect();
    let Some((first, rest)) = steps.split_first() else {
        return Ok(firsts.into_iter().map(|(r, m)| (r.clone(), m.clone())).collect());
    };
    let rights: Vec<&Entry> = of(first.right).collect();
    let mut acc = join_step(ev, plan, &firsts, &rights, first, g).map_err(step_error)?;
    for step in rest {
        let rights: Vec<&Entry> = of(step.right).collect();
        let lefts: Vec<LeftRow<'_>> = acc.iter().map(|(r, m)| (r, m)).collect();
        let next = join_step(ev, plan, &lefts, &rights, step, g).map_err(step_error)?;
        acc = next;
    }
    Ok(acc)
}

/// A row joined so far, read in place.
type LeftRow<'a> = (&'a Row, &'a Memo);

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
    lefts: &[LeftRow<'_>],
    rights: &[&Entry],
    step: &JoinStep,
    g: GroupContext,
) -> Result<Vec<JoinedRow>, String> {
    let mut out = Vec::new();
    if step.kind == JoinKind::Right {
        return right_join(ev, plan, lefts, rights, step, g, false);
    }
    // A hash join meets each left row with the right rows of its key only;
    // the nested loop, with every right row.
    let index = if matches!(step.kind, JoinKind::Inner | JoinKind::Left) && !ev.has_analytics() {
        equi_key(plan, step).and_then(|(left_slot, right_slot)| {
            KeyIndex::build(lefts, left_slot, rights, right_slot).map(|index| (left_slot, index))
        })
    } else {
        None
    };
    let every: Vec<usize> = if index.is_none() { (0..rights.len()).collect() } else { Vec::new() };
    for &(left, memo) in lefts {
        let candidates = match &index {
            Some((left_slot, index)) => index.candidates(left.slots.get(*left_slot)),
            None => &every,
        };
        let mut joined = false;
        for &r in candidates {
            let merged = merge(plan, left, &rights[r].row, step.right);
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
        out.extend(right_join(ev, plan, lefts, rights, step, g, true)?);
    }
    Ok(out)
}

/// The slots of the leading `left = right` column equality of a step's `ON`:
/// `(slot read from the rows so far, slot of the joined input)`.
fn equi_key(plan: &RulePlan, step: &JoinStep) -> Option<(usize, usize)> {
    let mut e = step.on.as_ref()?;
    while let ScalarExpr::Binary { op: BinaryOp::And, left, .. } = e {
        e = left;
    }
    let ScalarExpr::Binary { op: BinaryOp::Eq, left, right } = e else { return None };
    let (ScalarExpr::Column(a), ScalarExpr::Column(b)) = (&**left, &**right) else { return None };
    let joined = |c: &oort_compiler::plan::ColumnRef| c.source == step.right;
    let known = |c: &oort_compiler::plan::ColumnRef| c.source < plan.sources.len() && !joined(c);
    match (joined(a), joined(b)) {
        (false, true) if known(a) => Some((a.slot, b.slot)),
        (true, false) if known(b) => Some((b.slot, a.slot)),
        _ => None,
    }
}

/// The joined input's rows by key, when every key on both sides is a string,
/// or every key an integer (the keys whose equality cannot fail).
enum KeyIndex<'a> {
    Strings(HashMap<&'a str, Vec<usize>>),
    Ints(HashMap<i64, Vec<usize>>),
}

impl<'a> KeyIndex<'a> {
    fn build(lefts: &[LeftRow<'_>], left_slot: usize, rights: &[&'a Entry], right_slot: usize) -> Option<Self> {
        let left_keys = lefts.iter().map(|(r, _)| r.slots.get(left_slot));
        let right_keys = || rights.iter().map(|e| e.row.slots.get(right_slot));
        if left_keys.clone().chain(right_keys()).all(|v| matches!(v, Some(Value::String(_)))) {
            let mut map: HashMap<&'a str, Vec<usize>> = HashMap::new();
            for (i, e) in rights.iter().enumerate() {
                if let Some(Value::String(s)) = e.row.slots.get(right_slot) {
                    map.entry(&**s).or_default().push(i);
                }
            }
            return Some(KeyIndex::Strings(map));
        }
        if left_keys.chain(right_keys()).all(|v| matches!(v, Some(Value::Int(_)))) {
            let mut map: HashMap<i64, Vec<usize>> = HashMap::new();
            for (i, e) in rights.iter().enumerate() {
                if let Some(Value::Int(k)) = e.row.slots.get(right_slot) {
                    map.entry(*k).or_default().push(i);
                }
            }
            return Some(KeyIndex::Ints(map));
        }
        None
    }

    /// The right rows (positions, in order) whose key equals `key`.
    fn candidates(&self, key: Option<&Value>) -> &[usize] {
        let found = match (self, key) {
            (KeyIndex::Strings(m), Some(Value::String(s))) => m.get(&**s),
            (KeyIndex::Ints(m), Some(Value::Int(k))) => m.get(k),
            _ => None,
        };
        found.map_or(&[], Vec::as_slice)
    }
}

/// RIGHT join (and the unmatched right rows of a FULL join when `unmatched_only`).
fn right_join(
    ev: &mut Evaluator,
    plan: &RulePlan,
    lefts: &[LeftRow<'_>],
    rights: &[&Entry],
    step: &JoinStep,
    g: GroupContext,
    unmatched_only: bool,
) -> Result<Vec<JoinedRow>, String> {
    let mut out = Vec::new();
    for right in rights {
        let mut joined = false;
        for &(left, memo) in lefts {
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

    /// The joined `(left v, right v)` pairs of `rows` with `ON l.id = r.id AND extra`.
    fn joined(kind: JoinKind, rows: &[Entry], extra: Option<ScalarExpr>) -> Result<Vec<(Value, Value)>, Arc<str>> {
        let plan = plan();
        let mut ev = Evaluator::new(Arc::new(plan.clone()));
        let on = match (on_ids(), extra) {
            (Some(eq), Some(x)) => {
                Some(ScalarExpr::Binary { op: BinaryOp::And, left: Box::new(eq), right: Box::new(x) })
            }
            (eq, _) => eq,
        };
        let steps = [JoinStep { right: 1, kind, on }];
        let out = join_pane(&mut ev, &plan, 0, &steps, rows, GroupContext::default())?;
        Ok(out.iter().map(|(r, _)| (r.slots[1].clone(), r.slots[3].clone())).collect())
    }

    #[test]
    fn hash_joins_give_the_nested_loops_rows_in_its_order() {
        // Integer keys with duplicates on both sides, and string keys: the hash
        // path; a mix of types: the nested loop. Both must agree with a plain
        // pairwise evaluation in left-then-right order.
        let mut rows = Vec::new();
        for i in 0..40i64 {
            rows.push(entry(0, i % 7, &format!("l{i}")));
            rows.push(entry(1, i % 5, &format!("r{i}")));
        }
        let v_gt = |s: &str| {
            let col = Box::new(ScalarExpr::Column(ColumnRef { source: 1, slot: 3, name: "v".into() }));
            ScalarExpr::Binary {
                op: BinaryOp::Gt,
                left: col,
                right: Box::new(ScalarExpr::Literal(oort_compiler::plan::Literal::String(s.into()))),
            }
        };
        for kind in [JoinKind::Inner, JoinKind::Left] {
            for extra in [None, Some(v_gt("r2"))] {
                let got = joined(kind, &rows, extra.clone()).expect("join");
                let mut want = Vec::new();
                for l in rows.iter().filter(|e| e.source == 0) {
                    let mut hit = false;
                    for r in rows.iter().filter(|e| e.source == 1) {
                        let pass = extra.is_none() || matches!(&r.row.slots[3], Value::String(v) if &**v > "r2");
                        if l.row.slots[0] == r.row.slots[2] && pass {
                            hit = true;
                            want.push((l.row.slots[1].clone(), r.row.slots[3].clone()));
                        }
                    }
                    if !hit && kind == JoinKind::Left {
                        want.push((l.row.slots[1].clone(), Value::Null));
                    }
                }
                assert_eq!(got, want, "{kind:?} {extra:?}");
            }
        }
        // String keys take the hash path too.
        let mut strings = rows.clone();
        for e in strings.iter_mut() {
            let k = if e.source == 0 { 0 } else { 2 };
            if let Value::Int(i) = e.row.slots[k] {
                e.row.slots[k] = Value::str(&i.to_string());
            }
        }
        assert_eq!(joined(JoinKind::Inner, &strings, None), joined(JoinKind::Inner, &rows, None));
    }

    #[test]
    fn a_key_of_another_type_takes_the_nested_loop_and_its_error() {
        // One right key is a string among integers: no hash path, and the
        // comparison error fails the pane exactly as before.
        let rows = vec![entry(0, 1, "a"), entry(1, 1, "x"), {
            let mut e = entry(1, 0, "y");
            e.row.slots[2] = Value::str("1");
            e
        }];
        let err = joined(JoinKind::Inner, &rows, None).expect_err("a join error");
        assert!(err.starts_with("run Join error: invalid operation"), "{err}");
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

    #[test]
    fn a_joined_rows_star_is_the_wildcard_objects_fields() {
        // Both inputs declare `id` and `v`: the first input's value wins
        // unless it is null; a null everywhere leaves the name out.
        let p = Arc::new(plan());
        let ev = Evaluator::new(p.clone());
        let rows = [
            [Value::Int(1), Value::str("a"), Value::Int(2), Value::str("b")],
            [Value::Null, Value::str("a"), Value::Int(2), Value::Null],
            [Value::Null, Value::Null, Value::Null, Value::str("b")],
            [Value::Null, Value::Null, Value::Null, Value::Null],
        ];
        for slots in rows {
            let row = Row { slots: slots.to_vec(), meta: None, ts: 0 };
            for source in [None, Some(0), Some(1)] {
                let fields = ev.wildcard_fields(&row, &oort_compiler::plan::ProjectItem::Wildcard { source });
                let expected: Vec<(Arc<str>, Value)> =
                    ev.wildcard_object(&row, source).into_iter().map(|(k, v)| (Arc::from(k.as_str()), v)).collect();
                assert_eq!(fields, expected, "{slots:?} {source:?}");
            }
        }
        // A source that keeps undeclared fields takes the general path.
        let mut q = plan();
        q.sources[1].rest_slot = Some(3);
        let ev = Evaluator::new(Arc::new(q));
        let mut rest = crate::value::Map::new();
        rest.insert("extra".into(), Value::Int(7));
        let row =
            Row { slots: vec![Value::Int(1), Value::Null, Value::Int(2), Value::object(rest)], meta: None, ts: 0 };
        let fields = ev.wildcard_fields(&row, &oort_compiler::plan::ProjectItem::Wildcard { source: None });
        let expected: Vec<(Arc<str>, Value)> =
            ev.wildcard_object(&row, None).into_iter().map(|(k, v)| (Arc::from(k.as_str()), v)).collect();
        assert_eq!(fields, expected);
        assert_eq!(fields.first().map(|(k, v)| (&**k, v)), Some(("extra", &Value::Int(7))));
    }
}
