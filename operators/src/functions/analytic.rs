//! Analytic (stateful) functions: `lag`, `latest`, `changed_col`,
//! `had_changed`, `changed_cols`, the `acc_*` accumulators, and the extra
//! analytic functions `change_capture`, `change_to`, `consecutive_count`,
//! `consecutive_start`.
//!
//! One [`AnalyticFunction`] holds the state of one call site for one
//! partition (`OVER (PARTITION BY …)` is the engine's job: it keeps one
//! instance per partition key). `call(args, update)` is invoked for every row,
//! before `WHERE`; `update == false` means the `OVER (WHEN …)` condition was
//! false for that row: the function then returns what eKuiper returns for an
//! invalid row without touching its state:
//!
//! | function | result when `update == false` |
//! |---|---|
//! | `lag` | the value that would be returned (oldest in its queue) |
//! | `latest` | the saved value, else the default |
//! | `changed_col` | null |
//! | `had_changed` | `false` |
//! | `acc_*` | the current accumulated value (`acc_sum`/`acc_min`/`acc_max`/`acc_avg` start at `0.0`, `acc_count` at `0`) |
//! | `change_capture`, `consecutive_start` | the captured value |
//! | `change_to` | `false` |
//! | `consecutive_count` | the current count |
//!
//! The `acc_*` functions also take eKuiper's optional `onBegin, onReset`
//! arguments (`acc_sum(x, begin_cond, reset_cond)`): accumulation starts when
//! `onBegin` is true and the state resets after a row where `onReset` is true.

use super::{go_tv, to_f64, to_string_always};
use crate::value::{Map, Value};
use std::collections::VecDeque;

/// Names of the analytic functions this module implements.
pub(super) const NAMES: &[&str] = &[
    "acc_avg",
    "acc_collect",
    "acc_count",
    "acc_map_agg",
    "acc_max",
    "acc_max_by",
    "acc_min",
    "acc_min_by",
    "acc_sum",
    "change_capture",
    "change_to",
    "changed_col",
    "changed_cols",
    "consecutive_count",
    "consecutive_start",
    "had_changed",
    "lag",
    "latest",
];

/// The state of one analytic call site (for one partition).
pub trait AnalyticFunction: Send {
    /// Evaluates for one row: `args` are the evaluated arguments; `update` is
    /// the `OVER (WHEN …)` condition (true when there is none).
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String>;
}

/// A fresh state for `name` (`changed_cols` needs [`changed_cols`] instead).
pub(super) fn new(name: &str) -> Option<Box<dyn AnalyticFunction>> {
    Some(match name {
        "lag" => Box::new(Lag::default()),
        "latest" => Box::new(Latest(None)),
        "changed_col" => Box::new(ChangedCol(Value::Null)),
        "had_changed" => Box::new(HadChanged(Vec::new())),
        "acc_sum" | "acc_count" | "acc_min" | "acc_max" | "acc_avg" | "acc_collect" => {
            let kind = match name {
                "acc_sum" => AccKind::Sum,
                "acc_count" => AccKind::Count,
                "acc_min" => AccKind::Min,
                "acc_max" => AccKind::Max,
                "acc_avg" => AccKind::Avg,
                _ => AccKind::Collect,
            };
            Box::new(Acc { kind, state: AccState::Empty, has_begin: false })
        }
        "acc_max_by" => Box::new(AccBy { max: true, cur: None, has_begin: false }),
        "acc_min_by" => Box::new(AccBy { max: false, cur: None, has_begin: false }),
        "acc_map_agg" => Box::new(AccMapAgg { entries: Vec::new(), has_begin: false }),
        "change_capture" => Box::new(ChangeCapture::default()),
        "change_to" => Box::new(ChangeTo::default()),
        "consecutive_count" => Box::new(ConsecutiveCount(0)),
        "consecutive_start" => Box::new(ConsecutiveStart::default()),
        _ => return None,
    })
}

fn arg(a: &[Value], i: usize) -> Value {
    a.get(i).cloned().unwrap_or(Value::Null)
}

fn bool_arg(a: &[Value], i: usize, what: &str) -> Result<bool, String> {
    match a.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        other => Err(format!("{what} is not a bool but got {}", super::go_v(other.unwrap_or(&Value::Null)))),
    }
}

// ------------------------------------------------------------------ lag

#[derive(Default)]
struct Lag {
    queue: Option<VecDeque<Value>>,
}

impl AnalyticFunction for Lag {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let l = args.len();
        if !(1..=4).contains(&l) {
            return Err(format!("expect from 1 to 4 args but got {l}"));
        }
        let size = if l >= 2 {
            match &args[1] {
                Value::Int(i) if *i >= 0 => *i as usize,
                other => return Err(format!("error converting second arg {} to int", super::go_v(other))),
            }
        } else {
            1
        };
        let ignore_null = if l >= 4 {
            match &args[3] {
                Value::Bool(b) => *b,
                _ => return Err(format!("The fourth arg is not a bool but got {}", super::go_v(&args[0]))),
            }
        } else {
            false
        };
        let queue = self.queue.get_or_insert_with(|| {
            let default = if l >= 3 { args[2].clone() } else { Value::Null };
            std::iter::repeat_n(default, size).collect()
        });
        let cur = &args[0];
        if queue.is_empty() {
            // lag(x, 0): the current value
            return Ok(if update { cur.clone() } else { Value::Null });
        }
        if update && (!ignore_null || !cur.is_null()) {
            let out = queue.pop_front().unwrap_or(Value::Null);
            queue.push_back(cur.clone());
            Ok(out)
        } else {
            Ok(queue.front().cloned().unwrap_or(Value::Null))
        }
    }
}

// ------------------------------------------------------------------ latest / changed

struct Latest(Option<Value>);

impl AnalyticFunction for Latest {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let cur = arg(args, 0);
        if update && !cur.is_null() {
            self.0 = Some(cur.clone());
            return Ok(cur);
        }
        Ok(match &self.0 {
            Some(v) => v.clone(),
            None => arg(args, 1),
        })
    }
}

struct ChangedCol(Value);

impl AnalyticFunction for ChangedCol {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let ignore_null = bool_arg(args, 0, "first arg")?;
        let cur = arg(args, 1);
        if (ignore_null && cur.is_null()) || !update {
            return Ok(Value::Null);
        }
        if cur != self.0 {
            self.0 = cur.clone();
            return Ok(cur);
        }
        Ok(Value::Null)
    }
}

struct HadChanged(Vec<Value>);

impl AnalyticFunction for HadChanged {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        if args.len() <= 1 {
            return Err(format!("expect more than one arg but got {}", args.len()));
        }
        if !update {
            return Ok(Value::Bool(false));
        }
        let ignore_null = bool_arg(args, 0, "first arg")?;
        if self.0.len() < args.len() - 1 {
            self.0.resize(args.len() - 1, Value::Null);
        }
        let mut changed = false;
        for (i, v) in args[1..].iter().enumerate() {
            if ignore_null && v.is_null() {
                continue;
            }
            if *v != self.0[i] {
                changed = true;
                self.0[i] = v.clone();
            }
        }
        Ok(Value::Bool(changed))
    }
}

/// `changed_cols(prefix, ignoreNull, expr…)` for columns `names` (one name per
/// `expr`, without the prefix; the binder expands `*` into the stream's
/// columns). `call` gets `[prefix, ignoreNull, v1, v2, …]` and returns an
/// object of the changed columns, keyed `prefix + name`.
pub fn changed_cols(names: Vec<String>) -> Box<dyn AnalyticFunction> {
    Box::new(ChangedCols { names, last: Vec::new() })
}

struct ChangedCols {
    names: Vec<String>,
    last: Vec<Option<Value>>,
}

impl AnalyticFunction for ChangedCols {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        if args.len() <= 2 {
            return Err(format!("expect more than two args but got {}", args.len()));
        }
        let prefix = to_string_always(&args[0]);
        let ignore_null = bool_arg(args, 1, "second arg")?;
        let cols = &args[2..];
        if self.last.len() < cols.len() {
            self.last.resize(cols.len(), None);
        }
        let mut out = Map::new();
        if !update {
            return Ok(Value::object(out));
        }
        for (i, v) in cols.iter().enumerate() {
            if ignore_null && v.is_null() {
                continue;
            }
            if self.last[i].as_ref() != Some(v) {
                let name = self.names.get(i).cloned().unwrap_or_else(|| format!("col{}", i + 1));
                out.insert(format!("{prefix}{name}"), v.clone());
                self.last[i] = Some(v.clone());
            }
        }
        Ok(Value::object(out))
    }
}

// ------------------------------------------------------------------ acc_*

#[derive(Clone, Copy, PartialEq)]
enum AccKind {
    Sum,
    Count,
    Min,
    Max,
    Avg,
    Collect,
}

#[derive(Clone)]
enum AccState {
    Empty,
    Num(f64),
    Count(i64),
    Avg { sum: f64, count: i64 },
    List(Vec<Value>),
}

struct Acc {
    kind: AccKind,
    state: AccState,
    has_begin: bool,
}

const NOT_NUMBER: &str = "the value should be number";

impl Acc {
    fn reset(&mut self) {
        self.state = match self.kind {
            AccKind::Sum => AccState::Num(0.0),
            AccKind::Count => AccState::Count(0),
            AccKind::Collect => AccState::List(Vec::new()),
            AccKind::Min | AccKind::Max | AccKind::Avg => AccState::Empty,
        };
    }

    fn exec(&mut self, v: &Value, valid: bool) -> Result<(), String> {
        if matches!(self.state, AccState::Empty)
            && matches!(self.kind, AccKind::Sum | AccKind::Count | AccKind::Collect)
        {
            self.reset();
        }
        if !valid {
            return Ok(());
        }
        match self.kind {
            AccKind::Count => {
                if let AccState::Count(c) = &mut self.state
                    && !v.is_null()
                {
                    *c += 1;
                }
            }
            AccKind::Sum => {
                if !v.is_null() {
                    let x = v.as_f64().ok_or(NOT_NUMBER)?;
                    if let AccState::Num(s) = &mut self.state {
                        *s += x;
                    }
                }
            }
            AccKind::Collect => {
                if let AccState::List(l) = &mut self.state
                    && !v.is_null()
                {
                    l.push(v.clone());
                }
            }
            AccKind::Min | AccKind::Max => {
                let x = v.as_f64().ok_or(NOT_NUMBER)?;
                let cur = match self.state {
                    AccState::Num(m) => m,
                    _ if self.kind == AccKind::Min => i64::MAX as f64,
                    _ => i64::MIN as f64,
                };
                let m = if self.kind == AccKind::Min { cur.min(x) } else { cur.max(x) };
                self.state = AccState::Num(m);
            }
            AccKind::Avg => {
                let x = v.as_f64().ok_or(NOT_NUMBER)?;
                let (sum, count) = match self.state {
                    AccState::Avg { sum, count } => (sum, count),
                    _ => (0.0, 0),
                };
                self.state = AccState::Avg { sum: sum + x, count: count + 1 };
            }
        }
        Ok(())
    }

    fn result(&self) -> Value {
        match &self.state {
            AccState::Empty => match self.kind {
                AccKind::Count => Value::Int(0),
                AccKind::Collect => Value::array(vec![]),
                _ => Value::Float(0.0),
            },
            AccState::Num(x) => Value::Float(*x),
            AccState::Count(c) => Value::Int(*c),
            AccState::Avg { sum, count } => Value::Float(sum / *count as f64),
            AccState::List(l) => Value::array(l.clone()),
        }
    }
}

/// eKuiper's `accFuncWithCond`: reset while not begun, begin on `onBegin`,
/// accumulate while begun, stop after `onReset`.
fn with_cond(
    has_begin: &mut bool,
    args: &[Value],
    first_cond: usize,
    reset: &mut dyn FnMut(),
    exec: &mut dyn FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let Value::Bool(on_begin) = arg(args, first_cond) else {
        return Err("onBegin should be boolean".into());
    };
    let Value::Bool(on_reset) = arg(args, first_cond + 1) else {
        return Err("onReset should be boolean".into());
    };
    if !*has_begin {
        reset();
    }
    if on_begin && !*has_begin {
        *has_begin = true;
    }
    if *has_begin {
        exec()?;
    }
    if on_reset {
        *has_begin = false;
    }
    Ok(())
}

impl AnalyticFunction for Acc {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let v = arg(args, 0);
        match args.len() {
            1 => self.exec(&v, update)?,
            3 => {
                let mut has_begin = self.has_begin;
                let this = std::cell::RefCell::new(&mut *self);
                with_cond(&mut has_begin, args, 1, &mut || this.borrow_mut().reset(), &mut || {
                    this.borrow_mut().exec(&v, update)
                })?;
                self.has_begin = has_begin;
            }
            n => return Err(format!("Expect 1/3 arguments but found {n}.")),
        }
        Ok(self.result())
    }
}

struct AccBy {
    max: bool,
    cur: Option<(Value, f64)>,
    has_begin: bool,
}

impl AccBy {
    fn exec(&mut self, value: &Value, by: &Value, valid: bool) -> Result<(), String> {
        if !valid || by.is_null() {
            return Ok(());
        }
        let name = if self.max { "acc_max_by" } else { "acc_min_by" };
        let b = to_f64(by).map_err(|e| format!("{name} compare_value should be number: {e}"))?;
        if b.is_nan() {
            return Ok(());
        }
        let replace = match &self.cur {
            None => true,
            Some((_, c)) if c.is_nan() => true,
            Some((_, c)) => {
                if self.max {
                    b >= *c
                } else {
                    b <= *c
                }
            }
        };
        if replace {
            self.cur = Some((value.clone(), b));
        }
        Ok(())
    }
}

impl AnalyticFunction for AccBy {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let (value, by) = (arg(args, 0), arg(args, 1));
        match args.len() {
            2 => self.exec(&value, &by, update)?,
            4 => {
                let mut has_begin = self.has_begin;
                let this = std::cell::RefCell::new(&mut *self);
                with_cond(&mut has_begin, args, 2, &mut || this.borrow_mut().cur = None, &mut || {
                    this.borrow_mut().exec(&value, &by, update)
                })?;
                self.has_begin = has_begin;
            }
            n => return Err(format!("Expect 2/4 arguments but found {n}.")),
        }
        Ok(self.cur.as_ref().map(|(v, _)| v.clone()).unwrap_or(Value::Null))
    }
}

struct AccMapAgg {
    entries: Vec<(String, Value)>,
    has_begin: bool,
}

impl AccMapAgg {
    fn exec(&mut self, k: &Value, v: &Value, valid: bool) -> Result<(), String> {
        if !valid || k.is_null() {
            return Ok(());
        }
        let key = match k {
            Value::String(s) => s.to_string(),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => to_string_always(k),
            other => {
                return Err(format!(
                    "acc_map_agg key should be string-convertible: cannot convert {} to string",
                    go_tv(other)
                ));
            }
        };
        match self.entries.iter_mut().find(|(ek, _)| *ek == key) {
            Some(e) => e.1 = v.clone(),
            None => self.entries.push((key, v.clone())),
        }
        Ok(())
    }
}

impl AnalyticFunction for AccMapAgg {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let (k, v) = (arg(args, 0), arg(args, 1));
        match args.len() {
            2 => self.exec(&k, &v, update)?,
            4 => {
                let mut has_begin = self.has_begin;
                let this = std::cell::RefCell::new(&mut *self);
                with_cond(&mut has_begin, args, 2, &mut || this.borrow_mut().entries.clear(), &mut || {
                    this.borrow_mut().exec(&k, &v, update)
                })?;
                self.has_begin = has_begin;
            }
            n => return Err(format!("Expect 2/4 arguments but found {n}.")),
        }
        Ok(Value::array(
            self.entries
                .iter()
                .map(|(k, v)| {
                    let mut m = Map::new();
                    m.insert("key".into(), Value::str(k));
                    m.insert("value".into(), v.clone());
                    Value::object(m)
                })
                .collect(),
        ))
    }
}

// ------------------------------------------------------------------ extra analytic functions

/// `change_capture(save, monitor[, target[, ignoreNull]])`.
#[derive(Default)]
struct ChangeCapture {
    captured: Value,
    prev: Option<Value>,
}

impl AnalyticFunction for ChangeCapture {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let (save, monitor) = (arg(args, 0), arg(args, 1));
        let ignore_null = args.len() >= 4 && bool_arg(args, 3, "ignoreNull")?;
        if !update || (ignore_null && monitor.is_null()) {
            return Ok(self.captured.clone());
        }
        let changed = self.prev.as_ref() != Some(&monitor);
        let hit = if args.len() >= 3 { changed && monitor == args[2] } else { changed };
        if hit {
            self.captured = save;
        }
        self.prev = Some(monitor);
        Ok(self.captured.clone())
    }
}

/// `change_to(monitor[, target[, ignoreNull]])`.
#[derive(Default)]
struct ChangeTo {
    prev: Option<Value>,
}

impl AnalyticFunction for ChangeTo {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        let monitor = arg(args, 0);
        let ignore_null = args.len() >= 3 && bool_arg(args, 2, "ignoreNull")?;
        if !update || (ignore_null && monitor.is_null()) {
            return Ok(Value::Bool(false));
        }
        let changed = self.prev.as_ref() != Some(&monitor);
        let hit = if args.len() >= 2 { changed && monitor == args[1] } else { changed };
        self.prev = Some(monitor);
        Ok(Value::Bool(hit))
    }
}

struct ConsecutiveCount(i64);

impl AnalyticFunction for ConsecutiveCount {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        if update {
            self.0 = if arg(args, 0) == Value::Bool(true) { self.0 + 1 } else { 0 };
        }
        Ok(Value::Int(self.0))
    }
}

#[derive(Default)]
struct ConsecutiveStart {
    captured: Option<Value>,
}

impl AnalyticFunction for ConsecutiveStart {
    fn call(&mut self, args: &[Value], update: bool) -> Result<Value, String> {
        if update {
            if arg(args, 0) == Value::Bool(true) {
                if self.captured.is_none() {
                    self.captured = Some(arg(args, 1));
                }
            } else {
                self.captured = None;
            }
        }
        Ok(self.captured.clone().unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{arr, b, f, i, obj, s};
    use super::*;
    use std::collections::HashMap;

    /// The `demo` stream of eKuiper's topotest mock data: (color, size).
    fn demo() -> Vec<(&'static str, i64)> {
        vec![("red", 3), ("blue", 6), ("blue", 2), ("yellow", 4), ("red", 1)]
    }

    fn run(name: &str, rows: Vec<(Vec<Value>, bool)>) -> Vec<Value> {
        let mut f = super::new(name).expect(name);
        rows.into_iter().map(|(a, u)| f.call(&a, u).expect("call")).collect()
    }

    #[test]
    fn acc_agg_sql_vectors() {
        // rule_test.TestAccAggSQL: acc_*(size) over (when color = "red")
        let rows = || demo().into_iter().map(|(c, sz)| (vec![i(sz)], c == "red")).collect::<Vec<_>>();
        assert_eq!(run("acc_sum", rows()), vec![f(3.0), f(3.0), f(3.0), f(3.0), f(4.0)]);
        assert_eq!(run("acc_min", rows()), vec![f(3.0), f(3.0), f(3.0), f(3.0), f(1.0)]);
        assert_eq!(run("acc_max", rows()), vec![f(3.0); 5]);
        assert_eq!(run("acc_count", rows()), vec![i(1), i(1), i(1), i(1), i(2)]);
        assert_eq!(run("acc_avg", rows()), vec![f(3.0), f(3.0), f(3.0), f(3.0), f(2.0)]);
        // TestAccAggSql1: acc_sum(size) over (partition by color)
        let mut parts: HashMap<&str, Box<dyn AnalyticFunction>> = HashMap::new();
        let out: Vec<Value> = demo()
            .into_iter()
            .map(|(c, sz)| {
                let f = parts.entry(c).or_insert_with(|| super::new("acc_sum").expect("acc_sum"));
                f.call(&[i(sz)], true).expect("call")
            })
            .collect();
        assert_eq!(out, vec![f(3.0), f(6.0), f(8.0), f(4.0), f(4.0)]);
    }

    #[test]
    fn acc_when_false_before_any_value() {
        assert_eq!(run("acc_min", vec![(vec![i(5)], false)]), vec![f(0.0)]);
        assert_eq!(run("acc_count", vec![(vec![i(5)], false)]), vec![i(0)]);
        assert_eq!(
            run("acc_collect", vec![(vec![i(5)], true), (vec![Value::Null], true)]),
            vec![arr(vec![i(5)]), arr(vec![i(5)])]
        );
        let mut m = super::new("acc_max").expect("acc_max");
        assert_eq!(m.call(&[Value::Null], true), Err("the value should be number".into()));
    }

    #[test]
    fn acc_with_begin_and_reset() {
        // acc_sum(x, x > 1, x > 3): starts at the first x > 1, resets after x > 3
        let xs = [1, 2, 3, 4, 5, 2];
        let out = run("acc_sum", xs.iter().map(|&x| (vec![i(x), b(x > 1), b(x > 3)], true)).collect());
        assert_eq!(out, vec![f(0.0), f(2.0), f(5.0), f(9.0), f(5.0), f(2.0)]);
    }

    #[test]
    fn acc_by_and_map_agg() {
        let out = run(
            "acc_max_by",
            vec![
                (vec![s("a"), i(1)], true),
                (vec![s("b"), i(5)], true),
                (vec![s("c"), i(3)], true),
                (vec![s("d"), Value::Null], true),
            ],
        );
        assert_eq!(out, vec![s("a"), s("b"), s("b"), s("b")]);
        let out = run("acc_min_by", vec![(vec![s("a"), f(1.5)], true), (vec![s("b"), f(1.5)], true)]);
        assert_eq!(out, vec![s("a"), s("b")]);
        let out = run(
            "acc_map_agg",
            vec![(vec![s("k"), i(1)], true), (vec![s("j"), i(2)], true), (vec![s("k"), i(3)], true)],
        );
        let kv = |k: &str, v: i64| obj(vec![("key", s(k)), ("value", i(v))]);
        assert_eq!(out[2], arr(vec![kv("k", 3), kv("j", 2)]));
    }

    #[test]
    fn lag_vectors() {
        // TestLagPartition: lag(size) over (partition by color)
        let mut parts: HashMap<&str, Box<dyn AnalyticFunction>> = HashMap::new();
        let out: Vec<Value> = demo()
            .into_iter()
            .map(|(c, sz)| {
                let f = parts.entry(c).or_insert_with(|| super::new("lag").expect("lag"));
                f.call(&[i(sz)], true).expect("call")
            })
            .collect();
        assert_eq!(out, vec![Value::Null, Value::Null, i(6), Value::Null, i(3)]);
        // TestLagAlias: lag(size) and lag(had_changed(true, size)), evaluated before WHERE
        let mut lag = super::new("lag").expect("lag");
        let mut lag2 = super::new("lag").expect("lag");
        let mut hc = super::new("had_changed").expect("had_changed");
        let mut got = Vec::new();
        for (_, sz) in demo() {
            let l = lag.call(&[i(sz)], true).expect("lag");
            let h = hc.call(&[b(true), i(sz)], true).expect("had_changed");
            let l2 = lag2.call(&[h], true).expect("lag");
            got.push((l, l2));
        }
        assert_eq!(got[1], (i(3), b(true)));
        assert_eq!(got[3], (i(2), b(true)));
        assert_eq!(got[0], (Value::Null, Value::Null));
        // TestAnalyzeFuncAlias2: lag(size, 1, 0) + 1 as b, lag(b, 1, 0)
        let mut l1 = super::new("lag").expect("lag");
        let mut l2 = super::new("lag").expect("lag");
        let mut rows = Vec::new();
        for (_, sz) in demo() {
            let Value::Int(t) = l1.call(&[i(sz), i(1), i(0)], true).expect("lag") else { panic!() };
            let bb = i(t + 1);
            let lb = l2.call(&[bb.clone(), i(1), i(0)], true).expect("lag");
            rows.push((bb, lb));
        }
        assert_eq!(rows, vec![(i(1), i(0)), (i(4), i(1)), (i(7), i(4)), (i(3), i(7)), (i(5), i(3))]);
    }

    #[test]
    fn lag_offset_default_ignore_null_and_when() {
        let out = run(
            "lag",
            vec![
                (vec![i(1), i(2), s("d"), b(true)], true),
                (vec![Value::Null, i(2), s("d"), b(true)], true),
                (vec![i(2), i(2), s("d"), b(true)], true),
                (vec![i(3), i(2), s("d"), b(true)], false),
                (vec![i(4), i(2), s("d"), b(true)], true),
            ],
        );
        assert_eq!(out, vec![s("d"), s("d"), s("d"), i(1), i(1)]);
    }

    #[test]
    fn latest_changed_col_had_changed() {
        let out = run(
            "latest",
            vec![(vec![Value::Null, i(0)], true), (vec![i(1)], true), (vec![Value::Null], true), (vec![i(5)], false)],
        );
        assert_eq!(out, vec![i(0), i(1), i(1), i(1)]);
        let out = run(
            "changed_col",
            vec![
                (vec![b(true), i(1)], true),
                (vec![b(true), i(1)], true),
                (vec![b(true), Value::Null], true),
                (vec![b(true), i(2)], false),
                (vec![b(true), i(2)], true),
            ],
        );
        assert_eq!(out, vec![i(1), Value::Null, Value::Null, Value::Null, i(2)]);
        let out = run(
            "had_changed",
            vec![
                (vec![b(true), i(1), s("a")], true),
                (vec![b(true), i(1), s("a")], true),
                (vec![b(true), Value::Null, s("a")], true),
                (vec![b(true), i(1), s("b")], false),
                (vec![b(true), i(1), s("b")], true),
            ],
        );
        assert_eq!(out, vec![b(true), b(false), b(false), b(false), b(true)]);
    }

    #[test]
    fn changed_cols_vector() {
        // TestChanged13: SELECT changed_cols("tt_", true, color, size) FROM demo
        let mut f = changed_cols(vec!["color".into(), "size".into()]);
        let out: Vec<Value> =
            demo().into_iter().map(|(c, sz)| f.call(&[s("tt_"), b(true), s(c), i(sz)], true).expect("call")).collect();
        assert_eq!(
            out,
            vec![
                obj(vec![("tt_color", s("red")), ("tt_size", i(3))]),
                obj(vec![("tt_color", s("blue")), ("tt_size", i(6))]),
                obj(vec![("tt_size", i(2))]),
                obj(vec![("tt_color", s("yellow")), ("tt_size", i(4))]),
                obj(vec![("tt_color", s("red")), ("tt_size", i(1))]),
            ]
        );
    }

    #[test]
    fn extra_analytic_functions() {
        // change_capture(ts, status, 1, true): doc example 1
        let rows = [(10, Some(0)), (11, Some(1)), (12, None), (13, Some(1)), (14, Some(2))];
        let st = |x: Option<i64>| x.map_or(Value::Null, i);
        let out = run("change_capture", rows.iter().map(|(t, x)| (vec![i(*t), st(*x), i(1), b(true)], true)).collect());
        assert_eq!(out, vec![Value::Null, i(11), i(11), i(11), i(11)]);
        let out = run("change_to", rows.iter().map(|(_, x)| (vec![st(*x), i(1), b(true)], true)).collect());
        assert_eq!(out, vec![b(false), b(true), b(false), b(false), b(false)]);
        // change_capture(temp, level, 2, false): doc example 2
        let rows2 = [(25.0, Some(1)), (26.5, Some(2)), (27.0, None), (28.0, Some(2))];
        let out =
            run("change_capture", rows2.iter().map(|(t, x)| (vec![f(*t), st(*x), i(2), b(false)], true)).collect());
        assert_eq!(out, vec![Value::Null, f(26.5), f(26.5), f(28.0)]);
        let levels = [0, 1, 1, 1, 0, 1];
        let out = run("consecutive_count", levels.iter().map(|&l| (vec![b(l == 1)], true)).collect());
        assert_eq!(out, vec![i(0), i(1), i(2), i(3), i(0), i(1)]);
        let out = run(
            "consecutive_start",
            levels.iter().enumerate().map(|(t, &l)| (vec![b(l == 1), i(t as i64)], true)).collect(),
        );
        assert_eq!(out, vec![Value::Null, i(1), i(1), i(1), Value::Null, i(5)]);
    }
}
