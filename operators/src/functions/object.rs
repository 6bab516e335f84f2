//! Object functions (`keys`, `values`, `object`, `zip`, `items`,
//! `object_construct`, `object_concat`, `erase`, `object_size`, `object_pick`,
//! `obj_to_kvpair_array`). Objects are sorted maps, so `keys`/`values`/`items`
//! come out in key order.

use super::{R, ScalarFn, arg, go_tv};
use crate::value::{Map, Value};

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("erase", erase),
    ("items", |a| {
        with_obj(a, |m| Ok(Value::array(m.iter().map(|(k, v)| Value::array(vec![Value::str(k), v.clone()])).collect())))
    }),
    ("keys", |a| with_obj(a, |m| Ok(Value::array(m.keys().map(|k| Value::str(k)).collect())))),
    ("obj_to_kvpair_array", |a| {
        with_obj(a, |m| {
            Ok(Value::array(
                m.iter()
                    .map(|(k, v)| {
                        let mut p = Map::new();
                        p.insert("key".into(), Value::str(k));
                        p.insert("value".into(), v.clone());
                        Value::object(p)
                    })
                    .collect(),
            ))
        })
    }),
    ("object", object),
    ("object_concat", object_concat),
    ("object_construct", object_construct),
    ("object_pick", object_pick),
    ("object_size", |a| with_obj(a, |m| Ok(Value::Int(m.len() as i64)))),
    ("values", |a| with_obj(a, |m| Ok(Value::array(m.values().cloned().collect())))),
    ("zip", zip),
];

const NOT_MAP: &str = "the argument should be map[string]interface{}";

fn with_obj(a: &[Value], f: impl FnOnce(&Map) -> R) -> R {
    match arg(a, 0) {
        Value::Null => Ok(Value::Null),
        Value::Object(m) => f(m),
        _ => Err(NOT_MAP.into()),
    }
}

fn object(a: &[Value]) -> R {
    let (Value::Array(keys), Value::Array(values)) = (arg(a, 0), arg(a, 1)) else {
        if arg(a, 0).is_null() || arg(a, 1).is_null() {
            return Ok(Value::Null);
        }
        return Err("first argument should be array of string, second argument should be array".into());
    };
    if keys.len() != values.len() {
        return Err("the length of the arguments are different".into());
    }
    let mut m = Map::new();
    for (k, v) in keys.iter().zip(values.iter()) {
        let Value::String(k) = k else {
            return Err(format!("keys should be string but got {}", go_tv(k)));
        };
        m.insert(k.to_string(), v.clone());
    }
    Ok(Value::object(m))
}

fn zip(a: &[Value]) -> R {
    let entries = match arg(a, 0) {
        Value::Null => return Ok(Value::Null),
        Value::Array(e) => e,
        _ => return Err("each argument should be [][2]interface{}".into()),
    };
    let mut m = Map::new();
    for e in entries.iter() {
        let Value::Array(pair) = e else {
            return Err("each argument should be [][2]interface{}".into());
        };
        if pair.len() != 2 {
            return Err("each argument should be [][2]interface{}".into());
        }
        let Value::String(k) = &pair[0] else {
            return Err(format!("the first element in the list item should be string but got {}", go_tv(&pair[0])));
        };
        m.insert(k.to_string(), pair[1].clone());
    }
    Ok(Value::object(m))
}

fn object_construct(a: &[Value]) -> R {
    if !a.len().is_multiple_of(2) {
        return Err("the args must be key value pairs".into());
    }
    let mut m = Map::new();
    for pair in a.chunks(2) {
        let Value::String(k) = &pair[0] else {
            return Err(format!("key {} is not a string", go_tv(&pair[0])));
        };
        if !pair[1].is_null() {
            m.insert(k.to_string(), pair[1].clone());
        }
    }
    Ok(Value::object(m))
}

fn object_concat(a: &[Value]) -> R {
    let mut m = Map::new();
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::Null => {}
            Value::Object(o) => m.extend(o.iter().map(|(k, v)| (k.clone(), v.clone()))),
            _ => return Err(format!("the argument should be map[string]interface{{}}, got {}", a[i].go_type())),
        }
    }
    Ok(Value::object(m))
}

fn erase(a: &[Value]) -> R {
    with_obj(a, |m| {
        let mut out = m.clone();
        match arg(a, 1) {
            Value::String(k) => {
                out.remove(&**k);
            }
            Value::Array(ks) => {
                for k in ks.iter() {
                    let Value::String(k) = k else {
                        return Err("erase should use string or array of string as the second argument".into());
                    };
                    out.remove(&**k);
                }
            }
            _ => return Err("erase should use string or array of string as the second argument".into()),
        }
        Ok(Value::object(out))
    })
}

/// `object_pick(obj, key…)`: keys may be strings or arrays of strings; a dotted
/// key (`a.b`) picks a nested field, keeping the nesting.
fn object_pick(a: &[Value]) -> R {
    with_obj(a, |m| {
        let mut keys = Vec::new();
        for v in &a[1..] {
            match v {
                Value::String(k) => keys.push(k.to_string()),
                Value::Array(ks) => {
                    for k in ks.iter() {
                        match k {
                            Value::String(k) => keys.push(k.to_string()),
                            other => return Err(format!("keys should be string but got {}", go_tv(other))),
                        }
                    }
                }
                other => return Err(format!("keys should be string but got {}", go_tv(other))),
            }
        }
        let mut out = Map::new();
        for k in keys {
            pick_path(m, &k, &mut out);
        }
        Ok(Value::object(out))
    })
}

fn pick_path(src: &Map, path: &str, dst: &mut Map) {
    match path.split_once('.') {
        None => {
            if let Some(v) = src.get(path) {
                dst.insert(path.to_string(), v.clone());
            }
        }
        Some((head, rest)) => {
            if let Some(Value::Object(inner)) = src.get(head) {
                let mut sub = match dst.remove(head) {
                    Some(Value::Object(existing)) => (*existing).clone(),
                    _ => Map::new(),
                };
                pick_path(inner, rest, &mut sub);
                if !sub.is_empty() {
                    dst.insert(head.to_string(), Value::object(sub));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, arr, i, obj, run, s};
    use crate::value::Value;

    #[test]
    fn object_functions() {
        let o = || obj(vec![("a", i(1)), ("b", i(2))]);
        run(vec![
            ("keys", vec![o()], V(arr(vec![s("a"), s("b")]))),
            ("keys", vec![i(1)], E("the argument should be map")),
            ("values", vec![o()], V(arr(vec![i(1), i(2)]))),
            ("object", vec![arr(vec![s("a"), s("b")]), arr(vec![i(1), i(2)])], V(o())),
            ("object", vec![arr(vec![s("a")]), arr(vec![i(1), i(2)])], E("different")),
            ("zip", vec![arr(vec![arr(vec![s("a"), i(1)]), arr(vec![s("b"), i(2)])])], V(o())),
            ("items", vec![o()], V(arr(vec![arr(vec![s("a"), i(1)]), arr(vec![s("b"), i(2)])]))),
            ("object_construct", vec![s("a"), i(1), s("b"), i(2), s("c"), Value::Null], V(o())),
            (
                "object_concat",
                vec![obj(vec![("a", i(1))]), obj(vec![("b", i(2))]), obj(vec![("b", i(3))])],
                V(obj(vec![("a", i(1)), ("b", i(3))])),
            ),
            ("erase", vec![o(), s("a")], V(obj(vec![("b", i(2))]))),
            ("erase", vec![o(), arr(vec![s("a"), s("b")])], V(obj(vec![]))),
            ("object_size", vec![o()], V(i(2))),
            ("object_pick", vec![o(), s("a")], V(obj(vec![("a", i(1))]))),
            (
                "object_pick",
                vec![obj(vec![("x", obj(vec![("y", i(1)), ("z", i(2))]))]), s("x.y")],
                V(obj(vec![("x", obj(vec![("y", i(1))]))])),
            ),
            (
                "obj_to_kvpair_array",
                vec![obj(vec![("a", i(1))])],
                V(arr(vec![obj(vec![("key", s("a")), ("value", i(1))])])),
            ),
        ]);
    }
}
