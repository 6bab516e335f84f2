//! Rule-creation checks of a call's arguments, the ones eKuiper's function
//! validators perform before a rule runs: argument count, and the type of
//! arguments written as literals (`abs("x")`, `cast(a, "bool")`,
//! `lag(a, -1)`). Messages use eKuiper's wording so users see the same text.
//!
//! Only literals are checked: a column or expression argument is unknown at
//! this point (`None`) and always passes.

use super::table::{self, Row};
use super::{FunctionSig, find_row};
use crate::plan::Literal;

/// The type names `cast(x, type)` accepts.
pub const CAST_TYPES: &[&str] = &["bigint", "float", "string", "boolean", "datetime", "bytea"];

/// The value types `get_keyed_state(key, type, default)` converts to.
pub const KEYED_STATE_TYPES: &[&str] = &["bigint", "float", "string", "boolean", "datetime"];

/// Compression methods of `compress` / `decompress`.
pub const COMPRESS_METHODS: &[&str] = &["zlib", "gzip", "flate", "zstd"];

/// eKuiper's `ProduceErrInfo`: `Expect <kind> type for parameter <n>` (1-based).
fn type_err(index: usize, expect: &str) -> String {
    format!("Expect {expect} type for parameter {}", index + 1)
}

/// Checks the argument count of a call, with eKuiper's message when it is wrong.
pub fn validate_arity(sig: &FunctionSig, n: usize) -> Result<(), String> {
    let max = sig.max_args.unwrap_or(table::VARIADIC);
    let name = sig.name.as_str();
    let ok = n >= sig.min_args && n <= max;
    // functions whose counts are not a plain range
    let special: Option<bool> = match name {
        n_ if n_.starts_with("acc_") && sig.min_args == 1 => Some(n == 1 || n == 3),
        n_ if n_.starts_with("acc_") => Some(n == 2 || n == 4),
        _ => None,
    };
    if special.unwrap_or(ok) {
        return Ok(());
    }
    Err(match name {
        "lag" => format!("expect one two or three args but got {n}"),
        "latest" => format!("expect one or two args but got {n}"),
        "had_changed" => format!("expect more than one arg but got {n}"),
        "log" | "round" => "Expect 1 or 2 arguments only".to_string(),
        "coalesce" => "The arguments should be at least one.".to_string(),
        _ if name.starts_with("acc_") && sig.min_args == 1 => {
            format!("Expect 1/3 arguments but found {n}.")
        }
        _ if name.starts_with("acc_") => format!("Expect 2/4 arguments but found {n}."),
        _ if sig.min_args == max => format!("Expect {max} arguments but found {n}."),
        _ if max == table::VARIADIC => {
            format!("At least has {} argument but found {n}.", sig.min_args)
        }
        _ => format!("Expect {} to {max} arguments but found {n}.", sig.min_args),
    })
}

fn check_rule(rule: char, index: usize, lit: &Literal) -> Result<(), String> {
    use Literal as L;
    let bad = match rule {
        'n' => matches!(lit, L::String(_) | L::Bool(_)).then_some("number - float or int"),
        'i' => matches!(lit, L::Float(_) | L::String(_) | L::Bool(_)).then_some("int"),
        'I' => (!matches!(lit, L::Int(_))).then_some("integer"),
        's' => matches!(lit, L::Int(_) | L::Float(_) | L::Bool(_)).then_some("string"),
        'S' => (!matches!(lit, L::String(_))).then_some("string"),
        'b' => matches!(lit, L::Int(_) | L::Float(_) | L::String(_)).then_some("bool"),
        'a' => matches!(lit, L::Int(_) | L::Float(_) | L::String(_) | L::Bool(_)).then_some("array"),
        'd' => matches!(lit, L::Int(_) | L::Float(_) | L::String(_) | L::Bool(_)).then_some("datetime"),
        _ => None,
    };
    match bad {
        // null literals are accepted everywhere (eKuiper's validators ignore them)
        Some(expect) if !matches!(lit, L::Null) => Err(type_err(index, expect)),
        _ => Ok(()),
    }
}

fn rule_at(row: &Row, index: usize) -> char {
    row.args.chars().nth(index).or_else(|| row.args.chars().last()).unwrap_or('*')
}

/// Checks a call to a built-in when the rule is created: argument count, then each
/// argument that is a literal (`Some`) against what the function accepts.
/// Non-literal arguments (`None`) are not checked. Unknown names pass (plugins).
pub fn validate_literal_args(sig: &FunctionSig, args: &[Option<&Literal>]) -> Result<(), String> {
    validate_arity(sig, args.len())?;
    let Some(row) = find_row(&sig.name) else {
        return Ok(());
    };
    let name = row.name;
    for (i, lit) in args.iter().enumerate() {
        if let Some(lit) = lit {
            check_rule(rule_at(row, i), i, lit)?;
        }
    }
    let lit_str = |i: usize| match args.get(i) {
        Some(Some(Literal::String(s))) => Some(s.as_str()),
        _ => None,
    };
    let arg1 = lit_str(1);
    match name {
        "cast" if arg1.is_some_and(|t| !CAST_TYPES.contains(&t)) => {
            return Err(
                "Expect one of following value for the 2nd parameter: bigint, float, string, boolean, datetime, bytea."
                    .into(),
            );
        }
        "encode" | "decode" if arg1.is_some_and(|t| t != "base64") => {
            return Err("Only base64 is supported for the 2nd parameter.".into());
        }
        "compress" | "decompress" => {
            if let Some(t) = arg1.filter(|t| !COMPRESS_METHODS.contains(t)) {
                return Err(format!("unsupported compression method {t}"));
            }
        }
        "delay" if matches!(args.first(), Some(Some(Literal::Int(n))) if *n < 0) => {
            return Err("Expect a non-negative integer for the delay time (parameter 1)".into());
        }
        "get_keyed_state" if arg1.is_some_and(|t| !KEYED_STATE_TYPES.contains(&t)) => {
            return Err(
                "Expect one of following value for the 2nd parameter: bigint, float, string, boolean, datetime.".into(),
            );
        }
        "lag" if matches!(args.get(1), Some(Some(Literal::Int(n))) if *n < 0) => {
            return Err("the index should not be a nagtive integer".into());
        }
        "object_construct" => {
            if !args.len().is_multiple_of(2) {
                return Err("the args must be key value pairs".into());
            }
            for (i, a) in args.iter().enumerate().step_by(2) {
                if let Some(lit) = a
                    && !matches!(lit, Literal::String(_))
                {
                    return Err(type_err(i, "string"));
                }
            }
        }
        "percentile" | "percentile_cont" | "percentile_disc" => {
            let p = match args.get(1) {
                Some(Some(Literal::Int(i))) => Some(*i as f64),
                Some(Some(Literal::Float(f))) => Some(*f),
                _ => None,
            };
            if p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                return Err("percentile must be between 0 and 1".into());
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::lookup;

    fn check(name: &str, args: &[Option<Literal>]) -> Result<(), String> {
        let sig = lookup(name).ok_or("no such function")?;
        let refs: Vec<Option<&Literal>> = args.iter().map(Option::as_ref).collect();
        validate_literal_args(&sig, &refs)
    }

    fn s(v: &str) -> Option<Literal> {
        Some(Literal::String(v.into()))
    }

    #[test]
    fn literal_checks() {
        type Case = (&'static str, Vec<Option<Literal>>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            ("abs", vec![None], None),
            ("abs", vec![s("x")], Some("Expect number - float or int type for parameter 1")),
            ("abs", vec![None, None], Some("Expect 1 arguments but found 2.")),
            ("cast", vec![None, s("bigint")], None),
            ("cast", vec![None, s("bool")], Some("Expect one of following value for the 2nd parameter")),
            ("cast", vec![None, Some(Literal::Int(1))], Some("Expect string type for parameter 2")),
            ("lag", vec![None, Some(Literal::Int(-1))], Some("nagtive")),
            ("lag", vec![None, Some(Literal::Float(1.0))], Some("Expect int type for parameter 2")),
            ("lag", vec![None, Some(Literal::Int(2)), None, Some(Literal::Bool(true))], None),
            ("lag", vec![], Some("expect one two or three args but got 0")),
            ("bitand", vec![Some(Literal::Float(1.0)), None], Some("Expect int type for parameter 1")),
            ("concat", vec![], Some("At least has 1 argument but found 0.")),
            ("round", vec![None, None, None], Some("Expect 1 or 2 arguments only")),
            ("acc_sum", vec![None, None], Some("Expect 1/3 arguments but found 2.")),
            ("acc_sum", vec![None, None, None], None),
            ("encode", vec![None, s("hex")], Some("Only base64")),
            ("object_construct", vec![s("a"), None, None], Some("key value pairs")),
            ("percentile_cont", vec![None, Some(Literal::Float(1.5))], Some("between 0 and 1")),
            ("changed_col", vec![Some(Literal::Int(1)), None], Some("Expect bool type for parameter 1")),
            ("abs", vec![Some(Literal::Null)], None),
            ("delay", vec![Some(Literal::Int(200)), None], None),
            ("delay", vec![None, None], None),
            ("delay", vec![Some(Literal::Int(-5)), None], Some("non-negative integer for the delay time")),
            ("delay", vec![Some(Literal::Float(1.5)), None], Some("Expect int type for parameter 1")),
            ("delay", vec![s("1"), None], Some("Expect int type for parameter 1")),
            ("delay", vec![None], Some("Expect 2 arguments but found 1.")),
            ("get_keyed_state", vec![None, s("bigint"), None], None),
            ("get_keyed_state", vec![None, s("int"), None], Some("Expect one of following value for the 2nd")),
            ("get_keyed_state", vec![None, None, None], None),
            ("get_keyed_state", vec![None, Some(Literal::Int(1)), None], Some("Expect string type for parameter 2")),
            ("get_keyed_state", vec![None, s("float")], Some("Expect 3 arguments but found 2.")),
        ];
        for (name, args, want) in cases {
            let got = check(name, &args);
            match (want, got) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) => assert!(e.contains(w), "{name}: {e} should contain {w}"),
                (w, g) => panic!("{name}: expected {w:?}, got {g:?}"),
            }
        }
    }
}
