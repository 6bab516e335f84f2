//! Shared scans: many row-at-a-time rules over one stream, one dataflow.
//!
//! A rule shaped `SELECT … FROM s [WHERE …]` — one stream, no window, no
//! join, no analytic function, processing time — keeps no state between
//! rows, so every such rule over the same source layout can be served by one
//! dataflow that decodes each record once (the runtime's stream group) and
//! hands the row to each member rule's [`RowQuery`]. This module owns the
//! member table of such a group: [`fusable`] says which plans may join and
//! [`group_key`] which plans may share a group; [`SharedScan`] holds the
//! members, each with its own query state and sink, and an index of their
//! leading `column = 'literal'` conjuncts, so that a record is evaluated only
//! by the rules whose WHERE can hold for it (10,000 rules `WHERE deviceId =
//! "d<i>" AND …` cost a hash lookup per record, not 10,000 evaluations).
//!
//! Skipping a rule is exact: the indexed conjunct is the first thing its
//! WHERE evaluates (the leftmost leaf of its `AND` chain, which short-
//! circuits), and a row is looked up only when its value there is a string
//! (comparing a string to a string never fails); any other value — null, a
//! number, a missing field — sends the row to every rule indexed on that
//! column, which then evaluate it fully, errors included.

use crate::query::{Emission, RenderError, RowQuery};
use crate::render::{self, ItemStream, SinkFn};
use crate::source::Item;
use crate::time::Time;
use crate::value::Value;
use oort_compiler::catalog::StreamKind;
use oort_compiler::plan::{BinaryOp, Literal, LogicalPlan, RulePlan, ScalarExpr};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::ProbeHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;

/// Renders a group's scan: every batch of decoded items reaching the
/// operator goes through `scan` (whose members' sinks receive their
/// emissions there). The caller keeps `scan` to add and remove members.
pub fn render(items: ItemStream<'_>, scan: Rc<RefCell<SharedScan>>) -> ProbeHandle<Time> {
    let scanned =
        items.unary::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(Pipeline, "SharedScan", move |_cap, _info| {
            move |input, _output| {
                input.for_each_time(|cap, data| {
                    let mut scan = scan.borrow_mut();
                    for batch in data {
                        scan.process(*cap.time(), batch);
                        crate::source::recycle_batch(batch);
                    }
                });
            }
        });
    scanned.probe().0
}

/// Whether `plan` can be a member of a shared scan: one stream (not a table),
/// a row-at-a-time query without per-rule state, processing time.
pub fn fusable(plan: &Arc<RulePlan>) -> bool {
    plan.sources.len() == 1
        && plan.sources[0].def.kind == StreamKind::Stream
        && !plan.options.is_event_time
        && render::is_row_query(&plan.root)
        && RowQuery::new(plan.clone()).is_ok_and(|q| !q.is_stateful())
}

/// Plans with equal keys decode their records identically and may share a
/// group: the same stream definition and slot layout, and — under
/// `STRICT_VALIDATION`, where a bad value in a field fails the record only for
/// rules that read the field — the same fields read. (Without strict
/// validation a field a rule does not read never changes its output.)
pub fn group_key(plan: &RulePlan, used: &[bool]) -> String {
    let Some(source) = plan.sources.first() else {
        return String::new();
    };
    let strict = source.def.options.strict_validation;
    let layout = (&source.def, source.offset, &source.slots, source.rest_slot, plan.width, strict.then_some(used));
    serde_json::to_string(&layout).unwrap_or_default()
}

/// The leading `column = 'string literal'` conjunct of a WHERE: `(slot, literal)`.
fn leading_equality(plan: &RulePlan) -> Option<(usize, Box<str>)> {
    let LogicalPlan::Project { input, .. } = &plan.root else { return None };
    let LogicalPlan::Filter { predicate, .. } = &**input else { return None };
    let mut e = predicate;
    while let ScalarExpr::Binary { op: BinaryOp::And, left, .. } = e {
        e = left;
    }
    let ScalarExpr::Binary { op: BinaryOp::Eq, left, right } = e else { return None };
    match (&**left, &**right) {
        (ScalarExpr::Column(c), ScalarExpr::Literal(Literal::String(s)))
        | (ScalarExpr::Literal(Literal::String(s)), ScalarExpr::Column(c)) => Some((c.slot, s.as_str().into())),
        _ => None,
    }
}

/// One member rule of a shared scan.
struct Member {
    id: String,
    generation: u64,
    query: RowQuery,
    sink: SinkFn,
    /// Where the member sits in the index (`None`: it sees every row).
    indexed: Option<(usize, Box<str>)>,
    /// Emissions of the batch being processed, handed to `sink` once per batch.
    pending: Vec<Emission>,
}

/// The members of one stream group and the index of their WHERE clauses.
#[derive(Default)]
pub struct SharedScan {
    /// Members by position; `None` marks a free place.
    members: Vec<Option<Member>>,
    free: Vec<usize>,
    /// Member positions by rule id.
    by_id: HashMap<String, usize>,
    /// Rules that take no rows for now (their sinks are behind).
    behind: HashSet<String>,
    /// slot → literal → members whose leading conjunct is `slot = literal`.
    index: HashMap<usize, HashMap<Box<str>, Vec<usize>>>,
    /// Members without an indexable conjunct: they see every row.
    unindexed: Vec<usize>,
    /// Members with emissions pending in the current batch.
    touched: Vec<usize>,
    scratch: Vec<Emission>,
    candidates: Vec<usize>,
}

impl SharedScan {
    /// Adds rule `(id, generation)` with its plan and sink.
    pub fn add(&mut self, id: &str, generation: u64, plan: Arc<RulePlan>, sink: SinkFn) -> Result<(), RenderError> {
        let indexed = leading_equality(&plan);
        let query = RowQuery::new(plan)?;
        self.remove_id(id);
        let member =
            Member { id: id.to_string(), generation, query, sink, indexed: indexed.clone(), pending: Vec::new() };
        let at = match self.free.pop() {
            Some(at) => {
                self.members[at] = Some(member);
                at
            }
            None => {
                self.members.push(Some(member));
                self.members.len() - 1
            }
        };
        self.by_id.insert(id.to_string(), at);
        match indexed {
            Some((slot, literal)) => self.index.entry(slot).or_default().entry(literal).or_default().push(at),
            None => self.unindexed.push(at),
        }
        Ok(())
    }

    /// Removes rule `(id, generation)` (its sink is dropped); whether it was a member.
    pub fn remove(&mut self, id: &str, generation: u64) -> bool {
        let found = self.by_id.get(id).and_then(|&at| self.members.get(at)?.as_ref()).map(|m| m.generation);
        found == Some(generation) && self.remove_id(id)
    }

    /// Whether rule `id` (any generation) is a member.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Marks the members whose sinks are behind: until the next call they
    /// are not evaluated (the caller counts what they miss).
    pub fn set_behind(&mut self, ids: HashSet<String>) {
        self.behind = ids;
    }

    /// Whether rule `id` is marked behind ([`Self::set_behind`]).
    pub fn is_behind(&self, id: &str) -> bool {
        self.behind.contains(id)
    }

    fn remove_id(&mut self, id: &str) -> bool {
        let Some(at) = self.by_id.remove(id) else { return false };
        let Some(member) = self.members.get_mut(at).and_then(Option::take) else { return false };
        self.free.push(at);
        match member.indexed {
            Some((slot, literal)) => {
                if let Some(by_literal) = self.index.get_mut(&slot) {
                    if let Some(list) = by_literal.get_mut(&literal) {
                        list.retain(|&m| m != at);
                        if list.is_empty() {
                            by_literal.remove(&literal);
                        }
                    }
                    if by_literal.is_empty() {
                        self.index.remove(&slot);
                    }
                }
            }
            None => self.unindexed.retain(|&m| m != at),
        }
        true
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len() - self.free.len()
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs a batch of items (all at `time`) through every member whose WHERE
    /// can hold, then hands each member's emissions to its sink at once.
    /// Members marked behind ([`Self::set_behind`]) are not evaluated.
    pub fn process(&mut self, time: Time, items: &[Item]) {
        for item in items {
            self.candidates.clear();
            match item {
                Item::Error(_) => {
                    self.candidates.extend(self.members.iter().enumerate().filter_map(|(i, m)| m.as_ref().map(|_| i)))
                }
                Item::Row(row) => {
                    self.candidates.extend_from_slice(&self.unindexed);
                    for (slot, by_literal) in &self.index {
                        match row.slots.get(*slot) {
                            Some(Value::String(s)) => {
                                if let Some(list) = by_literal.get(&**s) {
                                    self.candidates.extend_from_slice(list);
                                }
                            }
                            _ => self.candidates.extend(by_literal.values().flatten()),
                        }
                    }
                }
            }
            for &at in &self.candidates {
                let Some(m) = self.members.get_mut(at).and_then(Option::as_mut) else { continue };
                if !self.behind.is_empty() && self.behind.contains(&m.id) {
                    continue;
                }
                m.query.process(item, &mut self.scratch);
                if !self.scratch.is_empty() {
                    if m.pending.is_empty() {
                        self.touched.push(at);
                    }
                    m.pending.append(&mut self.scratch);
                }
            }
        }
        for at in self.touched.drain(..) {
            if let Some(m) = self.members.get_mut(at).and_then(Option::as_mut) {
                (m.sink)(time, &mut m.pending);
                m.pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Row;
    use oort_compiler::catalog::StreamDef;
    use std::collections::BTreeMap;

    fn plan(sql: &str) -> Arc<RulePlan> {
        let mut streams = BTreeMap::new();
        let def: StreamDef = oort_compiler::parse_stream_ddl(
            r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT) WITH (DATASOURCE="d", FORMAT="JSON")"#,
        )
        .unwrap();
        streams.insert(def.name.clone(), def);
        Arc::new(oort_compiler::compile_rule(sql, &streams, Default::default()).unwrap())
    }

    fn row(device: Value, temperature: f64) -> Item {
        Item::Row(Row { slots: vec![device, Value::Float(temperature)], meta: None, ts: 0 })
    }

    type Seen = Rc<RefCell<Vec<(String, Emission)>>>;

    fn sink(name: &str, seen: &Seen) -> SinkFn {
        let (name, seen) = (name.to_string(), seen.clone());
        Box::new(move |_t, batch| seen.borrow_mut().extend(batch.drain(..).map(|e| (name.clone(), e))))
    }

    fn rows_of(seen: &Seen, name: &str) -> usize {
        seen.borrow().iter().filter(|(n, e)| n == name && matches!(e, Emission::Rows(_))).count()
    }

    #[test]
    fn which_plans_fuse_and_share() {
        let fused = [
            "SELECT * FROM demo",
            "SELECT deviceId FROM demo WHERE temperature > 3",
            "SELECT upper(deviceId) AS d FROM demo WHERE deviceId = 'a' AND temperature > 1",
        ];
        for sql in fused {
            assert!(fusable(&plan(sql)), "{sql}");
        }
        let alone = [
            "SELECT count(*) FROM demo GROUP BY TUMBLINGWINDOW(ss, 1)",
            "SELECT lag(temperature) AS l FROM demo",
            "SELECT deviceId FROM demo WHERE last_hit_count() > 1",
        ];
        for sql in alone {
            assert!(!fusable(&plan(sql)), "{sql}");
        }
        let (a, b) = (plan("SELECT * FROM demo"), plan("SELECT deviceId FROM demo WHERE temperature > 1"));
        assert_eq!(group_key(&a, &[true, true]), group_key(&b, &[true, true]));
    }

    #[test]
    fn leading_equalities_are_indexed_and_others_see_every_row() {
        assert_eq!(
            leading_equality(&plan("SELECT * FROM demo WHERE deviceId = 'd1' AND temperature > 1")),
            Some((0, "d1".into()))
        );
        assert_eq!(leading_equality(&plan("SELECT * FROM demo WHERE 'd2' = deviceId")), Some((0, "d2".into())));
        assert_eq!(leading_equality(&plan("SELECT * FROM demo WHERE temperature > 1 AND deviceId = 'd1'")), None);
        assert_eq!(leading_equality(&plan("SELECT * FROM demo WHERE deviceId = 'd1' OR temperature > 1")), None);
    }

    #[test]
    fn each_member_gets_exactly_its_rows() {
        let seen: Seen = Rc::default();
        let mut scan = SharedScan::default();
        scan.add("a", 1, plan("SELECT * FROM demo WHERE deviceId = 'd1' AND temperature > 10"), sink("a", &seen))
            .unwrap();
        scan.add("b", 1, plan("SELECT * FROM demo WHERE deviceId = 'd2'"), sink("b", &seen)).unwrap();
        scan.add("c", 1, plan("SELECT deviceId FROM demo WHERE temperature > 20"), sink("c", &seen)).unwrap();
        let items = vec![
            row(Value::str("d1"), 15.0),
            row(Value::str("d1"), 5.0),
            row(Value::str("d2"), 25.0),
            row(Value::str("d3"), 30.0),
        ];
        scan.process(0, &items);
        assert_eq!((rows_of(&seen, "a"), rows_of(&seen, "b"), rows_of(&seen, "c")), (1, 1, 2));
        assert!(!scan.remove("b", 2), "another generation");
        assert!(scan.remove("b", 1));
        assert!(!scan.remove("b", 1));
        scan.set_behind(["c".to_string()].into());
        scan.process(1, &items);
        assert_eq!((rows_of(&seen, "a"), rows_of(&seen, "b"), rows_of(&seen, "c")), (2, 1, 2));
        assert_eq!(scan.len(), 2);
    }

    #[test]
    fn a_non_string_value_is_evaluated_by_every_indexed_member() {
        let seen: Seen = Rc::default();
        let mut scan = SharedScan::default();
        scan.add("a", 1, plan("SELECT * FROM demo WHERE deviceId = 'd1'"), sink("a", &seen)).unwrap();
        // deviceId holds a number: comparing it to a string is an error, reported as without the index.
        scan.process(0, &[row(Value::Int(3), 1.0)]);
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1);
        assert!(matches!(&seen[0].1, Emission::Error(e) if e.starts_with("run Where error")), "{seen:?}");
    }
}
