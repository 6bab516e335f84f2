//! Math functions (`abs`, `round`, trigonometry, bit operations, `conv` …) with
//! eKuiper's typing: `abs`/bit operations keep ints, `sign` returns an int, and
//! everything computed through `float64` (`ceil`, `round`, `power`, `sqrt` …)
//! returns a float. A NaN result becomes null, as in eKuiper.

use super::{R, ScalarFn, any_null, arg, float_or_null, go_v, to_f64, to_int_samekind, to_int_strict};
use crate::value::Value;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("abs", abs),
    ("acos", |a| unary(a, f64::acos)),
    ("asin", |a| unary(a, f64::asin)),
    ("atan", |a| unary(a, f64::atan)),
    ("atan2", atan2),
    ("bitand", |a| bitop(a, |x, y| x & y)),
    ("bitor", |a| bitop(a, |x, y| x | y)),
    ("bitxor", |a| bitop(a, |x, y| x ^ y)),
    ("bitnot", bitnot),
    ("ceil", |a| unary(a, f64::ceil)),
    ("ceiling", |a| unary(a, f64::ceil)),
    ("conv", conv),
    ("cos", |a| unary(a, f64::cos)),
    ("cosh", |a| unary(a, f64::cosh)),
    ("cot", cot),
    ("degrees", |a| unary(a, f64::to_degrees)),
    ("exp", |a| unary(a, f64::exp)),
    ("floor", |a| unary(a, f64::floor)),
    ("ln", |a| unary(a, f64::ln)),
    ("log", log),
    ("mod", modulo),
    ("pi", |_| Ok(Value::Float(std::f64::consts::PI))),
    ("pow", power),
    ("power", power),
    ("radians", |a| unary(a, f64::to_radians)),
    ("rand", |_| Ok(Value::Float(fastrand::f64()))),
    ("round", round),
    ("sign", sign),
    ("sin", |a| unary(a, f64::sin)),
    ("sinh", |a| unary(a, f64::sinh)),
    ("sqrt", |a| unary(a, f64::sqrt)),
    ("tan", |a| unary(a, f64::tan)),
    ("tanh", |a| unary(a, f64::tanh)),
];

fn unary(a: &[Value], f: fn(f64) -> f64) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    Ok(float_or_null(f(to_f64(arg(a, 0))?)))
}

fn abs(a: &[Value]) -> R {
    match arg(a, 0) {
        Value::Null => Ok(Value::Null),
        Value::Int(i) => Ok(Value::Int(i.saturating_abs())),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        _ => Err("only float64 & int type are supported".into()),
    }
}

fn atan2(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let (y, x) = (to_f64(arg(a, 0))?, to_f64(arg(a, 1))?);
    Ok(float_or_null(y.atan2(x)))
}

fn bitop(a: &[Value], f: fn(i64, i64) -> i64) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let x = to_int_strict(arg(a, 0))
        .map_err(|_| format!("Expect int type for the first operand but got {}", go_v(arg(a, 0))))?;
    let y = to_int_strict(arg(a, 1))
        .map_err(|_| format!("Expect int type for the second operand but got {}", go_v(arg(a, 1))))?;
    Ok(Value::Int(f(x, y)))
}

fn bitnot(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let x = to_int_strict(arg(a, 0)).map_err(|_| format!("Expect int type for operand but got {}", go_v(arg(a, 0))))?;
    Ok(Value::Int(!x))
}

fn cot(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let r = 1.0 / to_f64(arg(a, 0))?.tan();
    if r.is_nan() {
        Ok(Value::Null)
    } else if r.is_infinite() {
        Err("out-of-range error".into())
    } else {
        Ok(Value::Float(r))
    }
}

fn log(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let v = to_f64(arg(a, 0))?;
    let r = if a.len() == 1 { v.log10() } else { to_f64(arg(a, 1))?.ln() / v.ln() };
    Ok(float_or_null(r))
}

fn modulo(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let (x, y) = (to_f64(arg(a, 0))?, to_f64(arg(a, 1))?);
    // Go's math.Mod: result has the sign of x, like Rust's %.
    Ok(Value::Float(x % y))
}

fn power(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    Ok(Value::Float(to_f64(arg(a, 0))?.powf(to_f64(arg(a, 1))?)))
}

/// Go's `math.Round`: half away from zero.
fn round(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let precision = if a.len() > 1 {
        to_int_samekind(arg(a, 1)).map_err(|e| format!("The second argument must be an integer: {e}"))?
    } else {
        0
    };
    let v = to_f64(arg(a, 0))?;
    let p = precision.clamp(-400, 400) as i32;
    let factor = 10f64.powi(p);
    let scaled = v * factor;
    if scaled.is_infinite() || factor.is_infinite() || factor == 0.0 {
        // beyond f64 range: the value has no digits at that precision
        return Ok(Value::Float(if p > 0 { v } else { 0.0 }));
    }
    Ok(Value::Float(scaled.round() / factor))
}

fn sign(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let v = to_f64(arg(a, 0))?;
    Ok(Value::Int(if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }))
}

/// MySQL-style `conv(text, from_base, to_base)`; a negative base means signed.
fn conv(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let text = super::to_string_always(arg(a, 0));
    let mut from = to_int_samekind(arg(a, 1)).unwrap_or(0);
    let mut to = to_int_samekind(arg(a, 2)).unwrap_or(0);
    let mut signed = false;
    let mut ignore_sign = false;
    if from < 0 {
        from = -from;
        signed = true;
    }
    if to < 0 {
        to = -to;
        ignore_sign = true;
    }
    if !(2..=36).contains(&from) || !(2..=36).contains(&to) {
        return Ok(Value::Null);
    }
    let s = valid_prefix(text.trim(), from as u32);
    if s.is_empty() {
        return Ok(Value::str("0"));
    }
    let (mut negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let mut val = u64::from_str_radix(digits, from as u32)
        .map_err(|e| format!("strconv.ParseUint: parsing \"{digits}\": {e}"))?;
    if signed {
        let lim_neg = 1u64 << 63;
        if negative && val > lim_neg {
            val = lim_neg;
        }
        if !negative && val > i64::MAX as u64 {
            val = i64::MAX as u64;
        }
    }
    if negative {
        val = val.wrapping_neg();
    }
    negative = (val as i64) < 0;
    if ignore_sign && negative {
        val = val.wrapping_neg();
    }
    let mut out = to_radix(val, to as u32);
    if negative && ignore_sign {
        out.insert(0, '-');
    }
    Ok(Value::from(out.to_uppercase()))
}

fn valid_prefix(s: &str, base: u32) -> &str {
    let mut valid = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii_alphanumeric() {
            match c.to_digit(36) {
                Some(d) if d < base => valid = i + 1,
                _ => break,
            }
        } else if (c == '+' || c == '-') && i == 0 {
            continue;
        } else {
            break;
        }
    }
    if valid > 1 && s.starts_with('+') {
        return &s[1..valid];
    }
    &s[..valid]
}

fn to_radix(mut v: u64, base: u32) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut digits = Vec::new();
    while v > 0 {
        let d = (v % u64::from(base)) as u32;
        digits.push(char::from_digit(d, base).unwrap_or('?'));
        v /= u64::from(base);
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, b, f, i, run, s};
    use crate::value::Value;

    #[test]
    fn math_functions() {
        run(vec![
            ("abs", vec![i(-3)], V(i(3))),
            ("abs", vec![f(-3.5)], V(f(3.5))),
            ("abs", vec![Value::Null], V(Value::Null)),
            ("abs", vec![s("x")], E("only float64 & int type are supported")),
            ("ceil", vec![f(1.2)], V(f(2.0))),
            ("ceil", vec![i(1)], V(f(1.0))),
            ("ceiling", vec![f(-1.2)], V(f(-1.0))),
            ("floor", vec![f(1.7)], V(f(1.0))),
            ("round", vec![f(2.5)], V(f(3.0))),
            ("round", vec![f(-2.5)], V(f(-3.0))),
            ("round", vec![f(1.23456), i(2)], V(f(1.23))),
            ("round", vec![i(1234), i(-2)], V(f(1200.0))),
            ("sign", vec![f(-0.5)], V(i(-1))),
            ("sign", vec![i(0)], V(i(0))),
            ("sqrt", vec![i(16)], V(f(4.0))),
            ("sqrt", vec![i(-1)], V(Value::Null)),
            ("acos", vec![i(2)], V(Value::Null)),
            ("power", vec![i(2), i(10)], V(f(1024.0))),
            ("pow", vec![f(2.0), f(0.5)], F(std::f64::consts::SQRT_2)),
            ("mod", vec![i(7), i(3)], V(f(1.0))),
            ("mod", vec![i(-7), i(3)], V(f(-1.0))),
            ("log", vec![i(100)], V(f(2.0))),
            ("log", vec![i(2), i(8)], F(3.0)),
            ("log", vec![i(-1)], V(Value::Null)),
            ("ln", vec![f(std::f64::consts::E)], F(1.0)),
            ("exp", vec![i(0)], V(f(1.0))),
            ("sin", vec![i(0)], V(f(0.0))),
            ("cos", vec![s("a")], E("cannot convert string(a) to float64")),
            ("atan2", vec![i(1), i(1)], F(std::f64::consts::FRAC_PI_4)),
            ("degrees", vec![f(std::f64::consts::PI)], F(180.0)),
            ("radians", vec![i(180)], F(std::f64::consts::PI)),
            ("cot", vec![i(0)], E("out-of-range error")),
            ("cot", vec![i(1)], F(1.0 / 1f64.tan())),
            ("pi", vec![], F(std::f64::consts::PI)),
            ("bitand", vec![i(12), i(10)], V(i(8))),
            ("bitor", vec![i(12), i(10)], V(i(14))),
            ("bitxor", vec![i(12), i(10)], V(i(6))),
            ("bitnot", vec![i(12)], V(i(-13))),
            ("bitand", vec![f(1.5), i(1)], E("Expect int type for the first operand but got 1.5")),
            ("bitor", vec![i(1), b(true)], E("Expect int type for the second operand but got true")),
            ("conv", vec![s("a"), i(16), i(2)], V(s("1010"))),
            ("conv", vec![s("6E"), i(18), i(8)], V(s("172"))),
            ("conv", vec![s("-17"), i(10), i(-18)], V(s("-H"))),
            ("conv", vec![s("10"), i(10), i(40)], V(Value::Null)),
            ("conv", vec![s("zz"), i(10), i(10)], V(s("0"))),
        ]);
        let r = super::super::scalar("rand").expect("test")(&[]).expect("test");
        assert!(matches!(r, Value::Float(x) if (0.0..1.0).contains(&x)));
    }
}
