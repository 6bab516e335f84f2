//! JSON functions: `to_json`, `parse_json` and the JSON-path queries
//! `json_path_query`, `json_path_query_first`, `json_path_exists`.
//!
//! Paths follow the Goessner syntax eKuiper uses: `$`, `.name`, `['name']`,
//! `[0]`, `[-1]`, `[0,2]`, `[1:3]`, `[*]`, `.*`, `..name`, and filters
//! `[?(@.price > 10 && @.kind == 'a')]`. A path with a wildcard, recursive
//! descent, slice, union or filter yields an array of matches; a definite path
//! yields the single value (missing key: `unknown key name`).

use super::{R, ScalarFn, arg, go_tv, to_string_always};
use crate::value::{Value, decode_value, write_json};

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("json_path_exists", json_path_exists),
    ("json_path_query", |a| query(a).map(|(v, _)| v)),
    ("json_path_query_first", json_path_query_first),
    ("parse_json", parse_json),
    ("to_json", to_json),
];

fn to_json(a: &[Value]) -> R {
    let mut out = Vec::new();
    write_json(&mut out, arg(a, 0));
    Ok(Value::from(String::from_utf8_lossy(&out).into_owned()))
}

fn parse_json(a: &[Value]) -> R {
    let text = match arg(a, 0) {
        Value::Null => return Ok(Value::Null),
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => return Err(format!("fail to convert {} to string", to_string_always(other))),
    };
    if text == "null" {
        return Ok(Value::Null);
    }
    decode_value(text.as_bytes()).map_err(|e| format!("fail to parse json: {e}"))
}

fn json_path_exists(a: &[Value]) -> R {
    Ok(Value::Bool(match query(a) {
        Err(_) | Ok((Value::Null, _)) => false,
        Ok((Value::Array(v), true)) => !v.is_empty(),
        Ok(_) => true,
    }))
}

fn json_path_query_first(a: &[Value]) -> R {
    match query(a)? {
        (Value::Array(v), true) => Ok(v.first().cloned().unwrap_or(Value::Null)),
        (v, _) => Ok(v),
    }
}

/// Runs the path; returns the result and whether it is a match list.
fn query(a: &[Value]) -> Result<(Value, bool), String> {
    let doc = match arg(a, 0) {
        Value::Null => return Ok((Value::Null, false)),
        v @ (Value::Object(_) | Value::Array(_)) => v.clone(),
        Value::String(s) => decode_value(s.as_bytes()).map_err(|e| format!("fail to parse json: {e}"))?,
        other => return Err(format!("invalid data {} for jsonpath", go_tv(other))),
    };
    let path = to_string_always(arg(a, 1));
    let segs = Parser::new(&path).parse()?;
    let multi = segs.iter().any(Seg::is_multi);
    let mut cur = vec![doc];
    for seg in &segs {
        let mut next = Vec::new();
        for v in &cur {
            seg.apply(v, multi, &mut next)?;
        }
        cur = next;
    }
    if multi { Ok((Value::array(cur), true)) } else { Ok((cur.into_iter().next().unwrap_or(Value::Null), false)) }
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(i64),
    Wild,
    Union(Vec<Sel>),
    Slice(Option<i64>, Option<i64>, i64),
    Recursive(Box<Seg>),
    Filter(Expr),
}

#[derive(Debug, Clone)]
enum Sel {
    Key(String),
    Index(i64),
}

#[derive(Debug, Clone)]
enum Expr {
    Path(Vec<Seg>),
    Lit(Value),
    Cmp(Box<Expr>, String, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Seg {
    fn is_multi(&self) -> bool {
        !matches!(self, Seg::Key(_) | Seg::Index(_))
    }

    fn apply(&self, v: &Value, multi: bool, out: &mut Vec<Value>) -> Result<(), String> {
        match self {
            Seg::Key(k) => match v {
                Value::Object(m) => match m.get(k) {
                    Some(x) => out.push(x.clone()),
                    None if multi => {}
                    None => return Err(format!("unknown key {k}")),
                },
                _ if multi => {}
                _ => return Err(format!("unknown key {k}")),
            },
            Seg::Index(i) => match v {
                Value::Array(a) => {
                    let len = a.len() as i64;
                    let idx = if *i < 0 { len + i } else { *i };
                    if (0..len).contains(&idx) {
                        out.push(a[idx as usize].clone());
                    } else if !multi {
                        return Err(format!("index {i} out of bounds"));
                    }
                }
                _ if multi => {}
                _ => return Err(format!("unsupported value type {} for select, expected array", v.go_type())),
            },
            Seg::Wild => match v {
                Value::Object(m) => out.extend(m.values().cloned()),
                Value::Array(a) => out.extend(a.iter().cloned()),
                _ => {}
            },
            Seg::Union(sels) => {
                for s in sels {
                    match s {
                        Sel::Key(k) => Seg::Key(k.clone()).apply(v, true, out)?,
                        Sel::Index(i) => Seg::Index(*i).apply(v, true, out)?,
                    }
                }
            }
            Seg::Slice(start, end, step) => {
                if let Value::Array(a) = v {
                    let len = a.len() as i64;
                    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                    let s = norm(start.unwrap_or(0));
                    let e = norm(end.unwrap_or(len));
                    let step = (*step).max(1);
                    let mut i = s;
                    while i < e {
                        out.push(a[i as usize].clone());
                        i += step;
                    }
                }
            }
            Seg::Recursive(inner) => {
                let mut stack = vec![v.clone()];
                while let Some(x) = stack.pop() {
                    inner.apply(&x, true, out)?;
                    match &x {
                        Value::Object(m) => stack.extend(m.values().rev().cloned()),
                        Value::Array(a) => stack.extend(a.iter().rev().cloned()),
                        _ => {}
                    }
                }
            }
            Seg::Filter(e) => {
                let items: Vec<Value> = match v {
                    Value::Array(a) => a.iter().cloned().collect(),
                    Value::Object(m) => m.values().cloned().collect(),
                    _ => vec![],
                };
                for it in items {
                    if truthy(&eval(e, &it)) {
                        out.push(it);
                    }
                }
            }
        }
        Ok(())
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

fn eval(e: &Expr, cur: &Value) -> Value {
    match e {
        Expr::Lit(v) => v.clone(),
        Expr::Path(segs) => {
            let mut vals = vec![cur.clone()];
            for s in segs {
                let mut next = Vec::new();
                for v in &vals {
                    if s.apply(v, true, &mut next).is_err() {
                        return Value::Null;
                    }
                }
                vals = next;
            }
            vals.into_iter().next().unwrap_or(Value::Null)
        }
        Expr::Not(x) => Value::Bool(!truthy(&eval(x, cur))),
        Expr::And(x, y) => Value::Bool(truthy(&eval(x, cur)) && truthy(&eval(y, cur))),
        Expr::Or(x, y) => Value::Bool(truthy(&eval(x, cur)) || truthy(&eval(y, cur))),
        Expr::Cmp(x, op, y) => {
            let (l, r) = (eval(x, cur), eval(y, cur));
            let ord = match (&l, &r) {
                (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_))
                | (Value::String(_), Value::String(_))
                | (Value::Bool(_), Value::Bool(_)) => Some(l.sort_cmp(&r)),
                _ => None,
            };
            use std::cmp::Ordering::*;
            Value::Bool(match (op.as_str(), ord) {
                ("==", Some(o)) => o == Equal,
                ("==", None) => l.is_null() && r.is_null(),
                ("!=", Some(o)) => o != Equal,
                ("!=", None) => !(l.is_null() && r.is_null()),
                ("<", Some(o)) => o == Less,
                ("<=", Some(o)) => o != Greater,
                (">", Some(o)) => o == Greater,
                (">=", Some(o)) => o != Less,
                ("=~", _) => match (&l, &r) {
                    (Value::String(s), Value::String(p)) => {
                        super::string::regex(p).map(|re| re.is_match(s)).unwrap_or(false)
                    }
                    _ => false,
                },
                _ => false,
            })
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { s: text.as_bytes(), text, i: 0 }
    }

    fn err(&self) -> String {
        format!("invalid json path {} at position {}", self.text, self.i)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.s[self.i..].starts_with(t.as_bytes()) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    fn parse(mut self) -> Result<Vec<Seg>, String> {
        self.ws();
        if !self.eat("$") {
            return Err(self.err());
        }
        let segs = self.segments()?;
        self.ws();
        if self.i != self.s.len() {
            return Err(self.err());
        }
        Ok(segs)
    }

    fn segments(&mut self) -> Result<Vec<Seg>, String> {
        let mut segs = Vec::new();
        loop {
            if self.eat("..") {
                let inner = if self.eat("*") {
                    Seg::Wild
                } else if self.peek() == Some(b'[') {
                    self.bracket()?
                } else {
                    Seg::Key(self.ident()?)
                };
                segs.push(Seg::Recursive(Box::new(inner)));
            } else if self.eat(".") {
                if self.eat("*") {
                    segs.push(Seg::Wild);
                } else {
                    segs.push(Seg::Key(self.ident()?));
                }
            } else if self.peek() == Some(b'[') {
                segs.push(self.bracket()?);
            } else {
                return Ok(segs);
            }
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c >= 0x80 {
                self.i += 1;
            } else {
                break;
            }
        }
        if start == self.i {
            return Err(self.err());
        }
        Ok(self.text[start..self.i].to_string())
    }

    fn int(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let r = self.text[start..self.i].parse().ok();
        if r.is_none() {
            self.i = start;
        }
        r
    }

    fn string(&mut self) -> Result<String, String> {
        let q = self.peek().ok_or_else(|| self.err())?;
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == q {
                let s = self.text[start..self.i].to_string();
                self.i += 1;
                return Ok(s);
            }
            self.i += 1;
        }
        Err(self.err())
    }

    fn bracket(&mut self) -> Result<Seg, String> {
        self.i += 1; // [
        self.ws();
        let seg = if self.eat("*") {
            Seg::Wild
        } else if self.eat("?(") {
            let e = self.expr()?;
            self.ws();
            if !self.eat(")") {
                return Err(self.err());
            }
            Seg::Filter(e)
        } else {
            let mut sels = Vec::new();
            let mut slice = None;
            loop {
                self.ws();
                match self.peek() {
                    Some(b'\'' | b'"') => sels.push(Sel::Key(self.string()?)),
                    _ => {
                        let a = self.int();
                        self.ws();
                        if self.eat(":") {
                            let b = self.int();
                            self.ws();
                            let step = if self.eat(":") { self.int().unwrap_or(1) } else { 1 };
                            slice = Some(Seg::Slice(a, b, step));
                        } else {
                            sels.push(Sel::Index(a.ok_or_else(|| self.err())?));
                        }
                    }
                }
                self.ws();
                if !self.eat(",") {
                    break;
                }
            }
            match (slice, sels.len()) {
                (Some(s), 0) => s,
                (None, 1) => match sels.remove(0) {
                    Sel::Key(k) => Seg::Key(k),
                    Sel::Index(i) => Seg::Index(i),
                },
                (None, _) => Seg::Union(sels),
                _ => return Err(self.err()),
            }
        };
        self.ws();
        if !self.eat("]") {
            return Err(self.err());
        }
        Ok(seg)
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        loop {
            self.ws();
            if self.eat("||") {
                l = Expr::Or(Box::new(l), Box::new(self.and()?));
            } else {
                return Ok(l);
            }
        }
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.cmp()?;
        loop {
            self.ws();
            if self.eat("&&") {
                l = Expr::And(Box::new(l), Box::new(self.cmp()?));
            } else {
                return Ok(l);
            }
        }
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.atom()?;
        self.ws();
        for op in ["==", "!=", "<=", ">=", "=~", "<", ">"] {
            if self.eat(op) {
                let r = self.atom()?;
                return Ok(Expr::Cmp(Box::new(l), op.to_string(), Box::new(r)));
            }
        }
        Ok(l)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        self.ws();
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let e = self.expr()?;
                self.ws();
                if !self.eat(")") {
                    return Err(self.err());
                }
                Ok(e)
            }
            Some(b'!') => {
                self.i += 1;
                Ok(Expr::Not(Box::new(self.atom()?)))
            }
            Some(b'@') => {
                self.i += 1;
                Ok(Expr::Path(self.segments()?))
            }
            Some(b'\'' | b'"') => Ok(Expr::Lit(Value::from(self.string()?))),
            _ => {
                for (w, v) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)] {
                    if self.eat(w) {
                        return Ok(Expr::Lit(v));
                    }
                }
                let start = self.i;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
                    self.i += 1;
                }
                let t = &self.text[start..self.i];
                if let Ok(i) = t.parse::<i64>() {
                    Ok(Expr::Lit(Value::Int(i)))
                } else if let Ok(f) = t.parse::<f64>() {
                    Ok(Expr::Lit(Value::Float(f)))
                } else {
                    Err(self.err())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, arr, b, f, i, obj, run, s};
    use crate::value::Value;

    #[test]
    fn json_functions() {
        let doc = || {
            obj(vec![
                ("foo", obj(vec![("bar", i(1)), ("baz", arr(vec![i(1), i(2), i(3)]))])),
                (
                    "items",
                    arr(vec![
                        obj(vec![("n", s("a")), ("p", f(5.5))]),
                        obj(vec![("n", s("b")), ("p", i(20))]),
                        obj(vec![("n", s("c")), ("p", i(30))]),
                    ]),
                ),
            ])
        };
        run(vec![
            ("json_path_query", vec![doc(), s("$.foo.bar")], V(i(1))),
            ("json_path_query", vec![doc(), s("$['foo']['baz'][1]")], V(i(2))),
            ("json_path_query", vec![doc(), s("$.foo.baz[-1]")], V(i(3))),
            ("json_path_query", vec![doc(), s("$.foo.baz[*]")], V(arr(vec![i(1), i(2), i(3)]))),
            ("json_path_query", vec![doc(), s("$.foo.baz[0:2]")], V(arr(vec![i(1), i(2)]))),
            ("json_path_query", vec![doc(), s("$.items[?(@.p > 10)].n")], V(arr(vec![s("b"), s("c")]))),
            ("json_path_query", vec![doc(), s("$.items[?(@.p > 10 && @.n == 'c')].n")], V(arr(vec![s("c")]))),
            ("json_path_query", vec![doc(), s("$..n")], V(arr(vec![s("a"), s("b"), s("c")]))),
            ("json_path_query", vec![doc(), s("$.nope")], E("unknown key nope")),
            ("json_path_query", vec![doc(), s("foo")], E("invalid json path")),
            ("json_path_query", vec![s("{\"a\":[1,2]}"), s("$.a[1]")], V(i(2))),
            ("json_path_query", vec![i(1), s("$.a")], E("invalid data int64(1)")),
            ("json_path_query_first", vec![doc(), s("$.items[*].p")], V(f(5.5))),
            ("json_path_query_first", vec![doc(), s("$.foo.bar")], V(i(1))),
            ("json_path_exists", vec![doc(), s("$.foo.bar")], V(b(true))),
            ("json_path_exists", vec![doc(), s("$.foo.nope")], V(b(false))),
            ("json_path_exists", vec![doc(), s("$.items[?(@.p > 100)]")], V(b(false))),
            ("to_json", vec![obj(vec![("a", arr(vec![i(1), f(2.0)]))])], V(s("{\"a\":[1,2.0]}"))),
            ("to_json", vec![Value::Null], V(s("null"))),
            ("parse_json", vec![s("{\"a\":[1,2.5]}")], V(obj(vec![("a", arr(vec![i(1), f(2.5)]))]))),
            ("parse_json", vec![s("null")], V(Value::Null)),
            ("parse_json", vec![s("{")], E("fail to parse json")),
        ]);
    }
}
