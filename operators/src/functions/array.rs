//! Array functions (`array_position`, `element_at`, `array_union`,
//! `sequence`, `array_map`, `kvpair_array_to_obj` …). Element equality is
//! exact like Go's `reflect.DeepEqual` (`1` and `1.0` differ); indexes are
//! 0-based; a null array gives what eKuiper documents for each function.

use super::{R, ScalarFn, any_null, arg, go_tv, to_int_strict, to_string_always};
use crate::value::{Map, Value};
use std::cmp::Ordering;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("array_avg", array_avg),
    ("array_cardinality", |a| {
        Ok(Value::Int(match arg(a, 0) {
            Value::Array(v) => v.iter().filter(|x| !x.is_null()).count() as i64,
            Value::Null => 0,
            _ => return Err(NOT_ARRAY.into()),
        }))
    }),
    ("array_concat", array_concat),
    ("array_contains", array_contains),
    ("array_contains_any", array_contains_any),
    ("array_create", |a| Ok(Value::array(a.to_vec()))),
    ("array_distinct", |a| with_array(a, |v| Ok(Value::array(distinct(v.iter()))))),
    ("array_except", array_except),
    ("array_flatten", array_flatten),
    ("array_intersect", array_intersect),
    ("array_join", array_join),
    ("array_last_position", |a| position(a, true)),
    ("array_map", array_map),
    ("array_max", |a| extreme(a, Ordering::Greater)),
    ("array_min", |a| extreme(a, Ordering::Less)),
    ("array_position", |a| position(a, false)),
    ("array_remove", array_remove),
    ("array_shuffle", |a| {
        with_array(a, |v| {
            let mut out = v.to_vec();
            fastrand::shuffle(&mut out);
            Ok(Value::array(out))
        })
    }),
    ("array_sort", |a| {
        with_array(a, |v| {
            let mut out = v.to_vec();
            out.sort_by(|x, y| x.sort_cmp(y));
            Ok(Value::array(out))
        })
    }),
    ("array_union", array_union),
    ("cardinality", |a| {
        Ok(Value::Int(match arg(a, 0) {
            Value::Array(v) => v.len() as i64,
            _ => 0,
        }))
    }),
    ("element_at", element_at),
    ("kvpair_array_to_obj", kvpair_array_to_obj),
    ("repeat", repeat),
    ("sequence", sequence),
];

const NOT_ARRAY: &str = "first argument should be array of interface{}";
const SECOND_NOT_ARRAY: &str = "second argument should be array of interface{}";

fn as_array<'a>(v: &'a Value, err: &str) -> Result<Option<&'a [Value]>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Array(a) => Ok(Some(a.as_slice())),
        _ => Err(err.to_string()),
    }
}

/// Runs `f` on the first argument as an array; null gives null.
fn with_array(a: &[Value], f: impl FnOnce(&[Value]) -> R) -> R {
    match as_array(arg(a, 0), NOT_ARRAY)? {
        None => Ok(Value::Null),
        Some(v) => f(v),
    }
}

fn distinct<'a>(it: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for x in it {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

fn position(a: &[Value], last: bool) -> R {
    let Some(v) = as_array(arg(a, 0), NOT_ARRAY)? else {
        return Ok(Value::Int(-1));
    };
    let needle = arg(a, 1);
    let found = if last { v.iter().rposition(|x| x == needle) } else { v.iter().position(|x| x == needle) };
    Ok(Value::Int(found.map_or(-1, |i| i as i64)))
}

fn element_at(a: &[Value]) -> R {
    match arg(a, 0) {
        Value::Null => Ok(Value::Null),
        Value::Array(v) => {
            let idx = to_int_strict(arg(a, 1)).map_err(|_| "second argument should be int".to_string())?;
            let len = v.len() as i64;
            if idx >= len || -idx > len {
                return Err("index out of range".into());
            }
            let i = if idx >= 0 { idx } else { len + idx };
            Ok(v[i as usize].clone())
        }
        Value::Object(m) => {
            let Value::String(k) = arg(a, 1) else {
                return Err("second argument should be string".into());
            };
            Ok(m.get(&**k).cloned().unwrap_or(Value::Null))
        }
        _ => Err("first argument should be []interface{} or map[string]interface{}".into()),
    }
}

fn array_contains(a: &[Value]) -> R {
    match as_array(arg(a, 0), NOT_ARRAY)? {
        None => Ok(Value::Null),
        Some(v) => Ok(Value::Bool(v.contains(arg(a, 1)))),
    }
}

fn array_contains_any(a: &[Value]) -> R {
    let Some(x) = as_array(arg(a, 0), NOT_ARRAY)? else {
        return Ok(Value::Bool(false));
    };
    let y = as_array(arg(a, 1), SECOND_NOT_ARRAY)?.unwrap_or(&[]);
    Ok(Value::Bool(x.iter().any(|e| y.contains(e))))
}

fn array_remove(a: &[Value]) -> R {
    with_array(a, |v| {
        let needle = arg(a, 1);
        Ok(Value::array(v.iter().filter(|x| *x != needle).cloned().collect()))
    })
}

fn array_intersect(a: &[Value]) -> R {
    let (Some(x), Some(y)) = (as_array(arg(a, 0), NOT_ARRAY)?, as_array(arg(a, 1), SECOND_NOT_ARRAY)?) else {
        return Ok(Value::Null);
    };
    Ok(Value::array(distinct(x.iter().filter(|e| y.contains(e)))))
}

fn array_union(a: &[Value]) -> R {
    let x = as_array(arg(a, 0), NOT_ARRAY)?;
    let y = as_array(arg(a, 1), SECOND_NOT_ARRAY)?;
    if x.is_none() && y.is_none() {
        return Ok(Value::Null);
    }
    let (x, y) = (x.unwrap_or(&[]), y.unwrap_or(&[]));
    Ok(Value::array(distinct(x.iter().chain(y.iter()))))
}

fn array_except(a: &[Value]) -> R {
    let Some(x) = as_array(arg(a, 0), NOT_ARRAY)? else {
        return Ok(Value::Null);
    };
    let y = as_array(arg(a, 1), SECOND_NOT_ARRAY)?.unwrap_or(&[]);
    Ok(Value::array(distinct(x.iter().filter(|e| !y.contains(e)))))
}

fn extreme(a: &[Value], want: Ordering) -> R {
    with_array(a, |v| {
        let mut best: Option<&Value> = None;
        for x in v.iter().filter(|x| !x.is_null()) {
            match best {
                None => best = Some(x),
                Some(b) => {
                    let comparable = matches!(
                        (b, x),
                        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_))
                            | (Value::String(_), Value::String(_))
                            | (Value::Bool(_), Value::Bool(_))
                    );
                    if !comparable {
                        return Err(format!(
                            "array contains elements of different types: {} and {}",
                            go_tv(b),
                            go_tv(x)
                        ));
                    }
                    if x.sort_cmp(b) == want {
                        best = Some(x);
                    }
                }
            }
        }
        Ok(best.cloned().unwrap_or(Value::Null))
    })
}

fn array_avg(a: &[Value]) -> R {
    with_array(a, |v| {
        let nums: Vec<f64> = v.iter().filter_map(Value::as_f64).collect();
        if nums.is_empty() {
            return Ok(Value::Null);
        }
        Ok(Value::Float(nums.iter().sum::<f64>() / nums.len() as f64))
    })
}

fn array_concat(a: &[Value]) -> R {
    let mut out = Vec::new();
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::Null => {}
            Value::Array(x) => out.extend(x.iter().cloned()),
            _ => return Err(format!("the argument {} should be array of interface{{}}", i + 1)),
        }
    }
    Ok(Value::array(out))
}

fn array_flatten(a: &[Value]) -> R {
    with_array(a, |v| {
        let mut out = Vec::new();
        for x in v {
            match x {
                Value::Array(inner) => out.extend(inner.iter().cloned()),
                _ => return Err("array elements should be array of interface{}".into()),
            }
        }
        Ok(Value::array(out))
    })
}

fn array_join(a: &[Value]) -> R {
    with_array(a, |v| {
        let delim = to_string_always(arg(a, 1));
        let null_rep = match arg(a, 2) {
            Value::Null => None,
            r => Some(to_string_always(r)),
        };
        let mut parts = Vec::with_capacity(v.len());
        for x in v {
            match x {
                Value::Null => {
                    if let Some(r) = &null_rep {
                        parts.push(r.clone());
                    }
                }
                Value::String(s) => parts.push(s.to_string()),
                other => return Err(format!("array elements should be string but got {}", go_tv(other))),
            }
        }
        Ok(Value::from(parts.join(&delim)))
    })
}

fn array_map(a: &[Value]) -> R {
    let name = to_string_always(arg(a, 0)).to_ascii_lowercase();
    let f = super::scalar(&name).ok_or_else(|| format!("unknown function name: {name}"))?;
    match as_array(arg(a, 1), SECOND_NOT_ARRAY)? {
        None => Ok(Value::Null),
        Some(v) => {
            let out = v.iter().map(|x| f(std::slice::from_ref(x))).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::array(out))
        }
    }
}

fn repeat(a: &[Value]) -> R {
    let n = to_int_strict(arg(a, 1)).map_err(|_| "the second parameter should be int".to_string())?;
    if n < 0 {
        return Err("the second parameter should be greater than or equal to 0".into());
    }
    Ok(Value::array(vec![arg(a, 0).clone(); n as usize]))
}

fn sequence(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let start = to_int_strict(arg(a, 0))?;
    let stop = to_int_strict(arg(a, 1))?;
    let step = if a.len() > 2 {
        to_int_strict(arg(a, 2))?
    } else if start <= stop {
        1
    } else {
        -1
    };
    if step == 0 {
        return Err("invalid step: should not be zero".into());
    }
    if (step > 0 && start > stop) || (step < 0 && start < stop) {
        return Err("invalid step: should be positive when start < stop, negative otherwise".into());
    }
    let count = (stop - start) / step + 1;
    if count > 1_000_000 {
        return Err("sequence too long".into());
    }
    Ok(Value::array((0..count).map(|i| Value::Int(start + i * step)).collect()))
}

fn kvpair_array_to_obj(a: &[Value]) -> R {
    with_array(a, |v| {
        let mut m = Map::new();
        for x in v {
            let Value::Object(pair) = x else {
                return Err(format!("array elements should be map[string]interface{{}} but got {}", go_tv(x)));
            };
            let Some(Value::String(k)) = pair.get("key") else {
                return Err("the key of the key-value pair should be string".into());
            };
            m.insert(k.to_string(), pair.get("value").cloned().unwrap_or(Value::Null));
        }
        Ok(Value::object(m))
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, arr, b, f, i, obj, run, s};
    use crate::value::Value;

    #[test]
    fn array_functions() {
        let a = || arr(vec![i(1), i(2), i(3), i(2)]);
        run(vec![
            ("cardinality", vec![a()], V(i(4))),
            ("cardinality", vec![Value::Null], V(i(0))),
            ("array_cardinality", vec![arr(vec![i(1), Value::Null])], V(i(1))),
            ("array_position", vec![a(), i(2)], V(i(1))),
            ("array_position", vec![a(), f(2.0)], V(i(-1))),
            ("array_position", vec![Value::Null, i(2)], V(i(-1))),
            ("array_position", vec![i(1), i(2)], E("first argument should be array")),
            ("array_last_position", vec![a(), i(2)], V(i(3))),
            ("element_at", vec![a(), i(0)], V(i(1))),
            ("element_at", vec![a(), i(-1)], V(i(2))),
            ("element_at", vec![a(), i(4)], E("index out of range")),
            ("element_at", vec![obj(vec![("k", i(1))]), s("k")], V(i(1))),
            ("array_contains", vec![a(), i(3)], V(b(true))),
            ("array_contains", vec![Value::Null, i(3)], V(Value::Null)),
            ("array_create", vec![i(1), s("a")], V(arr(vec![i(1), s("a")]))),
            ("array_remove", vec![a(), i(2)], V(arr(vec![i(1), i(3)]))),
            ("array_contains_any", vec![a(), arr(vec![i(9), i(3)])], V(b(true))),
            ("array_contains_any", vec![Value::Null, arr(vec![i(3)])], V(b(false))),
            ("array_intersect", vec![a(), arr(vec![i(2), i(3), i(5)])], V(arr(vec![i(2), i(3)]))),
            ("array_union", vec![arr(vec![i(1), i(2)]), arr(vec![i(2), i(3)])], V(arr(vec![i(1), i(2), i(3)]))),
            ("array_except", vec![a(), arr(vec![i(1)])], V(arr(vec![i(2), i(3)]))),
            ("array_max", vec![arr(vec![i(1), Value::Null, f(2.5), i(2)])], V(f(2.5))),
            ("array_min", vec![arr(vec![s("b"), s("a")])], V(s("a"))),
            ("array_max", vec![arr(vec![s("b"), i(1)])], E("different types")),
            ("array_avg", vec![arr(vec![i(1), i(2), Value::Null])], V(f(1.5))),
            ("array_avg", vec![arr(vec![])], V(Value::Null)),
            ("repeat", vec![s("x"), i(3)], V(arr(vec![s("x"), s("x"), s("x")]))),
            ("sequence", vec![i(1), i(5), i(2)], V(arr(vec![i(1), i(3), i(5)]))),
            ("sequence", vec![i(3), i(1)], V(arr(vec![i(3), i(2), i(1)]))),
            ("sequence", vec![i(1), i(3), i(0)], E("invalid step")),
            (
                "array_flatten",
                vec![arr(vec![arr(vec![i(1), i(4)]), arr(vec![i(2), i(3)])])],
                V(arr(vec![i(1), i(4), i(2), i(3)])),
            ),
            ("array_distinct", vec![a()], V(arr(vec![i(1), i(2), i(3)]))),
            ("array_map", vec![s("upper"), arr(vec![s("a"), s("b")])], V(arr(vec![s("A"), s("B")]))),
            ("array_map", vec![s("abs"), arr(vec![i(-1), f(-2.5)])], V(arr(vec![i(1), f(2.5)]))),
            ("array_map", vec![s("nope"), arr(vec![])], E("unknown function name")),
            ("array_join", vec![arr(vec![s("a"), Value::Null, s("c")]), s(","), s("-")], V(s("a,-,c"))),
            ("array_join", vec![arr(vec![s("a"), Value::Null, s("c")]), s(",")], V(s("a,c"))),
            ("array_concat", vec![arr(vec![i(1)]), Value::Null, arr(vec![i(2)])], V(arr(vec![i(1), i(2)]))),
            ("array_sort", vec![arr(vec![i(3), i(2), s("b"), s("a")])], V(arr(vec![i(2), i(3), s("a"), s("b")]))),
            (
                "kvpair_array_to_obj",
                vec![arr(vec![
                    obj(vec![("key", s("k1")), ("value", i(1))]),
                    obj(vec![("key", s("k2")), ("value", i(2))]),
                ])],
                V(obj(vec![("k1", i(1)), ("k2", i(2))])),
            ),
        ]);
        let sh = super::super::scalar("array_shuffle").expect("test")(&[a()]).expect("test");
        let Value::Array(v) = sh else { panic!("not array") };
        assert_eq!(v.len(), 4);
    }
}
