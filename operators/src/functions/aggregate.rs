//! Aggregate functions as [`Accumulator`]s: the engine creates one per group
//! (and window), feeds it each row's evaluated arguments with
//! [`Accumulator::update`], and reads the result with [`Accumulator::finish`].
//!
//! Semantics follow eKuiper's `funcs_agg.go`:
//! * `count(x)` counts non-null values (`count(*)` gets the row object: every row counts); empty → `0`.
//! * `sum`/`avg`/`min`/`max` skip nulls; the first non-null value fixes the type:
//!   ints give an `Int` (`avg` of ints is integer division, as eKuiper), floats a
//!   `Float`, strings (`min`/`max`) a string; a value of another type is an
//!   error (`requires float64 but found int64(1)`). No non-null value → null.
//! * `collect(x)` keeps every value (nulls too) in row order; empty → `[]`.
//! * `merge_agg(x)` merges object values (later keys win); non-objects are skipped.
//! * `deduplicate(key, all)`: the engine passes the whole row as a **third**
//!   argument. `all = true` → array of the first row of each key; `false` → the
//!   last row if its key is new in the group, else `[]`.
//! * `last_value(x, ignoreNull)`.
//! * `stddev`/`stddevs`/`var`/`vars`/`median`/`percentile_cont`/`percentile_disc`
//!   work on the non-null values as floats (population / sample statistics,
//!   montanaflynn/stats percentiles); empty → null.
//!
//! `count`, `sum`, `avg`, `min` and `max` also have partial states
//! ([`Accumulator::partial`], [`Accumulator::merge`]): the keyed window folds
//! rows on the worker that decoded them and merges the workers' states.

use super::{go_tv, go_v};
use crate::value::{Map, Value};

/// Names of the aggregates [`new`] knows.
pub(super) const NAMES: &[&str] = &[
    "avg",
    "collect",
    "count",
    "deduplicate",
    "last_value",
    "max",
    "median",
    "merge_agg",
    "min",
    "percentile",
    "percentile_cont",
    "percentile_disc",
    "stddev",
    "stddevs",
    "sum",
    "var",
    "vars",
];

/// Where a row stands in processing order: (dataflow time, source worker,
/// arrival sequence). Partial states compare positions to merge exactly.
pub type Position = (u64, u32, u64);

/// An aggregate's running state for one group.
pub trait Accumulator: Send {
    /// Adds one row: its evaluated arguments (for `count(*)`/`collect(*)`, the row as an object).
    fn update(&mut self, args: &[Value]) -> Result<(), String>;
    /// The aggregate of the rows added so far.
    fn finish(&self) -> Result<Value, String>;
    /// [`update`](Self::update) for the row at `pos` (positions increase from
    /// call to call): accumulators whose [partial](Self::partial) state depends
    /// on row order note where they saw what.
    fn update_at(&mut self, pos: Position, args: &[Value]) -> Result<(), String> {
        let _ = pos;
        self.update(args)
    }
    /// The state of the rows added so far, for [`merge`](Self::merge) into an
    /// accumulator of the same aggregate (on another worker); `None` when the
    /// aggregate cannot merge ([`mergeable`] says which can).
    fn partial(&self) -> Option<Vec<Value>> {
        None
    }
    /// Adds the rows a [`partial`](Self::partial) state stands for: the result
    /// is that of updating both row sets in position order (their positions
    /// are distinct), except that float sums may differ in the last bits.
    fn merge(&mut self, state: &[Value]) -> Result<(), String> {
        let _ = state;
        Err("this aggregate cannot merge partial states".into())
    }
    /// Forgets every row added, as if new; `false` when this accumulator
    /// cannot (the caller makes a new one instead).
    fn reset(&mut self) -> bool {
        false
    }
}

/// Whether the accumulators of aggregate `name` have mergeable partial states.
pub fn mergeable(name: &str) -> bool {
    PartialState::of(name).is_some()
}

/// Operations on the partial states of one mergeable aggregate, without an
/// accumulator: merging two states in place and finishing a state.
#[derive(Clone, Copy)]
pub enum PartialState {
    /// `count`: `[n]`.
    Count,
    /// `sum`/`avg`/`min`/`max`.
    Running(RunningKind),
}

impl PartialState {
    /// The partial-state operations of aggregate `name` (`None`: it cannot merge).
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "count" => Self::Count,
            "sum" => Self::Running(RunningKind::Sum),
            "avg" => Self::Running(RunningKind::Avg),
            "min" => Self::Running(RunningKind::Min),
            "max" => Self::Running(RunningKind::Max),
            _ => return None,
        })
    }

    /// Merges state `other` into state `into` (as [`Accumulator::merge`] does).
    pub fn merge(self, into: &mut Vec<Value>, other: &[Value]) -> Result<(), String> {
        match self {
            Self::Count => match (into.as_mut_slice(), other) {
                ([Value::Int(a)], [Value::Int(b)]) => {
                    *a += b;
                    Ok(())
                }
                _ => Err("malformed partial state of count".into()),
            },
            Self::Running(kind) => {
                if merge_clean(kind, into, other) {
                    return Ok(());
                }
                let mut a = Running::decode(kind, into).ok_or_else(|| malformed(kind))?;
                let b = Running::decode(kind, other).ok_or_else(|| malformed(kind))?;
                a.absorb(b);
                into.clear();
                a.encode_into(into);
                Ok(())
            }
        }
    }

    /// The aggregate of the rows a state stands for (as [`Accumulator::finish`] does).
    pub fn finish(self, state: &[Value]) -> Result<Value, String> {
        match self {
            Self::Count => match state {
                [Value::Int(n)] => Ok(Value::Int(*n)),
                _ => Err("malformed partial state of count".into()),
            },
            Self::Running(kind) => Running::decode(kind, state).ok_or_else(|| malformed(kind))?.finish(),
        }
    }
}

/// Merges two encoded [`Running`] states in place when both have a first
/// value of the same class, no rejected value and no NaN to order (the
/// common case); `false` leaves `into` as it was, for the general merge.
fn merge_clean(kind: RunningKind, into: &mut [Value], other: &[Value]) -> bool {
    let extreme = matches!(kind, RunningKind::Min | RunningKind::Max);
    let min = kind == RunningKind::Min;
    let clean = |s: &[Value]| -> bool {
        let n = match s.get(5) {
            Some(Value::Int(_) | Value::String(_)) => 7,
            Some(Value::Float(f)) if !f.is_nan() && !matches!(s.get(4), Some(Value::Float(x)) if x.is_nan()) => {
                if extreme {
                    12
                } else {
                    9
                }
            }
            _ => return false,
        };
        s.len() == n
            && matches!(s[n - 1], Value::Bool(false))
            && (n == 7 || matches!(s[n - 2], Value::Bool(false)))
            && matches!((&s[0], &s[1], &s[2], &s[3]), (Value::Int(_), Value::Int(_), Value::Int(_), Value::Int(_)))
    };
    if !clean(into) || !clean(other) || std::mem::discriminant(&into[5]) != std::mem::discriminant(&other[5]) {
        return false;
    }
    let pos = |s: &[Value], at: usize| -> Option<Position> { take_position(&mut s[at..at + 3].iter()) };
    let (Some(pa), Some(pb)) = (pos(into, 1), pos(other, 1)) else { return false };
    if extreme && matches!(into[5], Value::Float(_)) && (pos(into, 6).is_none() || pos(other, 6).is_none()) {
        return false;
    }
    if let (Value::Int(a), Value::Int(b)) = (&mut into[0], &other[0]) {
        *a += *b;
    }
    if pb < pa {
        into[1..5].clone_from_slice(&other[1..5]);
    }
    let float_extreme = extreme && matches!(into[5], Value::Float(_));
    let (ta, tb) = if float_extreme { (pos(into, 6), pos(other, 6)) } else { (None, None) };
    let mut take_best = false;
    match (&mut into[5], &other[5]) {
        (Value::Int(a), Value::Int(b)) => fold_int(extreme, min, a, *b),
        (Value::String(a), Value::String(b)) if better(min, &**b, &**a) => *a = b.clone(),
        (Value::Float(a), Value::Float(b)) => {
            if !extreme {
                *a += *b;
            } else if better(min, *b, *a) || (*b == *a && tb < ta) {
                *a = *b;
                take_best = true;
            }
        }
        _ => {}
    }
    if take_best {
        into[6..9].clone_from_slice(&other[6..9]);
    }
    if matches!(into[5], Value::Float(_)) {
        let alt_at = if extreme { 9 } else { 6 };
        if let (Value::Int(a), Value::Int(b)) = (&mut into[alt_at], &other[alt_at]) {
            fold_int(extreme, min, a, *b);
        }
    }
    true
}

fn malformed(kind: RunningKind) -> String {
    format!("malformed partial state of {}", Running::of(kind).name())
}

/// A fresh accumulator for `name`.
pub(super) fn new(name: &str) -> Option<Box<dyn Accumulator>> {
    let kind = match name {
        "avg" | "sum" | "min" | "max" => return Some(Box::new(Running::new(name))),
        "collect" => Kind::Collect,
        "count" => return Some(Box::new(Count(0))),
        "deduplicate" => Kind::Dedup,
        "last_value" => Kind::LastValue,
        "median" => Kind::Median,
        "merge_agg" => return Some(Box::new(MergeAgg(Map::new()))),
        "percentile" | "percentile_cont" => Kind::PercentileCont,
        "percentile_disc" => Kind::PercentileDisc,
        "stddev" => Kind::Stddev,
        "stddevs" => Kind::Stddevs,
        "var" => Kind::Var,
        "vars" => Kind::Vars,
        _ => return None,
    };
    Some(Box::new(Collected { kind, values: Vec::new(), extra: Vec::new(), flag: None, param: None }))
}

/// An accumulator held in place: `count`, `sum`, `avg`, `min` and `max`
/// without a box, any other aggregate boxed. The keyed window keeps one per
/// aggregate, group and window, in one vector per group: a row's update then
/// reads the states side by side instead of following a pointer to each.
pub struct InlineAccumulator(Held);

enum Held {
    Count(Count),
    Running(Running),
    Boxed(Box<dyn Accumulator>),
}

impl InlineAccumulator {
    /// The accumulator of aggregate `name`; `boxed` makes the ones not held in place.
    pub fn of(name: &str, boxed: impl FnOnce() -> Box<dyn Accumulator>) -> Self {
        Self(match name {
            "count" => Held::Count(Count(0)),
            "avg" | "sum" | "min" | "max" => Held::Running(Running::new(name)),
            _ => Held::Boxed(boxed()),
        })
    }
}

impl Accumulator for InlineAccumulator {
    #[inline]
    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        match &mut self.0 {
            Held::Count(a) => a.update(args),
            Held::Running(a) => a.update(args),
            Held::Boxed(a) => a.update(args),
        }
    }
    fn finish(&self) -> Result<Value, String> {
        match &self.0 {
            Held::Count(a) => a.finish(),
            Held::Running(a) => a.finish(),
            Held::Boxed(a) => a.finish(),
        }
    }
    #[inline]
    fn update_at(&mut self, pos: Position, args: &[Value]) -> Result<(), String> {
        match &mut self.0 {
            Held::Count(a) => a.update_at(pos, args),
            Held::Running(a) => a.update_at(pos, args),
            Held::Boxed(a) => a.update_at(pos, args),
        }
    }
    fn partial(&self) -> Option<Vec<Value>> {
        match &self.0 {
            Held::Count(a) => a.partial(),
            Held::Running(a) => a.partial(),
            Held::Boxed(a) => a.partial(),
        }
    }
    fn merge(&mut self, state: &[Value]) -> Result<(), String> {
        match &mut self.0 {
            Held::Count(a) => a.merge(state),
            Held::Running(a) => a.merge(state),
            Held::Boxed(a) => a.merge(state),
        }
    }
    fn reset(&mut self) -> bool {
        match &mut self.0 {
            Held::Count(a) => a.reset(),
            Held::Running(a) => a.reset(),
            Held::Boxed(a) => a.reset(),
        }
    }
}

struct Count(i64);

impl Accumulator for Count {
    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        if args.first().is_some_and(|v| !v.is_null()) {
            self.0 += 1;
        }
        Ok(())
    }
    fn finish(&self) -> Result<Value, String> {
        Ok(Value::Int(self.0))
    }
    fn partial(&self) -> Option<Vec<Value>> {
        Some(vec![Value::Int(self.0)])
    }
    fn merge(&mut self, state: &[Value]) -> Result<(), String> {
        match state {
            [Value::Int(n)] => {
                self.0 += n;
                Ok(())
            }
            _ => Err("malformed partial state of count".into()),
        }
    }
    fn reset(&mut self) -> bool {
        self.0 = 0;
        true
    }
}

struct MergeAgg(Map);

impl Accumulator for MergeAgg {
    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        if let Some(Value::Object(m)) = args.first() {
            for (k, v) in m.iter() {
                self.0.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }
    fn finish(&self) -> Result<Value, String> {
        Ok(Value::object(self.0.clone()))
    }
    fn reset(&mut self) -> bool {
        self.0.clear();
        true
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Collect,
    Dedup,
    LastValue,
    Median,
    PercentileCont,
    PercentileDisc,
    Stddev,
    Stddevs,
    Var,
    Vars,
}

/// Keeps the values of the group and computes at `finish` (eKuiper works on the
/// whole slice too, so typing rules come out the same).
struct Collected {
    kind: Kind,
    values: Vec<Value>,
    /// `deduplicate`: the rows.
    extra: Vec<Value>,
    /// `deduplicate`'s `all`, `last_value`'s `ignoreNull` (first valid).
    flag: Option<bool>,
    /// `percentile_*`'s fraction (first valid).
    param: Option<Value>,
}

impl Accumulator for Collected {
    fn reset(&mut self) -> bool {
        // A large group's vectors are not kept for the next one.
        const KEEP: usize = 1024;
        if self.values.capacity() > KEEP || self.extra.capacity() > KEEP {
            return false;
        }
        self.values.clear();
        self.extra.clear();
        self.flag = None;
        self.param = None;
        true
    }

    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        let v = args.first().cloned().unwrap_or(Value::Null);
        match self.kind {
            Kind::Collect => self.values.push(v),
            Kind::Dedup => {
                self.values.push(v);
                self.extra.push(args.get(2).cloned().unwrap_or(Value::Null));
                if self.flag.is_none()
                    && let Some(Value::Bool(b)) = args.get(1)
                {
                    self.flag = Some(*b);
                }
            }
            Kind::LastValue => {
                if self.flag.is_none()
                    && let Some(Value::Bool(b)) = args.get(1)
                {
                    self.flag = Some(*b);
                }
                self.values.push(v);
            }
            Kind::PercentileCont | Kind::PercentileDisc => {
                if self.param.is_none()
                    && let Some(p) = args.get(1).filter(|p| !p.is_null())
                {
                    self.param = Some(p.clone());
                }
                if !v.is_null() {
                    self.values.push(v);
                }
            }
            _ => {
                if !v.is_null() {
                    self.values.push(v);
                }
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<Value, String> {
        let vals = &self.values;
        match self.kind {
            Kind::Collect => Ok(Value::array(vals.clone())),
            Kind::Dedup => dedup(&self.extra, vals, self.flag),
            Kind::LastValue => {
                let ignore_null = self.flag.ok_or("second argument to last_value should be a bool")?;
                if ignore_null {
                    Ok(vals.iter().rev().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null))
                } else {
                    Ok(vals.last().cloned().unwrap_or(Value::Null))
                }
            }
            _ => {
                if vals.is_empty() {
                    return Ok(Value::Null);
                }
                let mut xs = Vec::with_capacity(vals.len());
                for v in vals {
                    match v.as_f64() {
                        Some(x) => xs.push(x),
                        None => {
                            return Err(format!(
                                "requires float64 slice but found {}",
                                go_tv(&Value::array(vals.clone()))
                            ));
                        }
                    }
                }
                stats(self.kind, xs, self.param.as_ref())
            }
        }
    }
}

/// Which running aggregate a [`Running`] computes.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum RunningKind {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `min`.
    Min,
    /// `max`.
    Max,
}

/// The running value of a [`Running`] aggregate; its variant is the type the first non-null value fixed.
enum RunningValue {
    /// No value yet, or an invalid first value.
    Empty,
    Int(i64),
    /// `sum`/`avg`: the total; `min`/`max`: the best value that is not NaN (NaN while there is none).
    Float(f64),
    Str(crate::value::Str),
}

/// How the first non-null value types a [`Running`] aggregate.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Int,
    Float,
    /// Strings (`min`/`max` only).
    Str,
    /// Anything else: the aggregate fails on it.
    Invalid,
}

/// A value and where it was seen.
type Seen = (Position, Value);

/// Keeps the earlier of `slot` and `(pos, v)`.
fn note(slot: &mut Option<Seen>, pos: Position, v: &Value) {
    if slot.as_ref().is_none_or(|(p, _)| pos < *p) {
        *slot = Some((pos, v.clone()));
    }
}

/// The earlier of two seen values.
fn earlier(a: Option<Seen>, b: Option<Seen>) -> Option<Seen> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Whether `x` replaces `best` (min: smaller, max: larger).
fn better<T: PartialOrd>(min: bool, x: T, best: T) -> bool {
    if min { x < best } else { x > best }
}

/// Folds `x` into an int sum (wrapping) or extreme.
fn fold_int(extreme: bool, min: bool, acc: &mut i64, x: i64) {
    if !extreme {
        *acc = acc.wrapping_add(x);
    } else if better(min, x, *acc) {
        *acc = x;
    }
}

/// `sum`/`avg`/`min`/`max` folded as rows arrive, without keeping the values.
/// The typing rules are those of eKuiper's slice functions: the first non-null
/// value fixes the type, and the first later value of another type is the
/// error `finish` reports. Floats are added in arrival order, from `0.0`, as a
/// scan of the slice would add them.
///
/// The state merges ([`Accumulator::partial`]): besides the fold under the
/// first value's type it keeps that value and where it was seen, where the
/// first rejected value was seen, and, when floats fixed the type, the fold
/// under int typing too (a merge with rows whose first value is an earlier int
/// truncates these floats). A merge then equals the sequential fold of both
/// row sets in position order, except that float sums add in another order.
///
/// `repr(C)`, hot fields first: a row's update reads and writes only the
/// first 48 bytes (kind, count, fold, int fold), one or two cache lines,
/// whatever the compiler would have done with the rest.
#[repr(C)]
struct Running {
    kind: RunningKind,
    /// Non-null values seen (the divisor of `avg`).
    count: i64,
    /// The fold under the first value's typing.
    value: RunningValue,
    /// Float typing only: the fold under int typing (floats truncated).
    alt: i64,
    /// The first non-null value: its class fixes the typing.
    first: Option<Seen>,
    /// Float `min`/`max`: where the best value was seen (ties keep the earliest).
    best_at: Position,
    /// The first value the typing rejects (an invalid first value itself).
    bad: Option<Seen>,
    /// Float typing only: the first value int typing rejects.
    alt_bad: Option<Seen>,
}

/// The position `update` (without one) gives its rows.
const NO_POSITION: Position = (0, 0, 0);

impl Running {
    fn new(name: &str) -> Self {
        let kind = match name {
            "sum" => RunningKind::Sum,
            "avg" => RunningKind::Avg,
            "min" => RunningKind::Min,
            _ => RunningKind::Max,
        };
        Self::of(kind)
    }

    fn of(kind: RunningKind) -> Self {
        Self {
            kind,
            count: 0,
            first: None,
            value: RunningValue::Empty,
            best_at: NO_POSITION,
            bad: None,
            alt: 0,
            alt_bad: None,
        }
    }

    fn name(&self) -> &'static str {
        match self.kind {
            RunningKind::Sum => "sum",
            RunningKind::Avg => "avg",
            RunningKind::Min => "min",
            RunningKind::Max => "max",
        }
    }

    fn extreme(&self) -> bool {
        matches!(self.kind, RunningKind::Min | RunningKind::Max)
    }

    fn class(&self, v: &Value) -> Class {
        match v {
            Value::Int(_) => Class::Int,
            Value::Float(_) => Class::Float,
            Value::String(_) if self.extreme() => Class::Str,
            _ => Class::Invalid,
        }
    }

    /// The first non-null value: it fixes the typing.
    fn start(&mut self, pos: Position, v: &Value) {
        let extreme = self.extreme();
        self.first = Some((pos, v.clone()));
        match v {
            Value::Int(i) => self.value = RunningValue::Int(*i),
            Value::Float(f) => {
                self.value = RunningValue::Float(if extreme { *f } else { 0.0 + *f });
                self.best_at = pos;
                self.alt = *f as i64;
            }
            Value::String(s) if extreme => self.value = RunningValue::Str(s.clone()),
            _ => self.bad = Some((pos, v.clone())),
        }
    }

    fn add(&mut self, pos: Position, v: &Value) {
        let extreme = self.extreme();
        let min = self.kind == RunningKind::Min;
        match (&mut self.value, v) {
            (RunningValue::Int(acc), Value::Int(x)) => fold_int(extreme, min, acc, *x),
            (RunningValue::Int(acc), Value::Float(f)) => fold_int(extreme, min, acc, *f as i64),
            (RunningValue::Float(acc), Value::Float(x)) => {
                if !extreme {
                    *acc += *x;
                } else if !x.is_nan() && (acc.is_nan() || better(min, *x, *acc)) {
                    *acc = *x;
                    self.best_at = pos;
                }
                fold_int(extreme, min, &mut self.alt, *x as i64);
            }
            (RunningValue::Float(_), Value::Int(x)) => {
                note(&mut self.bad, pos, v);
                fold_int(extreme, min, &mut self.alt, *x);
            }
            (RunningValue::Float(_), _) => {
                note(&mut self.bad, pos, v);
                note(&mut self.alt_bad, pos, v);
            }
            (RunningValue::Str(best), Value::String(x)) => {
                if better(min, &**x, &**best) {
                    *best = x.clone();
                }
            }
            (RunningValue::Empty, _) if self.first.is_none() => self.start(pos, v),
            // Int or string typing rejects it (or the first value was invalid).
            _ => note(&mut self.bad, pos, v),
        }
    }

    /// Merges the state `o` of other rows: the result is the fold of both row
    /// sets in position order.
    fn absorb(&mut self, o: Running) {
        let count = self.count + o.count;
        let me = std::mem::replace(self, Running::of(self.kind));
        let (mut a, b) = match (&me.first, &o.first) {
            (_, None) => (me, None),
            (None, _) => (o, None),
            (Some(x), Some(y)) if x.0 <= y.0 => (me, Some(o)),
            _ => (o, Some(me)),
        };
        a.count = count;
        if let Some(b) = b {
            a.absorb_later(b);
        }
        *self = a;
    }

    /// Merges `b`, whose first value comes after this state's first value.
    fn absorb_later(&mut self, b: Running) {
        let extreme = self.extreme();
        let min = self.kind == RunningKind::Min;
        let b_first = b.first.clone();
        match (&mut self.value, b.value) {
            (RunningValue::Int(acc), RunningValue::Int(x)) => {
                fold_int(extreme, min, acc, x);
                self.bad = earlier(self.bad.take(), b.bad);
            }
            (RunningValue::Int(acc), RunningValue::Float(_)) => {
                fold_int(extreme, min, acc, b.alt);
                self.bad = earlier(self.bad.take(), b.alt_bad);
            }
            (RunningValue::Float(acc), RunningValue::Float(x)) => {
                if !extreme {
                    *acc += x;
                } else if !x.is_nan()
                    && (acc.is_nan() || better(min, x, *acc) || (x == *acc && b.best_at < self.best_at))
                {
                    *acc = x;
                    self.best_at = b.best_at;
                }
                fold_int(extreme, min, &mut self.alt, b.alt);
                self.bad = earlier(self.bad.take(), b.bad);
                self.alt_bad = earlier(self.alt_bad.take(), b.alt_bad);
            }
            (RunningValue::Float(_), RunningValue::Int(x)) => {
                // Float typing rejects b's first value; int typing takes b as it is.
                self.bad = earlier(self.bad.take(), b_first);
                fold_int(extreme, min, &mut self.alt, x);
                self.alt_bad = earlier(self.alt_bad.take(), b.bad);
            }
            (RunningValue::Float(_), _) => {
                self.bad = earlier(self.bad.take(), b_first.clone());
                self.alt_bad = earlier(self.alt_bad.take(), b_first);
            }
            (RunningValue::Str(best), RunningValue::Str(x)) => {
                if better(min, &*x, &**best) {
                    *best = x;
                }
                self.bad = earlier(self.bad.take(), b.bad);
            }
            // b's first value is of another class than ours (or ours is invalid): the typing rejects it.
            _ => self.bad = earlier(self.bad.take(), b_first),
        }
    }

    /// `[count]` with no value; else `[count, first position (3), first value,
    /// fold, (floats: best position (3, min/max only), int fold, int typing's
    /// first rejected), first rejected]`, a rejected value as `false` or `true`,
    /// its position (3) and the value.
    fn encode_into(&self, out: &mut Vec<Value>) {
        out.reserve(16);
        out.push(Value::Int(self.count));
        let Some((pos, first)) = &self.first else { return };
        push_position(out, *pos);
        out.push(first.clone());
        match &self.value {
            RunningValue::Empty => out.push(Value::Null),
            RunningValue::Int(i) => out.push(Value::Int(*i)),
            RunningValue::Float(f) => {
                out.push(Value::Float(*f));
                if self.extreme() {
                    push_position(out, self.best_at);
                }
                out.push(Value::Int(self.alt));
                push_seen(out, &self.alt_bad);
            }
            RunningValue::Str(s) => out.push(Value::String(s.clone())),
        }
        push_seen(out, &self.bad);
    }

    fn decode(kind: RunningKind, state: &[Value]) -> Option<Self> {
        let mut r = Running::of(kind);
        let mut it = state.iter();
        r.count = int(it.next())?;
        let Some(pos) = take_position(&mut it) else {
            return it.next().is_none().then_some(r);
        };
        let first = it.next()?.clone();
        r.value = match it.next()? {
            Value::Null => RunningValue::Empty,
            Value::Int(i) => RunningValue::Int(*i),
            Value::Float(f) => {
                if r.extreme() {
                    r.best_at = take_position(&mut it)?;
                }
                r.alt = int(it.next())?;
                r.alt_bad = take_seen(&mut it)?;
                RunningValue::Float(*f)
            }
            Value::String(s) => RunningValue::Str(s.clone()),
            _ => return None,
        };
        r.first = Some((pos, first));
        r.bad = take_seen(&mut it)?;
        it.next().is_none().then_some(r)
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

fn push_position(out: &mut Vec<Value>, (t, w, s): Position) {
    out.extend([Value::Int(t as i64), Value::Int(i64::from(w)), Value::Int(s as i64)]);
}

fn take_position<'a>(it: &mut impl Iterator<Item = &'a Value>) -> Option<Position> {
    Some((int(it.next())? as u64, u32::try_from(int(it.next())?).ok()?, int(it.next())? as u64))
}

/// A seen value as `false`, or `true`, its position and the value.
fn push_seen(out: &mut Vec<Value>, seen: &Option<Seen>) {
    match seen {
        None => out.push(Value::Bool(false)),
        Some((pos, v)) => {
            out.push(Value::Bool(true));
            push_position(out, *pos);
            out.push(v.clone());
        }
    }
}

/// `None`: malformed; `Some(None)`: nothing seen.
fn take_seen<'a>(it: &mut impl Iterator<Item = &'a Value>) -> Option<Option<Seen>> {
    match it.next()? {
        Value::Bool(false) => Some(None),
        Value::Bool(true) => {
            let pos = take_position(it)?;
            Some(Some((pos, it.next()?.clone())))
        }
        _ => None,
    }
}

impl Accumulator for Running {
    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        self.update_at(NO_POSITION, args)
    }

    fn update_at(&mut self, pos: Position, args: &[Value]) -> Result<(), String> {
        let Some(v) = args.first().filter(|v| !v.is_null()) else {
            return Ok(());
        };
        self.count += 1;
        self.add(pos, v);
        Ok(())
    }

    fn finish(&self) -> Result<Value, String> {
        let Some((_, first)) = &self.first else { return Ok(Value::Null) };
        let extreme = self.extreme();
        let ty = match self.class(first) {
            Class::Invalid => {
                return Err(format!("run {} function error: found invalid arg {}", self.name(), go_tv(first)));
            }
            Class::Int if extreme => "int64",
            Class::Int => "int",
            Class::Float => "float64",
            Class::Str => "string",
        };
        if let Some((_, bad)) = &self.bad {
            return Err(format!("requires {ty} but found {}", go_tv(bad)));
        }
        let avg = self.kind == RunningKind::Avg;
        Ok(match &self.value {
            RunningValue::Empty => Value::Null,
            RunningValue::Int(i) => Value::Int(if avg { *i / self.count } else { *i }),
            // min/max of floats whose first is NaN: nothing compares better than it.
            RunningValue::Float(_) if extreme && matches!(first, Value::Float(f) if f.is_nan()) => {
                Value::Float(f64::NAN)
            }
            RunningValue::Float(f) => Value::Float(if avg { *f / self.count as f64 } else { *f }),
            RunningValue::Str(s) => Value::String(s.clone()),
        })
    }

    fn partial(&self) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        Some(out)
    }

    fn reset(&mut self) -> bool {
        *self = Running::of(self.kind);
        true
    }

    fn merge(&mut self, state: &[Value]) -> Result<(), String> {
        let o =
            Running::decode(self.kind, state).ok_or_else(|| format!("malformed partial state of {}", self.name()))?;
        self.absorb(o);
        Ok(())
    }
}

fn dedup(rows: &[Value], keys: &[Value], all: Option<bool>) -> Result<Value, String> {
    let Some(all) = all else {
        return Err("Invalid argument type found.".into());
    };
    let mut seen = std::collections::HashSet::new();
    let mut result = Vec::new();
    let n = keys.len();
    for (i, k) in keys.iter().enumerate() {
        if seen.insert(go_v(k)) && (all || i + 1 == n) {
            result.push(rows.get(i).cloned().unwrap_or(Value::Null));
        }
    }
    // With `all = false`: the newest row when its key is new, else null (eKuiper returns nil).
    if all { Ok(Value::array(result)) } else { Ok(result.into_iter().next().unwrap_or(Value::Null)) }
}

fn stats(kind: Kind, mut xs: Vec<f64>, param: Option<&Value>) -> Result<Value, String> {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let ss = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let bounds = |what: &str| format!("{what} exec with error: Input is outside of range.");
    Ok(Value::Float(match kind {
        Kind::Stddev => (ss / n).sqrt(),
        Kind::Stddevs => (ss / (n - 1.0)).sqrt(),
        Kind::Var => ss / n,
        Kind::Vars => ss / (n - 1.0),
        Kind::Median => {
            let l = xs.len();
            if l.is_multiple_of(2) { (xs[l / 2 - 1] + xs[l / 2]) / 2.0 } else { xs[l / 2] }
        }
        Kind::PercentileCont | Kind::PercentileDisc => {
            let p = match param {
                None => 1.0,
                Some(p) => {
                    p.as_f64().ok_or_else(|| format!("the second parameter requires float64 but found {}", go_tv(p)))?
                }
            };
            let percent = p * 100.0;
            let l = xs.len();
            if kind == Kind::PercentileCont {
                if l == 1 {
                    xs[0]
                } else if percent <= 0.0 || percent > 100.0 {
                    return Err(bounds("percentile"));
                } else {
                    let index = percent / 100.0 * l as f64;
                    if index == index.trunc() {
                        xs[(index as usize).saturating_sub(1)]
                    } else if index > 1.0 {
                        let i = index as usize;
                        (xs[i - 1] + xs[i]) / 2.0
                    } else {
                        return Err(bounds("percentile"));
                    }
                }
            } else if !(0.0..=100.0).contains(&percent) {
                return Err(bounds("percentile_disc"));
            } else if percent == 100.0 {
                xs[l - 1]
            } else {
                let or = (l as f64 * percent / 100.0).ceil() as usize;
                if or == 0 { xs[0] } else { xs[or - 1] }
            }
        }
        _ => return Err("not a statistics aggregate".into()),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::accumulator;
    use super::super::testutil::{arr, b, f, i, obj, s};
    use crate::value::Value;

    fn agg(name: &str, rows: Vec<Vec<Value>>) -> Result<Value, String> {
        let mut a = accumulator(name).expect(name);
        for r in rows {
            a.update(&r)?;
        }
        a.finish()
    }

    fn col(vals: Vec<Value>) -> Vec<Vec<Value>> {
        vals.into_iter().map(|v| vec![v]).collect()
    }

    #[test]
    fn aggregates() {
        let n = Value::Null;
        type Case = (&'static str, Vec<Vec<Value>>, Result<Value, &'static str>);
        let cases: Vec<Case> = vec![
            ("count", col(vec![i(1), n.clone(), i(3)]), Ok(i(2))),
            ("count", vec![], Ok(i(0))),
            ("sum", col(vec![i(1), n.clone(), i(3)]), Ok(i(4))),
            ("sum", col(vec![f(1.5), f(2.0)]), Ok(f(3.5))),
            ("sum", col(vec![f(1.5), i(2)]), Err("requires float64 but found int64(2)")),
            ("sum", col(vec![s("a")]), Err("run sum function error: found invalid arg string(a)")),
            ("sum", vec![], Ok(Value::Null)),
            ("avg", col(vec![i(100), i(150), i(201)]), Ok(i(150))),
            ("avg", col(vec![f(1.0), f(2.0)]), Ok(f(1.5))),
            ("avg", col(vec![n.clone()]), Ok(Value::Null)),
            ("avg", col(vec![s("foo")]), Err("run avg function error: found invalid arg string(foo)")),
            ("max", col(vec![i(1), i(5), n.clone(), i(3)]), Ok(i(5))),
            ("max", col(vec![f(25.5), f(28.1)]), Ok(f(28.1))),
            ("max", col(vec![s("foo"), s("bar"), s("self")]), Ok(s("self"))),
            ("min", col(vec![s("foo"), s("bar"), s("self")]), Ok(s("bar"))),
            ("min", col(vec![i(4), f(2.9)]), Ok(i(2))),
            ("min", vec![], Ok(Value::Null)),
            ("collect", col(vec![i(1), n.clone(), s("x")]), Ok(arr(vec![i(1), n.clone(), s("x")]))),
            ("collect", vec![], Ok(arr(vec![]))),
            (
                "merge_agg",
                col(vec![obj(vec![("a", i(1)), ("b", i(2))]), i(3), obj(vec![("b", i(5))])]),
                Ok(obj(vec![("a", i(1)), ("b", i(5))])),
            ),
            ("last_value", vec![vec![i(1), b(true)], vec![n.clone(), b(true)]], Ok(i(1))),
            ("last_value", vec![vec![i(1), b(false)], vec![n.clone(), b(false)]], Ok(n.clone())),
            ("stddev", col(vec![i(100), i(150), i(200)]), Ok(f(40.824829046386306))),
            ("stddevs", col(vec![i(100), i(150), i(200)]), Ok(f(50.0))),
            ("var", col(vec![i(100), i(150), i(200)]), Ok(f(1666.6666666666667))),
            ("vars", col(vec![i(100), i(150), i(200)]), Ok(f(2500.0))),
            ("stddev", col(vec![s("foo")]), Err("requires float64 slice but found []interface {}([foo])")),
            ("stddev", vec![], Ok(Value::Null)),
            ("median", col(vec![i(3), i(1), i(4), i(2)]), Ok(f(2.5))),
            ("median", col(vec![i(3), i(1), i(2)]), Ok(f(2.0))),
            ("percentile_cont", vec![vec![i(100), f(0.5)], vec![i(150), f(0.5)], vec![i(200), f(0.5)]], Ok(f(125.0))),
            ("percentile_disc", vec![vec![i(100), f(0.5)], vec![i(150), f(0.5)], vec![i(200), f(0.5)]], Ok(f(150.0))),
            ("percentile_cont", vec![vec![i(100), f(0.0)], vec![i(150), f(0.0)]], Err("Input is outside of range")),
        ];
        for (name, rows, want) in cases {
            let got = agg(name, rows);
            match (want, got) {
                (Ok(Value::Float(w)), Ok(Value::Float(g))) => assert!((w - g).abs() < 1e-9, "{name}: {g} != {w}"),
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{name}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{name}: {g} !~ {w}"),
                (w, g) => panic!("{name}: want {w:?} got {g:?}"),
            }
        }
    }

    /// Results compare exactly (floats by bits, NaN equal to NaN), float sums within 1e-9.
    fn same(name: &str, a: &Result<Value, String>, b: &Result<Value, String>) -> bool {
        match (a, b) {
            (Ok(Value::Float(x)), Ok(Value::Float(y))) if matches!(name, "sum" | "avg") => {
                x.to_bits() == y.to_bits() || (x - y).abs() < 1e-9 || (x.is_nan() && y.is_nan())
            }
            (Ok(Value::Float(x)), Ok(Value::Float(y))) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            (a, b) => a == b,
        }
    }

    /// Folds `(position, value)` rows (in position order) into a fresh accumulator.
    fn fold(name: &str, rows: &[(u64, Value)]) -> Box<dyn super::Accumulator> {
        let mut a = accumulator(name).expect(name);
        for (p, v) in rows {
            a.update_at((*p, 0, 0), std::slice::from_ref(v)).expect("update");
        }
        a
    }

    #[test]
    fn partial_states_merge_like_one_fold() {
        let n = Value::Null;
        let nan = f(f64::NAN);
        // Each case: rows in position order, and which part (of two) each row goes to.
        type Case = (Vec<Value>, Vec<u8>);
        let cases: Vec<Case> = vec![
            (vec![i(1), i(5), i(-3), i(2)], vec![0, 1, 1, 0]),
            (vec![f(1.5), f(2.25), f(-0.5)], vec![1, 0, 1]),
            (vec![n.clone(), i(4), n.clone()], vec![0, 1, 0]),
            (vec![], vec![]),
            (vec![n.clone()], vec![1]),
            // The first value (an int) is on the other part: the floats are truncated.
            (vec![i(1), f(2.5), f(3.75)], vec![0, 1, 1]),
            (vec![i(1), f(2.5), s("x"), f(3.75)], vec![0, 1, 1, 1]),
            // The first value is a float: an int is the error.
            (vec![f(1.5), i(2), f(3.5)], vec![0, 1, 1]),
            (vec![f(1.5), f(9.5), i(2), i(7)], vec![1, 0, 1, 0]),
            (vec![f(1.5), s("a"), i(2)], vec![0, 1, 0]),
            (vec![s("b"), s("a"), s("c")], vec![1, 0, 1]),
            (vec![s("b"), i(1), s("a")], vec![1, 0, 1]),
            (vec![b(true), i(1)], vec![1, 0]),
            (vec![i(1), b(true), i(2), s("z")], vec![0, 1, 0, 1]),
            (vec![f(0.0), f(-0.0), f(1.0)], vec![0, 1, 0]),
            (vec![f(-0.0), f(0.0), f(-1.0)], vec![1, 0, 0]),
            (vec![nan.clone(), f(1.0), f(-2.0)], vec![0, 1, 1]),
            (vec![f(3.0), nan.clone(), f(2.0)], vec![0, 1, 1]),
            (vec![i(i64::MAX), i(1), i(i64::MIN)], vec![0, 1, 0]),
        ];
        for name in ["count", "sum", "avg", "min", "max"] {
            for (vals, parts) in &cases {
                let rows: Vec<(u64, Value)> = (1u64..).zip(vals.iter().cloned()).collect();
                let whole = fold(name, &rows).finish();
                let part = |k: u8| -> Vec<(u64, Value)> {
                    rows.iter().zip(parts).filter(|(_, p)| **p == k).map(|(r, _)| r.clone()).collect()
                };
                let (a, b) = (fold(name, &part(0)), fold(name, &part(1)));
                let (sa, sb) = (a.partial().expect("partial"), b.partial().expect("partial"));
                // Either merge order, into a fresh accumulator or into one of the parts.
                let mut ab = accumulator(name).expect(name);
                ab.merge(&sa).expect("merge");
                ab.merge(&sb).expect("merge");
                let mut ba = fold(name, &part(1));
                ba.merge(&sa).expect("merge");
                // The same on encoded states, without accumulators.
                let op = super::PartialState::of(name).expect("mergeable");
                let mut state = sb.clone();
                op.merge(&mut state, &sa).expect("merge");
                for got in [ab.finish(), ba.finish(), op.finish(&state)] {
                    assert!(same(name, &whole, &got), "{name} of {vals:?} split {parts:?}: {got:?} != {whole:?}");
                }
            }
        }
    }

    #[test]
    fn partial_states_merge_like_one_fold_for_every_split() {
        // Every 3-way split of short sequences over a pool of mixed values.
        let pool = [Value::Null, i(3), i(-2), f(1.5), f(-0.0), f(0.0), f(f64::NAN), s("a"), s("b"), b(true)];
        let mut seed: u64 = 7;
        let mut next = move |m: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        for _ in 0..300 {
            let len = next(6) as u32;
            let rows: Vec<(u64, Value)> =
                (0..len).map(|p| (u64::from(p) + 1, pool[next(10) as usize].clone())).collect();
            for name in ["count", "sum", "avg", "min", "max"] {
                let whole = fold(name, &rows).finish();
                for split in 0..3u64.pow(len) {
                    let mut parts: [Vec<(u64, Value)>; 3] = Default::default();
                    let mut k = split;
                    for r in &rows {
                        parts[(k % 3) as usize].push(r.clone());
                        k /= 3;
                    }
                    let mut merged = accumulator(name).expect(name);
                    let op = super::PartialState::of(name).expect("mergeable");
                    let mut encoded: Option<Vec<Value>> = None;
                    for part in parts.iter().rev() {
                        let state = fold(name, part).partial().expect("partial");
                        merged.merge(&state).expect("merge");
                        match encoded.as_mut() {
                            None => encoded = Some(state),
                            Some(into) => op.merge(into, &state).expect("merge"),
                        }
                    }
                    let got = merged.finish();
                    assert!(same(name, &whole, &got), "{name} of {rows:?} split {split}: {got:?} != {whole:?}");
                    let got = op.finish(&encoded.unwrap_or_default());
                    assert!(
                        same(name, &whole, &got),
                        "{name} of {rows:?} split {split} (encoded): {got:?} != {whole:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn non_mergeable_aggregates_have_no_partial_state() {
        for name in super::NAMES {
            let a = accumulator(name).expect(name);
            assert_eq!(a.partial().is_some(), super::mergeable(name), "{name}");
        }
        let mut a = accumulator("sum").expect("sum");
        assert!(a.merge(&[s("junk")]).is_err());
    }

    #[test]
    fn deduplicate_window_rule10() {
        // SELECT deduplicate(color, false)->color FROM demo GROUP BY SlidingWindow(hh, 1)
        let row = |c: &str| obj(vec![("color", s(c))]);
        let mut seen: Vec<Value> = Vec::new();
        let mut outs = Vec::new();
        for c in ["red", "blue", "blue", "yellow", "red"] {
            seen.push(row(c));
            let mut a = accumulator("deduplicate").expect("dedup");
            for r in &seen {
                let Value::Object(m) = r else { unreachable!() };
                a.update(&[m["color"].clone(), b(false), r.clone()]).expect("update");
            }
            outs.push(a.finish().expect("finish"));
        }
        assert_eq!(outs, vec![row("red"), row("blue"), Value::Null, row("yellow"), Value::Null]);
        let mut a = accumulator("deduplicate").expect("dedup");
        for c in ["a", "b", "a"] {
            a.update(&[s(c), b(true), row(c)]).expect("update");
        }
        assert_eq!(a.finish().expect("finish"), arr(vec![row("a"), row("b")]));
    }

    /// A reset accumulator is a fresh one: after rows of another type, a
    /// rejected value or a failure, the next rows give what they give alone.
    #[test]
    fn reset_forgets_the_rows_before() {
        let before = col(vec![f(1.5), s("x"), i(7), Value::Null]);
        let after = col(vec![i(3), i(4)]);
        for name in super::NAMES {
            let args = |r: &Vec<Value>| match *name {
                "deduplicate" => vec![r[0].clone(), b(true), r[0].clone()],
                "last_value" => vec![r[0].clone(), b(false)],
                "percentile" | "percentile_cont" | "percentile_disc" => vec![r[0].clone(), f(0.5)],
                _ => r.clone(),
            };
            let mut fresh = accumulator(name).expect(name);
            let mut reused = accumulator(name).expect(name);
            for r in &before {
                let _ = reused.update(&args(r));
            }
            if !reused.reset() {
                continue;
            }
            for r in &after {
                fresh.update(&args(r)).expect(name);
                reused.update(&args(r)).expect(name);
            }
            assert_eq!(reused.finish(), fresh.finish(), "{name}");
        }
    }

    /// Held in place or boxed, an aggregate gives the same results, partial
    /// states and errors.
    #[test]
    fn inline_accumulators_are_the_boxed_ones() {
        let rows = col(vec![i(3), Value::Null, f(2.5), i(-4), s("x")]);
        for name in super::NAMES {
            let mut boxed = accumulator(name).expect(name);
            let mut held = super::InlineAccumulator::of(name, || accumulator(name).expect(name));
            for (k, r) in rows.iter().enumerate() {
                let args = match *name {
                    "deduplicate" => vec![r[0].clone(), b(true), r[0].clone()],
                    "last_value" => vec![r[0].clone(), b(false)],
                    "percentile" | "percentile_cont" | "percentile_disc" => vec![r[0].clone(), f(0.5)],
                    _ => r.clone(),
                };
                let pos = (k as u64, 0, k as u64);
                use super::Accumulator;
                assert_eq!(held.update_at(pos, &args), boxed.update_at(pos, &args), "{name}");
                // Compared as text: a NaN (the sample deviation of one value) is itself.
                assert_eq!(format!("{:?}", held.finish()), format!("{:?}", boxed.finish()), "{name}");
                assert_eq!(format!("{:?}", held.partial()), format!("{:?}", boxed.partial()), "{name}");
            }
        }
    }
}
