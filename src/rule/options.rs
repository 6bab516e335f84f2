//! eKuiper rule `options` (JSON) to the plan's [`RuleOptions`]. Durations are
//! accepted as eKuiper writes them (`"1s"`, `"500ms"`, `"2m"`) or as numbers
//! of milliseconds. Options Oort has no use for (qos, checkpointInterval,
//! planOptimizeStrategy, …) are accepted and ignored, as eKuiper's results do
//! not depend on them; a known option of the wrong type is an error naming it.

use oort_compiler::plan::RuleOptions;
use serde_json::{Map, Value};

/// Parses rule options; the error names the offending option.
pub fn parse(options: &Map<String, Value>) -> Result<RuleOptions, String> {
    let mut o = RuleOptions::default();
    for (k, v) in options {
        match k.as_str() {
            "isEventTime" => o.is_event_time = bool_opt(k, v)?,
            "sendError" => o.send_error = bool_opt(k, v)?,
            "sendNilField" => o.send_nil_field = bool_opt(k, v)?,
            "lateTolerance" => o.late_tolerance_ms = duration_ms(v).ok_or_else(|| bad(k, "a duration like \"1s\""))?,
            "bufferLength" => {
                o.buffer_length = v.as_u64().filter(|n| *n > 0).ok_or_else(|| bad(k, "a positive integer"))? as usize
            }
            _ => {}
        }
    }
    Ok(o)
}

fn bad(option: &str, expected: &str) -> String {
    format!("invalid rule option {option}: expected {expected}")
}

fn bool_opt(k: &str, v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| bad(k, "true or false"))
}

/// Parses `"1s"`, `"1.5s"`, `"200ms"`, `"2m"`, `"1h"`, or a number of ms.
pub fn duration_ms(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((n * factor).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_ekuiper_options() {
        let m = json!({"isEventTime": true, "lateTolerance": "1s", "sendError": false, "qos": 1, "bufferLength": 100});
        let o = parse(m.as_object().unwrap()).unwrap();
        assert!(o.is_event_time);
        assert_eq!(o.late_tolerance_ms, 1000);
        assert!(!o.send_error);
        assert_eq!(o.buffer_length, 100);
        let bad = json!({"isEventTime": "yes"});
        assert_eq!(
            parse(bad.as_object().unwrap()).unwrap_err(),
            "invalid rule option isEventTime: expected true or false"
        );
        assert_eq!(duration_ms(&json!("200ms")), Some(200));
        assert_eq!(duration_ms(&json!("1.5s")), Some(1500));
        assert_eq!(duration_ms(&json!("abc")), None);
    }
}
