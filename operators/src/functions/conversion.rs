//! Conversion ("transform") functions: `cast`, `encode`/`decode` (base64),
//! `compress`/`decompress` (zlib, gzip, flate, zstd), `trunc`, `chr`,
//! `hex2dec`/`dec2hex`.
//!
//! `cast(x, "datetime")` yields the instant as RFC 3339 text in UTC (Oort's
//! value model has no time variant; that text is what eKuiper prints for a
//! datetime in JSON).

use super::datetime::{format_rfc3339, to_time};
use super::{R, ScalarFn, any_null, arg, go_tv, to_string_always};
use crate::value::{Value, base64_decode, base64_encode};
use std::io::{Read, Write};
use std::sync::Arc;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("cast", cast),
    ("chr", chr),
    ("compress", compress),
    ("dec2hex", dec2hex),
    ("decode", decode),
    ("decompress", decompress),
    ("encode", encode),
    ("hex2dec", hex2dec),
    ("trunc", trunc),
];

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `cast(x, "bigint")` (also used by `get`-style conversions elsewhere).
pub(crate) fn to_bigint(v: &Value) -> R {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Int(*i),
        Value::Float(f) => Value::Int(*f as i64),
        Value::Bool(b) => Value::Int(i64::from(*b)),
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => match t.parse::<f64>() {
                    Ok(f) => Value::Int(f as i64),
                    Err(_) => return Err(format!("cannot convert {} to int64", go_tv(v))),
                },
            }
        }
        _ => return Err(format!("cannot convert {} to int64", go_tv(v))),
    })
}

/// `cast(x, "float")`.
pub(crate) fn to_float(v: &Value) -> R {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Float(*i as f64),
        Value::Float(f) => Value::Float(*f),
        Value::Bool(b) => Value::Float(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => Value::Float(f),
            Err(_) => return Err(format!("cannot convert {} to float64", go_tv(v))),
        },
        _ => return Err(format!("cannot convert {} to float64", go_tv(v))),
    })
}

fn cast(a: &[Value]) -> R {
    let v = arg(a, 0);
    let Value::String(t) = arg(a, 1) else {
        return Err("Expect string type for the 2nd parameter.".into());
    };
    if v.is_null() {
        return Ok(Value::Null);
    }
    match &**t {
        "bigint" => to_bigint(v),
        "float" => to_float(v),
        "string" => Ok(match v {
            Value::Bytes(b) => Value::from(String::from_utf8_lossy(b).into_owned()),
            other => Value::from(to_string_always(other)),
        }),
        "boolean" => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Int(i) => Ok(Value::Bool(*i != 0)),
            Value::Float(f) => Ok(Value::Bool(*f != 0.0)),
            Value::String(s) => parse_bool(s)
                .map(Value::Bool)
                .ok_or_else(|| format!("strconv.ParseBool: parsing \"{s}\": invalid syntax")),
            other => Err(format!("cannot convert {} to bool", go_tv(other))),
        },
        "datetime" => Ok(Value::from(format_rfc3339(&to_time(v)?))),
        "bytea" => match v {
            Value::Bytes(b) => Ok(Value::Bytes(b.clone())),
            Value::String(s) => Ok(Value::Bytes(Arc::from(s.as_bytes()))),
            other => Err(format!("cannot convert {} to bytea", go_tv(other))),
        },
        _ => Err("Unknow type, only support bigint, float, string, boolean, datetime and bytea.".into()),
    }
}

fn chr(a: &[Value]) -> R {
    let code = match arg(a, 0) {
        Value::Null => return Ok(Value::Null),
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::String(s) => {
            let mut it = s.chars();
            return match (it.next(), it.next()) {
                (Some(c), None) if s.len() == 1 => Ok(Value::from(c.to_string())),
                (None, _) => Err("Parameter length cannot be 0.".into()),
                _ => Err("Parameter length cannot larger than 1.".into()),
            };
        }
        _ => return Err("Only bigint, float and string type can be convert to char type.".into()),
    };
    u32::try_from(code)
        .ok()
        .and_then(char::from_u32)
        .map(|c| Value::from(c.to_string()))
        .ok_or_else(|| format!("invalid character code {code}"))
}

fn method(a: &[Value]) -> String {
    to_string_always(arg(a, 1)).to_ascii_lowercase()
}

fn encode(a: &[Value]) -> R {
    if arg(a, 0).is_null() {
        return Ok(Value::Null);
    }
    if method(a) != "base64" {
        return Err("Only base64 encoding is supported.".into());
    }
    match arg(a, 0) {
        Value::String(s) => Ok(Value::from(base64_encode(s.as_bytes()))),
        Value::Bytes(b) => Ok(Value::from(base64_encode(b))),
        _ => Err("Only string type can be encoded.".into()),
    }
}

fn decode(a: &[Value]) -> R {
    if arg(a, 0).is_null() {
        return Ok(Value::Null);
    }
    if method(a) != "base64" {
        return Err("Only base64 decoding is supported.".into());
    }
    match arg(a, 0) {
        Value::String(s) => base64_decode(s.trim())
            .map(|b| Value::Bytes(Arc::from(b)))
            .ok_or_else(|| "fail to decode base64 string: illegal base64 data".into()),
        _ => Err("Only string type can be decoded.".into()),
    }
}

fn payload(v: &Value) -> Result<&[u8], String> {
    match v {
        Value::String(s) => Ok(s.as_bytes()),
        Value::Bytes(b) => Ok(b),
        other => Err(format!("require string or bytea parameter, but got {}", other.go_type())),
    }
}

fn compress(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let data = payload(arg(a, 0))?;
    let io = |e: std::io::Error| e.to_string();
    let out = match method(a).as_str() {
        "zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).map_err(io)?;
            e.finish().map_err(io)?
        }
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).map_err(io)?;
            e.finish().map_err(io)?
        }
        "flate" => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).map_err(io)?;
            e.finish().map_err(io)?
        }
        "zstd" => ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
        m => return Err(format!("unsupported compression method {m}")),
    };
    Ok(Value::Bytes(Arc::from(out)))
}

fn decompress(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let data = payload(arg(a, 0))?;
    let mut out = Vec::new();
    let io = |e: std::io::Error| format!("decompress failed: {e}");
    match method(a).as_str() {
        "zlib" => {
            flate2::read::ZlibDecoder::new(data).read_to_end(&mut out).map_err(io)?;
        }
        "gzip" => {
            flate2::read::GzDecoder::new(data).read_to_end(&mut out).map_err(io)?;
        }
        "flate" => {
            flate2::read::DeflateDecoder::new(data).read_to_end(&mut out).map_err(io)?;
        }
        "zstd" => {
            let mut d = ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| format!("decompress failed: {e}"))?;
            d.read_to_end(&mut out).map_err(io)?;
        }
        m => return Err(format!("unsupported decompression method {m}")),
    }
    Ok(Value::Bytes(Arc::from(out)))
}

/// eKuiper's `trunc(x, d)` (its `toFixed`: rounds half away from zero at `d` decimals).
fn trunc(a: &[Value]) -> R {
    if any_null(a) {
        return Ok(Value::Null);
    }
    let x = match arg(a, 0) {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => return Err("Only int and float type can be truncated.".into()),
    };
    let Value::Int(d) = arg(a, 1) else {
        return Err("The 2nd parameter must be int value.".into());
    };
    let factor = 10f64.powi((*d).clamp(-300, 300) as i32);
    let scaled = x * factor;
    let rounded = (scaled + 0.5f64.copysign(scaled)).trunc();
    Ok(Value::Float(rounded / factor))
}

fn hex2dec(a: &[Value]) -> R {
    let v = arg(a, 0);
    if v.is_null() {
        return Ok(Value::Null);
    }
    let s = to_string_always(v);
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    let n =
        i64::from_str_radix(digits, 16).map_err(|_| format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))?;
    Ok(Value::Int(if neg { -n } else { n }))
}

fn dec2hex(a: &[Value]) -> R {
    match arg(a, 0) {
        Value::Null => Ok(Value::Null),
        Value::Int(i) if *i < 0 => Ok(Value::from(format!("-0x{:x}", i.unsigned_abs()))),
        Value::Int(i) => Ok(Value::from(format!("0x{i:x}"))),
        other => Err(format!("cannot convert {} to int", go_tv(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, arr, b, f, i, run, s};
    use crate::value::Value;
    use std::sync::Arc;

    #[test]
    fn conversion_functions() {
        let bytes = |x: &[u8]| Value::Bytes(Arc::from(x));
        run(vec![
            ("cast", vec![f(3.7), s("bigint")], V(i(3))),
            ("cast", vec![s("42"), s("bigint")], V(i(42))),
            ("cast", vec![b(true), s("bigint")], V(i(1))),
            ("cast", vec![s("abc"), s("bigint")], E("cannot convert string(abc) to int64")),
            ("cast", vec![i(3), s("float")], V(f(3.0))),
            ("cast", vec![s("2.5"), s("float")], V(f(2.5))),
            ("cast", vec![f(2.0), s("string")], V(s("2"))),
            ("cast", vec![f(2.5), s("string")], V(s("2.5"))),
            ("cast", vec![arr(vec![i(1)]), s("string")], V(s("[1]"))),
            ("cast", vec![i(0), s("boolean")], V(b(false))),
            ("cast", vec![s("true"), s("boolean")], V(b(true))),
            ("cast", vec![s("yes"), s("boolean")], E("invalid syntax")),
            ("cast", vec![i(0), s("datetime")], V(s("1970-01-01T00:00:00Z"))),
            ("cast", vec![s("hi"), s("bytea")], V(bytes(b"hi"))),
            ("cast", vec![Value::Null, s("bigint")], V(Value::Null)),
            ("cast", vec![i(1), s("int")], E("Unknow type")),
            ("encode", vec![s("hello"), s("base64")], V(s("aGVsbG8="))),
            ("encode", vec![i(1), s("base64")], E("Only string type can be encoded.")),
            ("encode", vec![s("x"), s("hex")], E("Only base64 encoding is supported.")),
            ("decode", vec![s("aGVsbG8="), s("base64")], V(bytes(b"hello"))),
            ("decode", vec![s("!!"), s("base64")], E("fail to decode base64 string")),
            ("trunc", vec![f(1.23456), i(2)], V(f(1.23))),
            ("trunc", vec![i(3), i(1)], V(f(3.0))),
            ("trunc", vec![s("x"), i(1)], E("Only int and float type can be truncated.")),
            ("trunc", vec![f(1.5), f(1.0)], E("The 2nd parameter must be int value.")),
            ("chr", vec![i(65)], V(s("A"))),
            ("chr", vec![s("AB")], E("Parameter length cannot larger than 1.")),
            ("hex2dec", vec![s("0xff")], V(i(255))),
            ("hex2dec", vec![s("1A")], V(i(26))),
            ("dec2hex", vec![i(255)], V(s("0xff"))),
        ]);
        for m in ["zlib", "gzip", "flate", "zstd"] {
            let c = super::compress(&[s("hello hello hello"), s(m)]).expect("test");
            assert!(matches!(c, Value::Bytes(_)), "{m}");
            let d = super::decompress(&[c, s(m)]).expect("test");
            assert_eq!(d, bytes(b"hello hello hello"), "{m}");
        }
        assert!(super::compress(&[s("x"), s("lz4")]).is_err());
        assert!(super::decompress(&[s("garbage"), s("gzip")]).is_err());
    }
}
