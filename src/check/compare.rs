//! Comparing emissions the way eKuiper's test harness does: emission by
//! emission in order, rows as maps, exact int/float typing (floats within a
//! relative 1e-9), surplus trailing empty emissions ignored, error rows by
//! exact text, containment or presence.

use oort_operators::value::{Value, from_json};
use serde_json::Value as Json;

/// How a case compares.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareMode {
    /// Rows inside an emission form a multiset.
    pub unordered_rows: bool,
    /// Arrays inside rows form multisets.
    pub unordered_arrays: bool,
    /// Error rows: 0 exact, 1 contains, 2 any.
    pub error_match: u8,
}

/// Whether `actual` matches `expected` under `mode`.
pub fn emissions_match(expected: &[Vec<Json>], actual: &[Vec<Json>], mode: CompareMode) -> bool {
    if actual.len() < expected.len() {
        return false;
    }
    if actual[expected.len()..].iter().any(|e| !e.is_empty()) {
        return false;
    }
    expected.iter().zip(actual).all(|(e, a)| emission_match(e, a, mode))
}

fn emission_match(expected: &[Json], actual: &[Json], mode: CompareMode) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    if !mode.unordered_rows {
        return expected.iter().zip(actual).all(|(e, a)| row_match(e, a, mode));
    }
    let mut used = vec![false; actual.len()];
    'outer: for e in expected {
        for (i, a) in actual.iter().enumerate() {
            if !used[i] && row_match(e, a, mode) {
                used[i] = true;
                continue 'outer;
            }
        }
        return false;
    }
    true
}

fn row_match(expected: &Json, actual: &Json, mode: CompareMode) -> bool {
    if let (Some(Json::String(e)), Some(Json::String(a))) = (error_of(expected), error_of(actual)) {
        return match mode.error_match {
            0 => e == a,
            1 => a.contains(e.as_str()),
            _ => true,
        };
    }
    value_match(&from_json(expected), &from_json(actual), mode)
}

fn error_of(row: &Json) -> Option<&Json> {
    match row {
        Json::Object(m) if m.len() == 1 => m.get("error"),
        _ => None,
    }
}

fn value_match(e: &Value, a: &Value, mode: CompareMode) -> bool {
    match (e, a) {
        (Value::Float(x), Value::Float(y)) => x == y || ((x - y).abs() <= 1e-9 * x.abs().max(y.abs())),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return false;
            }
            if !mode.unordered_arrays {
                return x.iter().zip(y.iter()).all(|(p, q)| value_match(p, q, mode));
            }
            let mut used = vec![false; y.len()];
            x.iter().all(|p| {
                if let Some(i) = (0..y.len()).find(|&i| !used[i] && value_match(p, &y[i], mode)) {
                    used[i] = true;
                    true
                } else {
                    false
                }
            })
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| value_match(v, w, mode)))
        }
        _ => e == a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn em(v: Json) -> Vec<Vec<Json>> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn typing_order_and_trailing_empties() {
        let m = CompareMode::default();
        let exp = em(json!([[{"a": 3}], [{"b": 3.0}]]));
        assert!(emissions_match(&exp, &em(json!([[{"a": 3}], [{"b": 3.0}], []])), m));
        assert!(!emissions_match(&exp, &em(json!([[{"a": 3}], [{"b": 3}]])), m));
        assert!(!emissions_match(&exp, &em(json!([[{"b": 3.0}], [{"a": 3}]])), m));
        assert!(!emissions_match(&exp, &em(json!([[{"a": 3}]])), m));
        assert!(!emissions_match(&exp, &em(json!([[{"a": 3}], [{"b": 3.0}], [{"c": 1}]])), m));
        let exp = em(json!([[{"a": 1}, {"a": 2}]]));
        assert!(!emissions_match(&exp, &em(json!([[{"a": 2}, {"a": 1}]])), m));
        let un = CompareMode { unordered_rows: true, ..m };
        assert!(emissions_match(&exp, &em(json!([[{"a": 2}, {"a": 1}]])), un));
    }

    #[test]
    fn error_rows() {
        let exp = em(json!([[{"error": "run Where error: x"}]]));
        let act = em(json!([[{"error": "run Where error: x y"}]]));
        assert!(!emissions_match(&exp, &act, CompareMode::default()));
        assert!(emissions_match(&exp, &act, CompareMode { error_match: 1, ..Default::default() }));
        let any = em(json!([[{"error": ""}]]));
        assert!(emissions_match(&any, &act, CompareMode { error_match: 2, ..Default::default() }));
    }
}
