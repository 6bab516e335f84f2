//! Expression evaluation with eKuiper's semantics.
//!
//! An [`Evaluator`] is built once per rule (per worker) from the plan. It
//! resolves every function call site to its implementation up front (a
//! `call_id`-indexed table), owns the state of analytic functions (`lag`,
//! `changed_col`, … — per call site and per `PARTITION BY` key), and memoises
//! analytic results per row so a call that alias inlining placed in several
//! expressions steps its state once.
//!
//! Semantics follow eKuiper's valuer: int op int stays int (Go integer
//! division), mixing int and float gives float, a null operand makes
//! arithmetic null and comparisons false, and operands of incompatible types
//! are an error (`invalid operation string(string) >= int64(3)`), which the
//! calling operator turns into an error row.

use crate::functions::{self, AnalyticFunction, ScalarFn};
use crate::value::{Map, Row, Value};
use oort_compiler::plan::{BinaryOp, FunctionCall, ProjectItem, RulePlan, ScalarExpr, UnaryOp};
use std::collections::HashMap;
use std::sync::Arc;

/// An evaluation error: the message eKuiper would show (without the operator prefix).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

type EvalResult = Result<Value, EvalError>;

fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

/// What a row is evaluated against besides its own slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupContext<'a> {
    /// Aggregate results of the current group (indexed by `ScalarExpr::Aggregate`).
    pub aggregates: &'a [Value],
    /// `(window_start, window_end)` in ms, inside a window.
    pub window: Option<(u64, u64)>,
    /// 1-based position of the row in its emission (`row_number()`).
    pub row_number: u64,
    /// For an aggregated group: its time (the window end), which `event_time()` returns.
    pub group_time: Option<u64>,
}

/// Rule-level counters that `last_hit_count()` / `last_hit_time()` (rows that
/// passed WHERE) and `last_agg_hit_*` (groups that passed HAVING) read.
#[derive(Debug, Clone, Copy, Default)]
pub struct HitState {
    /// Rows emitted so far.
    pub hit_count: i64,
    /// Time of the last emitted row.
    pub hit_time: i64,
    /// Groups emitted so far.
    pub agg_hit_count: i64,
    /// Time of the last emitted group.
    pub agg_hit_time: i64,
}

enum CallImpl {
    Scalar(ScalarFn),
    /// A plugin function (see [`functions::external`]).
    External(functions::external::ExternalScalar),
    Analytic {
        /// One state per partition key (empty key without PARTITION BY).
        states: HashMap<Vec<u8>, Box<dyn AnalyticFunction>>,
        make: Box<dyn Fn() -> Option<Box<dyn AnalyticFunction>> + Send>,
    },
    Context(ContextFn),
    Unnest,
    Unknown(String),
}

#[derive(Clone, Copy)]
enum ContextFn {
    WindowStart,
    WindowEnd,
    EventTime,
    RowNumber,
    LastHitCount,
    LastHitTime,
    LastAggHitCount,
    LastAggHitTime,
    RuleId,
}

/// Evaluates a rule's expressions; one per rule per worker.
pub struct Evaluator {
    plan: Arc<RulePlan>,
    calls: Vec<CallImpl>,
    memo: Vec<Option<Value>>,
    memo_used: Vec<usize>,
    /// Analytic call sites in post-order (arguments before the calls that use them).
    analytic_sites: Vec<FunctionCall>,
    /// Hit counters (updated by the operators that emit).
    pub hits: HitState,
    /// What `*` expands to, worked out on first use (an evaluator that never
    /// expands one, or a rule among thousands that seldom gets a row, holds
    /// none): index 0 for all sources, `i + 1` for source `i` (see
    /// [`WildcardLayout`]).
    wildcards: Vec<std::cell::OnceCell<Option<WildcardLayout>>>,
}

/// The fields `*` (or `source.*`) expands to when no source involved keeps
/// undeclared fields (a schemaless stream's rest object): each name once,
/// in name order (the order of [`Evaluator::wildcard_object`]'s map), with
/// the slots that may give its value in source order (an earlier source wins
/// a name clash unless its value is null).
type WildcardLayout = Vec<(Arc<str>, smallvec::SmallVec<[usize; 2]>)>;

fn wildcard_layout(plan: &RulePlan, source: Option<usize>) -> Option<WildcardLayout> {
    let mut by_name: std::collections::BTreeMap<&str, smallvec::SmallVec<[usize; 2]>> =
        std::collections::BTreeMap::new();
    for (i, s) in plan.sources.iter().enumerate() {
        if source.is_some_and(|x| x != i) {
            continue;
        }
        if s.rest_slot.is_some() {
            return None;
        }
        for (j, def) in s.slots.iter().enumerate() {
            by_name.entry(def.name.as_str()).or_default().push(s.offset + j);
        }
    }
    Some(by_name.into_iter().map(|(name, slots)| (Arc::from(name), slots)).collect())
}

impl Evaluator {
    /// Resolves every call site of `plan`.
    pub fn new(plan: Arc<RulePlan>) -> Self {
        let mut calls: Vec<CallImpl> = (0..plan.call_sites).map(|_| CallImpl::Unknown(String::new())).collect();
        let mut sites = Vec::new();
        crate::plan_walk::for_each_call(&plan.root, &mut |c| sites.push(c.clone()));
        let mut analytic_sites: Vec<FunctionCall> = Vec::new();
        for c in sites {
            if c.call_id >= calls.len() {
                calls.resize_with(c.call_id + 1, || CallImpl::Unknown(String::new()));
            }
            if matches!(calls[c.call_id], CallImpl::Unknown(_)) {
                calls[c.call_id] = resolve(&c, &plan);
            }
            if matches!(calls[c.call_id], CallImpl::Analytic { .. })
                && !analytic_sites.iter().any(|a| a.call_id == c.call_id)
            {
                analytic_sites.push(c);
            }
        }
        let n = calls.len();
        let wildcards = (0..=plan.sources.len()).map(|_| std::cell::OnceCell::new()).collect();
        Self {
            plan,
            calls,
            memo: vec![None; n],
            memo_used: Vec::new(),
            analytic_sites,
            hits: HitState::default(),
            wildcards,
        }
    }

    /// The plan this evaluator serves.
    pub fn plan(&self) -> &Arc<RulePlan> {
        &self.plan
    }

    /// Forget per-row memoised analytic results; call before evaluating a new row.
    pub fn next_row(&mut self) {
        for i in self.memo_used.drain(..) {
            self.memo[i] = None;
        }
    }

    /// Whether the rule has analytic (stateful) calls; such rules need one ordered stream.
    pub fn has_analytics(&self) -> bool {
        !self.analytic_sites.is_empty()
    }

    /// Starts a new row: forgets memoised results, then steps every analytic
    /// call site on it (eKuiper computes analytic functions for each incoming
    /// row before WHERE, so `lag` also sees rows the filter drops).
    pub fn begin_row(&mut self, row: &Row, g: GroupContext) -> Result<(), EvalError> {
        self.next_row();
        if self.analytic_sites.is_empty() {
            return Ok(());
        }
        let sites = std::mem::take(&mut self.analytic_sites);
        let mut result = Ok(());
        for c in &sites {
            if let Err(e) = self.eval_call(c, row, g) {
                result = Err(e);
                break;
            }
        }
        self.analytic_sites = sites;
        result
    }

    /// The analytic results memoised for the current row, to restore later
    /// (a windowed rule computes analytic functions when a row arrives, and
    /// projects it when its window fires).
    pub fn memo_snapshot(&self) -> Vec<(usize, Value)> {
        self.memo_used.iter().filter_map(|&i| self.memo[i].clone().map(|v| (i, v))).collect()
    }

    /// Starts evaluating a row whose analytic results were captured by [`Self::memo_snapshot`].
    pub fn restore_memo(&mut self, memo: &[(usize, Value)]) {
        self.next_row();
        for (i, v) in memo {
            if let Some(slot) = self.memo.get_mut(*i) {
                *slot = Some(v.clone());
                self.memo_used.push(*i);
            }
        }
    }

    /// Evaluates a predicate: `Ok(true)` only for boolean true; null is false.
    pub fn eval_condition(&mut self, expr: &ScalarExpr, row: &Row, g: GroupContext) -> Result<bool, EvalError> {
        let v = match expr {
            ScalarExpr::Binary { op, left, right } => match compare_in_place(*op, left, right, row) {
                Some(v) => v?,
                None => self.eval(expr, row, g)?,
            },
            _ => self.eval(expr, row, g)?,
        };
        match v.as_condition() {
            Some(b) => Ok(b),
            None => err(format!("invalid condition that returns non-bool value {}", v.go_describe())),
        }
    }

    /// Evaluates an expression against one row.
    pub fn eval(&mut self, expr: &ScalarExpr, row: &Row, g: GroupContext) -> EvalResult {
        match expr {
            ScalarExpr::Literal(l) => Ok(literal(l)),
            ScalarExpr::Column(c) => Ok(row.slots.get(c.slot).cloned().unwrap_or(Value::Null)),
            ScalarExpr::Wildcard { source } => Ok(Value::object(self.wildcard_object(row, *source))),
            ScalarExpr::Meta { key } => Ok(meta_value(row, key)),
            ScalarExpr::Unary { op, expr } => {
                let v = self.eval(expr, row, g)?;
                unary(*op, v)
            }
            ScalarExpr::Binary { op, left, right } => match op {
                BinaryOp::And => {
                    let l = self.eval(left, row, g)?;
                    if !truthy(&l, "AND")? {
                        return Ok(Value::Bool(false));
                    }
                    let r = self.eval(right, row, g)?;
                    Ok(Value::Bool(truthy(&r, "AND")?))
                }
                BinaryOp::Or => {
                    let l = self.eval(left, row, g)?;
                    if truthy(&l, "OR")? {
                        return Ok(Value::Bool(true));
                    }
                    let r = self.eval(right, row, g)?;
                    Ok(Value::Bool(truthy(&r, "OR")?))
                }
                _ => {
                    if let Some(v) = compare_in_place(*op, left, right, row) {
                        return v;
                    }
                    let l = self.eval(left, row, g)?;
                    let r = self.eval(right, row, g)?;
                    binary(*op, &l, &r)
                }
            },
            ScalarExpr::Case { operand, whens, else_ } => {
                let subject = match operand {
                    Some(o) => Some(self.eval(o, row, g)?),
                    None => None,
                };
                for (w, t) in whens {
                    let wv = self.eval(w, row, g)?;
                    let hit = match &subject {
                        Some(s) => values_equal(s, &wv),
                        None => truthy(&wv, "CASE WHEN")?,
                    };
                    if hit {
                        return self.eval(t, row, g);
                    }
                }
                match else_ {
                    Some(e) => self.eval(e, row, g),
                    None => Ok(Value::Null),
                }
            }
            ScalarExpr::In { expr, list, negated } => {
                let v = self.eval(expr, row, g)?;
                let mut found = false;
                for item in list {
                    let iv = self.eval(item, row, g)?;
                    let hit = match &iv {
                        Value::Array(a) if list.len() == 1 => a.iter().any(|x| values_equal(&v, x)),
                        _ => values_equal(&v, &iv),
                    };
                    if hit {
                        found = true;
                        break;
                    }
                }
                Ok(Value::Bool(found != *negated))
            }
            ScalarExpr::Between { expr, low, high, negated } => {
                let v = self.eval(expr, row, g)?;
                let lo = self.eval(low, row, g)?;
                let hi = self.eval(high, row, g)?;
                if v.is_null() || lo.is_null() || hi.is_null() {
                    return Ok(Value::Bool(false));
                }
                let ge = binary(BinaryOp::GtEq, &v, &lo)?;
                let le = binary(BinaryOp::LtEq, &v, &hi)?;
                let inside = ge == Value::Bool(true) && le == Value::Bool(true);
                Ok(Value::Bool(inside != *negated))
            }
            ScalarExpr::Like { expr, pattern, negated } => {
                let v = self.eval(expr, row, g)?;
                let p = self.eval(pattern, row, g)?;
                match (&v, &p) {
                    (Value::Null, _) | (_, Value::Null) => Ok(Value::Bool(false)),
                    (Value::String(s), Value::String(p)) => Ok(Value::Bool(like(s, p) != *negated)),
                    _ => err(format!("LIKE operator left operand expects string, but found {}", v.go_describe())),
                }
            }
            ScalarExpr::Index { expr, index } => {
                let v = self.eval(expr, row, g)?;
                let i = self.eval(index, row, g)?;
                index_value(&v, &i)
            }
            ScalarExpr::Slice { expr, start, end } => {
                let v = self.eval(expr, row, g)?;
                let s = match start {
                    Some(s) => Some(self.eval(s, row, g)?),
                    None => None,
                };
                let e = match end {
                    Some(e) => Some(self.eval(e, row, g)?),
                    None => None,
                };
                slice_value(&v, s.as_ref(), e.as_ref())
            }
            ScalarExpr::Field { expr, name } => {
                let v = self.eval(expr, row, g)?;
                match v {
                    Value::Object(m) => Ok(m.get(name).cloned().unwrap_or(Value::Null)),
                    Value::Null => Ok(Value::Null),
                    other => err(format!("the value should be map but found {}", other.go_describe())),
                }
            }
            ScalarExpr::Call(call) => self.eval_call(call, row, g),
            ScalarExpr::Aggregate { index } => Ok(g.aggregates.get(*index).cloned().unwrap_or(Value::Null)),
        }
    }

    fn eval_call(&mut self, call: &FunctionCall, row: &Row, g: GroupContext) -> EvalResult {
        if let Some(Some(v)) = self.memo.get(call.call_id) {
            return Ok(v.clone());
        }
        let mut args = Vec::with_capacity(call.args.len());
        let needs_args = !matches!(self.calls.get(call.call_id), Some(CallImpl::Context(_)));
        if needs_args {
            for a in &call.args {
                args.push(self.eval(a, row, g)?);
            }
        }
        let update = match &call.when {
            Some(w) => self.eval_condition(w, row, g)?,
            None => true,
        };
        let mut key = Vec::new();
        for p in &call.partition_by {
            self.eval(p, row, g)?.group_key(&mut key);
        }
        let hits = self.hits;
        let Some(imp) = self.calls.get_mut(call.call_id) else {
            return err(format!("function {} is not resolved", call.name));
        };
        let v = match imp {
            CallImpl::Scalar(f) => return f(&args).map_err(EvalError),
            CallImpl::External(f) => return f(&args).map_err(EvalError),
            CallImpl::Context(c) => {
                return Ok(match c {
                    ContextFn::WindowStart => g.window.map(|w| Value::Int(w.0 as i64)).unwrap_or(Value::Int(0)),
                    ContextFn::WindowEnd => g.window.map(|w| Value::Int(w.1 as i64)).unwrap_or(Value::Int(0)),
                    ContextFn::EventTime => Value::Int(g.group_time.unwrap_or(row.ts) as i64),
                    ContextFn::RowNumber => Value::Int(g.row_number.max(1) as i64),
                    ContextFn::LastHitCount => Value::Int(hits.hit_count),
                    ContextFn::LastHitTime => Value::Int(hits.hit_time),
                    ContextFn::LastAggHitCount => Value::Int(hits.agg_hit_count),
                    ContextFn::LastAggHitTime => Value::Int(hits.agg_hit_time),
                    ContextFn::RuleId => Value::str(&self.plan.rule_id),
                });
            }
            CallImpl::Analytic { states, make } => {
                let state = match states.entry(key) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => match make() {
                        Some(s) => v.insert(s),
                        None => return err(format!("function {} is not available", call.name)),
                    },
                };
                state.call(&args, update).map_err(EvalError)?
            }
            CallImpl::Unnest => match args.into_iter().next() {
                Some(v @ Value::Array(_)) => v,
                Some(Value::Null) => Value::Null,
                _ => return err("the argument for the unnest function should be array"),
            },
            CallImpl::Unknown(name) => return err(format!("function {name} is not implemented yet")),
        };
        if let Some(slot) = self.memo.get_mut(call.call_id) {
            *slot = Some(v.clone());
            self.memo_used.push(call.call_id);
        }
        Ok(v)
    }

    /// All fields of a row (or of one source) as an object, for `*`.
    pub fn wildcard_object(&self, row: &Row, source: Option<usize>) -> Map {
        let mut m = Map::new();
        for (i, s) in self.plan.sources.iter().enumerate() {
            if source.is_some_and(|x| x != i) {
                continue;
            }
            if let Some(rest) = s.rest_slot
                && let Some(Value::Object(r)) = row.slots.get(rest)
            {
                for (k, v) in r.iter() {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            for (j, def) in s.slots.iter().enumerate() {
                if let Some(v) = row.slots.get(s.offset + j)
                    && !v.is_null()
                {
                    // An earlier source wins a name clash (eKuiper's join `*`).
                    m.entry(def.name.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        m
    }

    /// Field names and values a `ProjectItem::Wildcard` expands to, in output order.
    pub fn wildcard_fields(&self, row: &Row, item: &ProjectItem) -> Vec<(Arc<str>, Value)> {
        let source = match item {
            ProjectItem::Wildcard { source } => *source,
            ProjectItem::Expr { .. } => return Vec::new(),
        };
        let layout = self
            .wildcards
            .get(source.map_or(0, |i| i + 1))
            .and_then(|cell| cell.get_or_init(|| wildcard_layout(&self.plan, source)).as_ref());
        let Some(layout) = layout else {
            return self.wildcard_object(row, source).into_iter().map(|(k, v)| (Arc::from(k.as_str()), v)).collect();
        };
        let mut out = Vec::with_capacity(layout.len());
        for (name, slots) in layout {
            if let Some(v) = slots.iter().filter_map(|s| row.slots.get(*s)).find(|v| !v.is_null()) {
                out.push((name.clone(), v.clone()));
            }
        }
        out
    }
}

fn resolve(c: &FunctionCall, plan: &RulePlan) -> CallImpl {
    let ctx = match c.name.as_str() {
        "window_start" => Some(ContextFn::WindowStart),
        "window_end" => Some(ContextFn::WindowEnd),
        "event_time" => Some(ContextFn::EventTime),
        "row_number" => Some(ContextFn::RowNumber),
        "last_hit_count" => Some(ContextFn::LastHitCount),
        "last_hit_time" => Some(ContextFn::LastHitTime),
        "last_agg_hit_count" => Some(ContextFn::LastAggHitCount),
        "last_agg_hit_time" => Some(ContextFn::LastAggHitTime),
        "rule_id" => Some(ContextFn::RuleId),
        _ => None,
    };
    if let Some(f) = ctx {
        return CallImpl::Context(f);
    }
    if c.name == "unnest" {
        return CallImpl::Unnest;
    }
    if let Some(f) = functions::scalar(&c.name) {
        return CallImpl::Scalar(f);
    }
    if c.name == "changed_cols" {
        let names: Vec<String> = c.args.iter().skip(2).map(|a| output_name_of(a, plan)).collect();
        return CallImpl::Analytic {
            states: HashMap::new(),
            make: Box::new(move || Some(functions::changed_cols(names.clone()))),
        };
    }
    if functions::analytic(&c.name).is_some() {
        let name = c.name.clone();
        return CallImpl::Analytic { states: HashMap::new(), make: Box::new(move || functions::analytic(&name)) };
    }
    if let Some(f) = functions::external::scalar(&c.name, &plan.rule_id) {
        return CallImpl::External(f);
    }
    CallImpl::Unknown(c.name.clone())
}

fn output_name_of(e: &ScalarExpr, _plan: &RulePlan) -> String {
    match e {
        ScalarExpr::Column(c) => c.name.clone(),
        ScalarExpr::Field { name, .. } => name.clone(),
        ScalarExpr::Call(c) => c.name.clone(),
        _ => String::new(),
    }
}

/// A comparison of columns and literals, evaluated on the row's values in
/// place (no clone of a column's value, no string literal allocated); `None`
/// for anything else, which the general path evaluates. Same result as
/// [`binary`] on the evaluated operands.
fn compare_in_place(op: BinaryOp, left: &ScalarExpr, right: &ScalarExpr, row: &Row) -> Option<EvalResult> {
    use BinaryOp::*;
    use oort_compiler::plan::Literal;
    if !matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq) {
        return None;
    }
    const NULL: Value = Value::Null;
    let column = |c: &oort_compiler::plan::ColumnRef| row.slots.get(c.slot).unwrap_or(&NULL);
    Some(match (left, right) {
        (ScalarExpr::Column(a), ScalarExpr::Column(b)) => binary(op, column(a), column(b)),
        (ScalarExpr::Column(a), ScalarExpr::Literal(l)) => match (column(a), l) {
            (Value::String(x), Literal::String(y)) => Ok(Value::Bool(ordering_holds(op, (**x).cmp(y.as_str())))),
            (v, l) => match numeric_cmp(v, l, false) {
                Some(ord) => Ok(Value::Bool(ord.map_or(op == NotEq, |o| ordering_holds(op, o)))),
                None => binary(op, v, &literal(l)),
            },
        },
        (ScalarExpr::Literal(l), ScalarExpr::Column(b)) => match (l, column(b)) {
            (Literal::String(x), Value::String(y)) => Ok(Value::Bool(ordering_holds(op, x.as_str().cmp(&**y)))),
            (l, v) => match numeric_cmp(v, l, true) {
                Some(ord) => Ok(Value::Bool(ord.map_or(op == NotEq, |o| ordering_holds(op, o)))),
                None => binary(op, &literal(l), v),
            },
        },
        _ => return None,
    })
}

/// A number compared with a numeric literal as [`binary`] compares them
/// (`Some(None)`: unordered, a NaN), the literal on the left when `reversed`;
/// `None` when either is not a number.
fn numeric_cmp(v: &Value, l: &oort_compiler::plan::Literal, reversed: bool) -> Option<Option<std::cmp::Ordering>> {
    use oort_compiler::plan::Literal;
    let (a, b) = match (v, l) {
        (Value::Int(a), Literal::Int(b)) => {
            return Some(Some(if reversed { b.cmp(a) } else { a.cmp(b) }));
        }
        (Value::Int(a), Literal::Float(b)) => (*a as f64, *b),
        (Value::Float(a), Literal::Int(b)) => (*a, *b as f64),
        (Value::Float(a), Literal::Float(b)) => (*a, *b),
        _ => return None,
    };
    Some(if reversed { b.partial_cmp(&a) } else { a.partial_cmp(&b) })
}

/// Whether a comparison operator holds for `ord` (left compared with right).
fn ordering_holds(op: BinaryOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        BinaryOp::Eq => ord == Equal,
        BinaryOp::NotEq => ord != Equal,
        BinaryOp::Lt => ord == Less,
        BinaryOp::LtEq => ord != Greater,
        BinaryOp::Gt => ord == Greater,
        _ => ord != Less,
    }
}

/// Converts a plan literal to a value.
pub fn literal(l: &oort_compiler::plan::Literal) -> Value {
    use oort_compiler::plan::Literal;
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Float(*f),
        Literal::String(s) => Value::str(s),
    }
}

fn meta_value(row: &Row, key: &str) -> Value {
    let Some(m) = &row.meta else { return Value::Null };
    if key == "*" {
        return Value::object((**m).clone());
    }
    m.get(key).cloned().unwrap_or(Value::Null)
}

fn truthy(v: &Value, op: &str) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        other => err(format!("invalid operation {} {op}", other.go_describe())),
    }
}

fn unary(op: UnaryOp, v: Value) -> EvalResult {
    match (op, v) {
        (_, Value::Null) => Ok(Value::Null),
        (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (UnaryOp::Neg, Value::Int(i)) => Ok(Value::Int(i.wrapping_neg())),
        (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
        (UnaryOp::Plus, v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
        (UnaryOp::Not, v) => err(format!("invalid operation !{}", v.go_describe())),
        (_, v) => err(format!("invalid operation -{}", v.go_describe())),
    }
}

/// Equality as `=` and `IN` see it: numbers compare numerically, other kinds by value.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => a.as_f64() == b.as_f64(),
        _ => a == b,
    }
}

/// Applies a non-logical binary operator with eKuiper's typing rules.
pub fn binary(op: BinaryOp, l: &Value, r: &Value) -> EvalResult {
    use BinaryOp::*;
    let mismatch = || err(format!("invalid operation {} {} {}", l.go_describe(), op.symbol(), r.go_describe()));
    if l.is_null() || r.is_null() {
        return Ok(match op {
            Eq | NotEq | Lt | LtEq | Gt | GtEq => Value::Bool(false),
            _ => Value::Null,
        });
    }
    match op {
        Add | Sub | Mul | Div | Mod | BitAnd | BitOr | BitXor => match (l, r) {
            (Value::Int(a), Value::Int(b)) => {
                let (a, b) = (*a, *b);
                Ok(Value::Int(match op {
                    Add => a.wrapping_add(b),
                    Sub => a.wrapping_sub(b),
                    Mul => a.wrapping_mul(b),
                    Div => {
                        if b == 0 {
                            return err("divided by zero");
                        }
                        a.wrapping_div(b)
                    }
                    Mod => {
                        if b == 0 {
                            return err("divided by zero");
                        }
                        a.wrapping_rem(b)
                    }
                    BitAnd => a & b,
                    BitOr => a | b,
                    _ => a ^ b,
                }))
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_))
                if matches!(op, Add | Sub | Mul | Div | Mod) =>
            {
                let (a, b) = (l.as_f64().unwrap_or(0.0), r.as_f64().unwrap_or(0.0));
                Ok(Value::Float(match op {
                    Add => a + b,
                    Sub => a - b,
                    Mul => a * b,
                    Div => {
                        if b == 0.0 {
                            return err("divided by zero");
                        }
                        a / b
                    }
                    _ => {
                        if b == 0.0 {
                            return err("divided by zero");
                        }
                        a % b
                    }
                }))
            }
            (Value::String(a), Value::String(b)) if op == Add => {
                let mut s = String::with_capacity(a.len() + b.len());
                s.push_str(a);
                s.push_str(b);
                Ok(Value::from(s))
            }
            _ => mismatch(),
        },
        Eq | NotEq | Lt | LtEq | Gt | GtEq => {
            let ord = match (l, r) {
                (Value::Int(a), Value::Int(b)) => a.cmp(b),
                (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                    let (a, b) = (l.as_f64().unwrap_or(0.0), r.as_f64().unwrap_or(0.0));
                    match a.partial_cmp(&b) {
                        Some(o) => o,
                        None => return Ok(Value::Bool(op == NotEq)),
                    }
                }
                (Value::String(a), Value::String(b)) => a.cmp(b),
                (Value::Bool(a), Value::Bool(b)) if matches!(op, Eq | NotEq) => a.cmp(b),
                (Value::Bytes(a), Value::Bytes(b)) if matches!(op, Eq | NotEq) => a.cmp(b),
                (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_))
                    if matches!(op, Eq | NotEq) =>
                {
                    return Ok(Value::Bool((l == r) == (op == Eq)));
                }
                _ => return mismatch(),
            };
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match op {
                Eq => ord == Equal,
                NotEq => ord != Equal,
                Lt => ord == Less,
                LtEq => ord != Greater,
                Gt => ord == Greater,
                _ => ord != Less,
            }))
        }
        And | Or => mismatch(),
    }
}

fn like(s: &str, p: &str) -> bool {
    fn go(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| go(&s[i..], &p[1..])),
            Some('_') => !s.is_empty() && go(&s[1..], &p[1..]),
            Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && go(&s[1..], &p[2..]),
            Some(c) => s.first() == Some(c) && go(&s[1..], &p[1..]),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    go(&s, &p)
}

fn as_index(v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        other => err(format!("invalid index {}, expect int", other.go_describe())),
    }
}

fn index_value(v: &Value, i: &Value) -> EvalResult {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Array(a) => {
            let idx = as_index(i)?;
            let len = a.len() as i64;
            let real = if idx < 0 { len + idx } else { idx };
            if real < 0 || real >= len {
                return err(format!("out of index: {idx} of {len}"));
            }
            Ok(a[real as usize].clone())
        }
        Value::Object(m) => match i {
            Value::String(k) => Ok(m.get(&**k).cloned().unwrap_or(Value::Null)),
            other => err(format!("invalid key {}, expect string", other.go_describe())),
        },
        other => err(format!("invalid operation {} [] {}", other.go_describe(), i.go_describe())),
    }
}

fn slice_value(v: &Value, s: Option<&Value>, e: Option<&Value>) -> EvalResult {
    let len = match v {
        Value::Null => return Ok(Value::Null),
        Value::Array(a) => a.len() as i64,
        Value::String(st) => st.chars().count() as i64,
        Value::Bytes(b) => b.len() as i64,
        other => return err(format!("invalid operation {} [:]", other.go_describe())),
    };
    let norm = |x: i64| if x < 0 { len + x } else { x };
    let start = match s {
        Some(x) => norm(as_index(x)?),
        None => 0,
    };
    let end = match e {
        Some(x) => norm(as_index(x)?),
        None => len,
    };
    if start < 0 || start > len {
        return err(format!("start index {start} out of range [0:{len}]"));
    }
    if end < start || end > len {
        return err(format!("end index {end} out of range [{start}:{len}]"));
    }
    let (a, b) = (start as usize, end as usize);
    Ok(match v {
        Value::Array(arr) => Value::array(arr[a..b].to_vec()),
        Value::String(st) => Value::from(st.chars().skip(a).take(b - a).collect::<String>()),
        Value::Bytes(by) => Value::Bytes(Arc::from(&by[a..b])),
        _ => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_comparisons_agree_with_binary() {
        use oort_compiler::plan::{ColumnRef, Literal};
        let values = [
            Value::Null,
            Value::Int(50),
            Value::Int(-3),
            Value::Float(50.0),
            Value::Float(50.5),
            Value::Float(f64::NAN),
            Value::str("d1"),
            Value::str("d10"),
            Value::Bool(true),
        ];
        let literals = [
            Literal::Null,
            Literal::Int(50),
            Literal::Float(50.0),
            Literal::Float(f64::NAN),
            Literal::String("d1".into()),
            Literal::Bool(true),
        ];
        let ops = [BinaryOp::Eq, BinaryOp::NotEq, BinaryOp::Lt, BinaryOp::LtEq, BinaryOp::Gt, BinaryOp::GtEq];
        let col = |slot| ScalarExpr::Column(ColumnRef { source: 0, slot, name: format!("c{slot}") });
        for v in &values {
            for w in &values {
                let row = Row { slots: vec![v.clone(), w.clone()], meta: None, ts: 0 };
                for op in ops {
                    let want = binary(op, v, w);
                    assert_eq!(compare_in_place(op, &col(0), &col(1), &row), Some(want), "{v:?} {op:?} {w:?}");
                }
            }
            for l in &literals {
                let row = Row { slots: vec![v.clone()], meta: None, ts: 0 };
                let lit = ScalarExpr::Literal(l.clone());
                for op in ops {
                    let want = binary(op, v, &literal(l));
                    let got = compare_in_place(op, &col(0), &lit, &row);
                    assert_eq!(got, Some(want), "{v:?} {op:?} {l:?}");
                    let want = binary(op, &literal(l), v);
                    let got = compare_in_place(op, &lit, &col(0), &row);
                    assert_eq!(got, Some(want), "{l:?} {op:?} {v:?}");
                }
            }
        }
        // A missing slot reads as null.
        let row = Row::default();
        assert_eq!(
            compare_in_place(BinaryOp::Gt, &col(3), &ScalarExpr::Literal(Literal::Int(1)), &row),
            Some(Ok(Value::Bool(false)))
        );
        assert_eq!(compare_in_place(BinaryOp::Add, &col(0), &col(0), &row), None);
    }

    #[test]
    fn arithmetic_typing_follows_ekuiper() {
        let cases: Vec<(BinaryOp, Value, Value, Result<Value, &str>)> = vec![
            (BinaryOp::Mul, Value::Float(4.5), Value::Int(2), Ok(Value::Float(9.0))),
            (BinaryOp::Mul, Value::Int(3), Value::Int(5), Ok(Value::Int(15))),
            (BinaryOp::Div, Value::Int(7), Value::Int(2), Ok(Value::Int(3))),
            (BinaryOp::Div, Value::Int(7), Value::Int(0), Err("divided by zero")),
            (BinaryOp::Add, Value::Int(1), Value::Null, Ok(Value::Null)),
            (BinaryOp::Gt, Value::Null, Value::Int(3), Ok(Value::Bool(false))),
            (BinaryOp::Gt, Value::Float(3.5), Value::Int(3), Ok(Value::Bool(true))),
            (BinaryOp::Eq, Value::Int(3), Value::Float(3.0), Ok(Value::Bool(true))),
            (BinaryOp::GtEq, Value::str("string"), Value::Int(3), Err("invalid operation string(string) >= int64(3)")),
            (BinaryOp::Mul, Value::str("string"), Value::Int(5), Err("invalid operation string(string) * int64(5)")),
        ];
        for (op, l, r, want) in cases {
            let got = binary(op, &l, &r).map_err(|e| e.0);
            match want {
                Ok(v) => assert_eq!(got, Ok(v), "{l:?} {op:?} {r:?}"),
                Err(m) => assert_eq!(got, Err(m.to_string()), "{l:?} {op:?} {r:?}"),
            }
        }
    }

    #[test]
    fn like_and_slices() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "_ello"));
        assert!(!like("hello", "h_o"));
        let arr = Value::array((1..=5).map(Value::Int).collect());
        assert_eq!(
            slice_value(&arr, Some(&Value::Int(1)), Some(&Value::Int(3))),
            Ok(Value::array(vec![Value::Int(2), Value::Int(3)]))
        );
        assert_eq!(index_value(&arr, &Value::Int(-1)), Ok(Value::Int(5)));
        assert!(index_value(&arr, &Value::Int(9)).is_err());
    }
}
