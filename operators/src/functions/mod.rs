//! The built-in function library: implementations of eKuiper's scalar,
//! aggregate and analytic functions over [`Value`]s, one module per eKuiper
//! category. Signatures (argument counts, kinds) live in
//! `oort_compiler::functions`; a test here keeps the catalog's `implemented`
//! flags equal to what this module can execute.
//!
//! * Scalar functions are plain `fn(&[Value]) -> Result<Value, String>`, looked up
//!   with [`scalar`]. Errors carry eKuiper's message text (the engine prefixes
//!   `run Select error: `).
//! * Aggregates are [`Accumulator`]s fed one row's evaluated arguments at a time
//!   ([`accumulator`]).
//! * Analytic functions are stateful per call site (and per partition): an
//!   [`AnalyticFunction`] from [`analytic`] (or [`changed_cols`], which needs the
//!   column names).
//! * Context functions (`window_start`, `event_time`, `row_number`, `meta`, …) and
//!   `unnest` are evaluated by the engine and are only catalogued.
//!
//! Int/float typing follows eKuiper: `abs(-3)` is `Int(3)`, `abs(-3.5)` a
//! `Float`, `sum` of ints an `Int`, trigonometry always `Float`.

use crate::value::Value;

pub mod aggregate;
pub mod analytic;
pub mod array;
pub mod conversion;
pub mod datetime;
pub mod external;
pub mod hashing;
pub mod json_path;
pub mod keyed_state;
pub mod math;
pub mod object;
pub mod other;
pub mod string;

pub use aggregate::Accumulator;
pub use analytic::{AnalyticFunction, changed_cols};

/// A scalar function: evaluated arguments in, value or eKuiper error message out.
pub type ScalarFn = fn(&[Value]) -> Result<Value, String>;

/// Result of a scalar function.
pub(crate) type R = Result<Value, String>;

/// The tables of every scalar module, searched by [`scalar`].
const SCALAR_TABLES: &[&[(&str, ScalarFn)]] = &[
    math::FUNCTIONS,
    string::FUNCTIONS,
    conversion::FUNCTIONS,
    hashing::FUNCTIONS,
    json_path::FUNCTIONS,
    array::FUNCTIONS,
    object::FUNCTIONS,
    datetime::FUNCTIONS,
    other::FUNCTIONS,
];

/// The scalar function of that (lower-case) name.
pub fn scalar(name: &str) -> Option<ScalarFn> {
    SCALAR_TABLES.iter().flat_map(|t| t.iter()).find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A fresh accumulator for the aggregate function of that (lower-case) name.
/// Falls back to [`external`] (plugin) aggregates when no built-in has the name.
pub fn accumulator(name: &str) -> Option<Box<dyn Accumulator>> {
    aggregate::new(name).or_else(|| external::accumulator(name))
}

/// A fresh analytic function state for that (lower-case) name. `changed_cols`
/// needs the column names: use [`changed_cols`] for it (this returns `None`).
pub fn analytic(name: &str) -> Option<Box<dyn AnalyticFunction>> {
    analytic::new(name)
}

/// Whether this build can execute the scalar, aggregate or analytic function `name`.
pub fn is_implemented(name: &str) -> bool {
    scalar(name).is_some() || aggregate::NAMES.contains(&name) || analytic::NAMES.contains(&name)
}

/// Every name this module executes (scalar, aggregate and analytic).
pub fn implemented_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SCALAR_TABLES
        .iter()
        .flat_map(|t| t.iter().map(|(n, _)| *n))
        .chain(aggregate::NAMES.iter().copied())
        .chain(analytic::NAMES.iter().copied())
        .collect();
    v.sort_unstable();
    v
}

// ------------------------------------------------------------------ helpers

static NULL: Value = Value::Null;

/// Argument `i`, or null when absent (the binder checks counts; this never panics).
pub(crate) fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&NULL)
}

/// eKuiper's `returnNilIfHasAnyNil`.
pub(crate) fn any_null(args: &[Value]) -> bool {
    args.iter().any(Value::is_null)
}

/// Go's `cast.ToFloat64(v, CONVERT_SAMEKIND)`: ints and floats only.
pub(crate) fn to_f64(v: &Value) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("cannot convert {} to float64", v.go_describe()))
}

/// Go's `cast.ToInt(v, STRICT)`: ints only.
pub(crate) fn to_int_strict(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(format!("cannot convert {} to int", v.go_describe())),
    }
}

/// Go's `cast.ToInt(v, CONVERT_SAMEKIND)`: ints, and floats truncated.
pub(crate) fn to_int_samekind(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        _ => Err(format!("cannot convert {} to int", v.go_describe())),
    }
}

/// Go's `cast.ToStringAlways`: display text, null as empty.
pub(crate) fn to_string_always(v: &Value) -> String {
    v.to_display_string()
}

/// Go's `%v` of a value (used inside error messages).
pub(crate) fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", go_v(v))).collect();
            format!("map[{}]", parts.join(" "))
        }
        other => other.to_display_string(),
    }
}

/// Go's `%[1]T(%[1]v)`.
pub(crate) fn go_tv(v: &Value) -> String {
    format!("{}({})", v.go_type(), go_v(v))
}

/// A float result, or null when NaN (eKuiper's math functions).
pub(crate) fn float_or_null(f: f64) -> Value {
    if f.is_nan() { Value::Null } else { Value::Float(f) }
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::value::Value;

    /// Expected outcome of a table-driven case.
    pub enum Want {
        /// Exactly this value.
        V(Value),
        /// A float within 1e-9.
        F(f64),
        /// An error containing this text.
        E(&'static str),
    }

    /// Runs `(name, args, want)` cases through [`super::scalar`].
    pub fn run(cases: Vec<(&str, Vec<Value>, Want)>) {
        for (name, args, want) in cases {
            let f = super::scalar(name).unwrap_or_else(|| panic!("no scalar {name}"));
            let got = f(&args);
            match (&want, &got) {
                (Want::V(v), Ok(g)) => assert_eq!(g, v, "{name}({args:?})"),
                (Want::F(x), Ok(Value::Float(g))) => {
                    assert!((g - x).abs() < 1e-9, "{name}({args:?}) = {g}, want {x}")
                }
                (Want::E(s), Err(e)) => assert!(e.contains(s), "{name}({args:?}): {e:?} !~ {s:?}"),
                _ => panic!("{name}({args:?}) = {got:?}"),
            }
        }
    }

    pub fn s(x: &str) -> Value {
        Value::str(x)
    }
    pub fn i(x: i64) -> Value {
        Value::Int(x)
    }
    pub fn f(x: f64) -> Value {
        Value::Float(x)
    }
    pub fn b(x: bool) -> Value {
        Value::Bool(x)
    }
    pub fn arr(v: Vec<Value>) -> Value {
        Value::array(v)
    }
    pub fn obj(kv: Vec<(&str, Value)>) -> Value {
        Value::object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oort_compiler::functions::{FunctionKind, all};

    #[test]
    fn catalog_flags_match_implementations() {
        let executable = implemented_names();
        let mut catalogued = Vec::new();
        for sig in all() {
            match sig.kind {
                FunctionKind::Scalar | FunctionKind::Aggregate | FunctionKind::Analytic => {
                    assert_eq!(
                        sig.implemented,
                        is_implemented(&sig.name),
                        "catalog flag of {} disagrees with operators",
                        sig.name
                    );
                    catalogued.push(sig.name.clone());
                }
                FunctionKind::Context | FunctionKind::SetReturning => {
                    assert!(!is_implemented(&sig.name), "{} is engine-evaluated", sig.name);
                }
            }
        }
        for n in executable {
            assert!(catalogued.iter().any(|c| c == n), "{n} is executable but not catalogued");
        }
    }
}
