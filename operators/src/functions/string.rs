//! String functions (`concat`, `substring`, `regexp_*`, `split_value`,
//! `format` …). Arguments are turned into text the way eKuiper's
//! `cast.ToStringAlways` does; null handling follows each eKuiper function
//! (`endswith(null, x)` is `false`, `indexof(null, x)` is `-1`, `lower(null)` is null).
//! Compiled regular expressions are cached per thread.

use super::{R, ScalarFn, any_null, arg, to_f64, to_int_samekind, to_int_strict, to_string_always};
use crate::value::Value;
use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("concat", concat),
    ("endswith", |a| two_str_bool(a, |x, y| x.ends_with(y))),
    ("format", format),
    ("indexof", indexof),
    ("length", length),
    ("lower", |a| map_str(a, |s| s.to_lowercase())),
    ("lpad", |a| pad(a, true)),
    ("ltrim", |a| map_str(a, |s| s.trim_start().to_string())),
    ("numbytes", |a| Ok(Value::Int(to_string_always(arg(a, 0)).len() as i64))),
    ("regexp_matches", regexp_matches),
    ("regexp_replace", regexp_replace),
    ("regexp_substr", regexp_substr),
    ("regexp_substring", regexp_substr),
    ("rpad", |a| pad(a, false)),
    ("rtrim", |a| map_str(a, |s| s.trim_end().to_string())),
    ("split_value", split_value),
    ("startswith", |a| two_str_bool(a, |x, y| x.starts_with(y))),
    ("substring", substring),
    ("trim", |a| map_str(a, |s| s.trim().to_string())),
    ("upper", |a| map_str(a, |s| s.to_uppercase())),
];

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

/// A compiled regex from the per-thread cache (Go's `regexp` error text on failure).
pub(crate) fn regex(pattern: &str) -> Result<Regex, String> {
    REGEX_CACHE.with(|c| {
        if let Some(r) = c.borrow().get(pattern) {
            return Ok(r.clone());
        }
        let r = Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))?;
        let mut c = c.borrow_mut();
        if c.len() > 256 {
            c.clear();
        }
        c.insert(pattern.to_string(), r.clone());
        Ok(r)
    })
}

fn map_str(a: &[Value], f: fn(&str) -> String) -> R {
    match arg(a, 0) {
        Value::Null => Ok(Value::Null),
        v => Ok(Value::from(f(&to_string_always(v)))),
    }
}

fn two_str_bool(a: &[Value], f: fn(&str, &str) -> bool) -> R {
    if any_null(a) {
        return Ok(Value::Bool(false));
    }
    Ok(Value::Bool(f(&to_string_always(arg(a, 0)), &to_string_always(arg(a, 1)))))
}

/// Concatenates strings; when every non-null argument is an array, concatenates arrays.
fn concat(a: &[Value]) -> R {
    let non_null: Vec<&Value> = a.iter().filter(|v| !v.is_null()).collect();
    if !non_null.is_empty() && non_null.iter().all(|v| matches!(v, Value::Array(_))) {
        let mut out = Vec::new();
        for v in non_null {
            if let Value::Array(x) = v {
                out.extend(x.iter().cloned());
            }
        }
        return Ok(Value::array(out));
    }
    let mut s = String::new();
    for v in a {
        s.push_str(&to_string_always(v));
    }
    Ok(Value::from(s))
}

fn indexof(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Int(-1));
    }
    let (x, y) = (to_string_always(arg(a, 0)), to_string_always(arg(a, 1)));
    // Go's strings.Index: a byte offset
    Ok(Value::Int(x.find(&y).map_or(-1, |i| i as i64)))
}

fn length(a: &[Value]) -> R {
    Ok(Value::Int(match arg(a, 0) {
        Value::Array(v) => v.len() as i64,
        Value::Object(m) => m.len() as i64,
        v => to_string_always(v).chars().count() as i64,
    }))
}

fn pad(a: &[Value], left: bool) -> R {
    let v = arg(a, 0);
    if v.is_null() {
        return Ok(Value::Null);
    }
    let s = to_string_always(v);
    let n = to_int_strict(arg(a, 1))?;
    let spaces = " ".repeat(usize::try_from(n).unwrap_or(0));
    Ok(Value::from(if left { spaces + &s } else { s + &spaces }))
}

fn regexp_matches(a: &[Value]) -> R {
    if any_null(&a[..a.len().min(2)]) {
        return Ok(Value::Bool(false));
    }
    let re = regex(&to_string_always(arg(a, 1)))?;
    Ok(Value::Bool(re.is_match(&to_string_always(arg(a, 0)))))
}

fn regexp_replace(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let re = regex(&to_string_always(arg(a, 1)))?;
    let s = to_string_always(arg(a, 0));
    let rep = to_string_always(arg(a, 2));
    Ok(Value::from(re.replace_all(&s, rep.as_str()).into_owned()))
}

fn regexp_substr(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let re = regex(&to_string_always(arg(a, 1)))?;
    let s = to_string_always(arg(a, 0));
    Ok(Value::from(re.find(&s).map_or("", |m| m.as_str())))
}

fn split_value(a: &[Value]) -> R {
    if arg(a, 0).is_null() || arg(a, 1).is_null() {
        return Ok(Value::Null);
    }
    let s = to_string_always(arg(a, 0));
    let sep = to_string_always(arg(a, 1));
    let parts: Vec<&str> = if sep.is_empty() {
        // Go's strings.Split with an empty separator splits into UTF-8 sequences
        s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()]).collect()
    } else {
        s.split(sep.as_str()).collect()
    };
    let idx = to_int_strict(arg(a, 2)).unwrap_or(0);
    match usize::try_from(idx).ok().and_then(|i| parts.get(i)) {
        Some(p) => Ok(Value::str(p)),
        None => Err(format!("{idx} out of index array (size = {})", parts.len())),
    }
}

/// Byte-indexed like Go (`s[start:end]`); a cut inside a UTF-8 sequence is repaired lossily.
fn substring(a: &[Value]) -> R {
    let v = arg(a, 0);
    if v.is_null() {
        return Ok(Value::Null);
    }
    let s = to_string_always(v);
    let bytes = s.as_bytes();
    let start = to_int_strict(arg(a, 1))?;
    if start < 0 {
        return Err("start index must be a positive number".into());
    }
    let start = start as usize;
    let end = if a.len() > 2 {
        let end = to_int_strict(arg(a, 2))?;
        if end < 0 {
            return Err("end index must be a positive number".into());
        }
        let end = end as usize;
        if start > end {
            return Err("start index must be smaller than end index".into());
        }
        end.min(bytes.len())
    } else {
        bytes.len()
    };
    if start > bytes.len() {
        return Ok(Value::str(""));
    }
    Ok(Value::from(String::from_utf8_lossy(&bytes[start..end]).into_owned()))
}

/// `format(x, d[, locale])`: `x` rounded to `d` decimals with the locale's
/// grouping (`en_US` `12,332.1234`; `de_DE` `12.332,1234`; …).
fn format(a: &[Value]) -> R {
    if any_null(&a[..a.len().min(2)]) {
        return Ok(Value::Null);
    }
    let x = match arg(a, 0) {
        Value::String(s) => {
            s.trim().parse::<f64>().map_err(|_| format!("cannot convert {} to float64", arg(a, 0).go_describe()))?
        }
        v => to_f64(v)?,
    };
    let d = to_int_samekind(arg(a, 1))?.clamp(0, 30) as usize;
    let locale = match arg(a, 2) {
        Value::Null => "en_US".to_string(),
        v => to_string_always(v),
    };
    let (group, decimal) = match locale.as_str() {
        "en_US" | "en_GB" | "en_AU" | "en_CA" | "zh_CN" | "ja_JP" | "ko_KR" | "" => (",", "."),
        "de_DE" | "es_ES" | "it_IT" | "nl_NL" | "id_ID" | "pt_BR" | "tr_TR" | "da_DK" => (".", ","),
        "fr_FR" | "ru_RU" | "sv_SE" | "fi_FI" | "pl_PL" | "cs_CZ" | "nb_NO" | "uk_UA" => ("\u{a0}", ","),
        "de_CH" => ("'", "."),
        other => return Err(format!("unsupported locale: {other}")),
    };
    let text = format!("{:.*}", d, x.abs());
    let (int_part, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (text.clone(), None),
    };
    let mut grouped = String::new();
    for (i, c) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            grouped.push_str(group);
        }
        grouped.push(c);
    }
    let mut out = String::new();
    if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&grouped);
    if let Some(f) = frac {
        out.push_str(decimal);
        out.push_str(&f);
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, arr, i, run, s};
    use crate::value::Value;

    #[test]
    fn string_functions() {
        run(vec![
            ("concat", vec![s("a"), i(1), Value::Null, s("b")], V(s("a1b"))),
            ("concat", vec![arr(vec![i(1)]), arr(vec![i(2)])], V(arr(vec![i(1), i(2)]))),
            ("endswith", vec![s("hello"), s("lo")], V(Value::Bool(true))),
            ("endswith", vec![Value::Null, s("lo")], V(Value::Bool(false))),
            ("startswith", vec![s("hello"), s("he")], V(Value::Bool(true))),
            ("indexof", vec![s("hello"), s("l")], V(i(2))),
            ("indexof", vec![s("hello"), s("z")], V(i(-1))),
            ("indexof", vec![Value::Null, s("z")], V(i(-1))),
            ("length", vec![s("héllo")], V(i(5))),
            ("length", vec![arr(vec![i(1), i(2)])], V(i(2))),
            ("numbytes", vec![s("héllo")], V(i(6))),
            ("lower", vec![s("ABC")], V(s("abc"))),
            ("upper", vec![s("abc")], V(s("ABC"))),
            ("upper", vec![Value::Null], V(Value::Null)),
            ("lpad", vec![s("a"), i(2)], V(s("  a"))),
            ("rpad", vec![s("a"), i(2)], V(s("a  "))),
            ("lpad", vec![s("a"), s("x")], E("cannot convert string(x) to int")),
            ("trim", vec![s(" \ta b \n")], V(s("a b"))),
            ("ltrim", vec![s("  a ")], V(s("a "))),
            ("rtrim", vec![s("  a ")], V(s("  a"))),
            ("regexp_matches", vec![s("abc123"), s("[0-9]+")], V(Value::Bool(true))),
            ("regexp_matches", vec![s("abc"), s("[")], E("error parsing regexp")),
            ("regexp_replace", vec![s("a1b22"), s("[0-9]+"), s("#")], V(s("a#b#"))),
            ("regexp_replace", vec![s("ab"), s("(a)(b)"), s("$2$1")], V(s("ba"))),
            ("regexp_substr", vec![s("a1b22"), s("[0-9]+")], V(s("1"))),
            ("regexp_substring", vec![s("abc"), s("[0-9]+")], V(s(""))),
            ("substring", vec![s("hello"), i(1), i(3)], V(s("el"))),
            ("substring", vec![s("hello"), i(3)], V(s("lo"))),
            ("substring", vec![s("hello"), i(9)], V(s(""))),
            ("substring", vec![s("hello"), i(1), i(99)], V(s("ello"))),
            ("substring", vec![s("hello"), i(3), i(1)], E("start index must be smaller than end index")),
            ("split_value", vec![s("/test/device001/message"), s("/"), i(0)], V(s(""))),
            ("split_value", vec![s("/test/device001/message"), s("/"), i(3)], V(s("message"))),
            ("split_value", vec![s("a/b"), s("/"), i(5)], E("5 out of index array (size = 2)")),
            ("format", vec![Value::Float(12332.1234567), i(4), s("en_US")], V(s("12,332.1235"))),
            ("format", vec![Value::Float(12332.2), i(0)], V(s("12,332"))),
            ("format", vec![Value::Float(-1234567.891), i(2), s("de_DE")], V(s("-1.234.567,89"))),
        ]);
    }
}
