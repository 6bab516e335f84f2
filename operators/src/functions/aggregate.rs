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

use super::{go_tv, go_v};
use crate::value::{Map, Value};
use std::sync::Arc;

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

/// An aggregate's running state for one group.
pub trait Accumulator: Send {
    /// Adds one row: its evaluated arguments (for `count(*)`/`collect(*)`, the row as an object).
    fn update(&mut self, args: &[Value]) -> Result<(), String>;
    /// The aggregate of the rows added so far.
    fn finish(&self) -> Result<Value, String>;
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
#[derive(Clone, Copy, PartialEq)]
enum RunningKind {
    Sum,
    Avg,
    Min,
    Max,
}

/// The running value of a [`Running`] aggregate; its variant is the type the first non-null value fixed.
enum RunningValue {
    Empty,
    Int(i64),
    Float(f64),
    Str(Arc<str>),
}

/// `sum`/`avg`/`min`/`max` folded as rows arrive, without keeping the values.
/// The typing rules are those of eKuiper's slice functions: the first non-null
/// value fixes the type, and the first later value of another type is the
/// error `finish` reports. Floats are added in arrival order, from `0.0`, as a
/// scan of the slice would add them.
struct Running {
    kind: RunningKind,
    value: RunningValue,
    /// Non-null values seen (the divisor of `avg`).
    count: i64,
    error: Option<String>,
}

impl Running {
    fn new(name: &str) -> Self {
        let kind = match name {
            "sum" => RunningKind::Sum,
            "avg" => RunningKind::Avg,
            "min" => RunningKind::Min,
            _ => RunningKind::Max,
        };
        Self { kind, value: RunningValue::Empty, count: 0, error: None }
    }

    fn name(&self) -> &'static str {
        match self.kind {
            RunningKind::Sum => "sum",
            RunningKind::Avg => "avg",
            RunningKind::Min => "min",
            RunningKind::Max => "max",
        }
    }

    fn add(&mut self, v: &Value) -> Result<(), String> {
        let extreme = matches!(self.kind, RunningKind::Min | RunningKind::Max);
        let min = self.kind == RunningKind::Min;
        // Whether `x` replaces `best` (min: smaller, max: larger).
        fn better<T: PartialOrd>(min: bool, x: T, best: T) -> bool {
            if min { x < best } else { x > best }
        }
        let name = self.name();
        match (&mut self.value, v) {
            (RunningValue::Empty, Value::Int(i)) => self.value = RunningValue::Int(*i),
            (RunningValue::Empty, Value::Float(f)) => {
                self.value = RunningValue::Float(if extreme { *f } else { 0.0 + *f });
            }
            (RunningValue::Empty, Value::String(s)) if extreme => self.value = RunningValue::Str(s.clone()),
            (RunningValue::Empty, other) => {
                return Err(format!("run {} function error: found invalid arg {}", name, go_tv(other)));
            }
            (RunningValue::Int(acc), Value::Int(_) | Value::Float(_)) => {
                let x = match v {
                    Value::Int(i) => *i,
                    Value::Float(f) => *f as i64,
                    _ => 0,
                };
                let acc_now = *acc;
                if !extreme {
                    *acc = acc_now.wrapping_add(x);
                } else if better(min, x, acc_now) {
                    self.value = RunningValue::Int(x);
                }
            }
            (RunningValue::Int(_), other) => {
                let ty = if extreme { "int64" } else { "int" };
                return Err(format!("requires {ty} but found {}", go_tv(other)));
            }
            (RunningValue::Float(acc), Value::Float(x)) => {
                let acc_now = *acc;
                if !extreme {
                    *acc = acc_now + *x;
                } else if better(min, *x, acc_now) {
                    self.value = RunningValue::Float(*x);
                }
            }
            (RunningValue::Float(_), other) => return Err(format!("requires float64 but found {}", go_tv(other))),
            (RunningValue::Str(best), Value::String(x)) => {
                if better(min, &**x, &**best) {
                    self.value = RunningValue::Str(x.clone());
                }
            }
            (RunningValue::Str(_), other) => return Err(format!("requires string but found {}", go_tv(other))),
        }
        Ok(())
    }
}

impl Accumulator for Running {
    fn update(&mut self, args: &[Value]) -> Result<(), String> {
        let Some(v) = args.first().filter(|v| !v.is_null()) else {
            return Ok(());
        };
        self.count += 1;
        if self.error.is_none()
            && let Err(e) = self.add(v)
        {
            self.error = Some(e);
        }
        Ok(())
    }

    fn finish(&self) -> Result<Value, String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let avg = self.kind == RunningKind::Avg;
        Ok(match &self.value {
            RunningValue::Empty => Value::Null,
            RunningValue::Int(i) => Value::Int(if avg { *i / self.count } else { *i }),
            RunningValue::Float(f) => Value::Float(if avg { *f / self.count as f64 } else { *f }),
            RunningValue::Str(s) => Value::String(s.clone()),
        })
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
}
