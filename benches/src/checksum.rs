//! The output checksum, so that runs (engine and floor, one worker and two,
//! Oort and another engine) can be checked against each other.
//!
//! Every output row is written in a canonical JSON form: its fields in
//! SELECT order, `{"name":value,...}` with no spaces; strings JSON-escaped;
//! integers in decimal; floats as `round(v·10⁶)` written with exactly six
//! decimals (`50.010000`; so that an average summed in another order still
//! renders the same; NaN and infinities as Rust prints them); `true`,
//! `false`, `null`. The row's checksum is FNV-1a (64-bit) of those bytes,
//! and a run's checksum is the wrapping sum of its rows' checksums, printed
//! as 16 hex digits: independent of row order (workers interleave their
//! output), sensitive to every value. Writing the canonical form is also the
//! harness sink's and the floor's "write output" step.
//!
//! Beside it, [`Checksum`] keeps WORKLOAD.md's check figures for the window
//! queries: the sum of the integer field `c` (COUNT(*)) and of `h`
//! (MAX(humidity)).

use std::sync::Arc;

use oort_operators::value::Value;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits (byte by byte, as defined; eight bytes per loop step).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        for b in c {
            h ^= u64::from(*b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    for b in chunks.remainder() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Builds one row's canonical form in a reused buffer.
#[derive(Debug, Default)]
pub struct RowWriter {
    buf: Vec<u8>,
    fields: usize,
    /// Per field position, the last name written there and its rendering
    /// (`,"name":`; no comma first): rows of one query repeat their names.
    names: Vec<(Box<str>, Box<[u8]>)>,
    /// Per field position, the engine's name whose rendering `names` holds
    /// there, kept alive so that the same allocation means the same name:
    /// rows from the engine share their names, so the sink compares pointers,
    /// not text.
    shared: Vec<Option<Arc<str>>>,
}

impl RowWriter {
    /// Starts a row.
    pub fn begin(&mut self) {
        self.buf.clear();
        self.buf.push(b'{');
        self.fields = 0;
    }

    fn name(&mut self, name: &str) {
        let at = self.fields;
        self.fields += 1;
        if let Some((last, rendered)) = self.names.get(at)
            && **last == *name
        {
            self.buf.extend_from_slice(rendered);
            return;
        }
        let mut rendered = Vec::with_capacity(name.len() + 4);
        if at > 0 {
            rendered.push(b',');
        }
        write_str(&mut rendered, name);
        rendered.push(b':');
        self.buf.extend_from_slice(&rendered);
        let entry = (Box::from(name), rendered.into_boxed_slice());
        match self.names.get_mut(at) {
            Some(slot) => *slot = entry,
            None => self.names.push(entry),
        }
        if let Some(shared) = self.shared.get_mut(at) {
            *shared = None;
        }
    }

    /// [`RowWriter::name`] of an engine row's field name: the same `Arc` as
    /// last time at this position is the same name, its rendering reused
    /// without comparing text.
    fn shared_name(&mut self, name: &Arc<str>) {
        let at = self.fields;
        if let (Some(Some(last)), Some((_, rendered))) = (self.shared.get(at), self.names.get(at))
            && Arc::ptr_eq(last, name)
        {
            self.fields += 1;
            self.buf.extend_from_slice(rendered);
            return;
        }
        self.name(name);
        if self.shared.len() <= at {
            self.shared.resize(at + 1, None);
        }
        self.shared[at] = Some(name.clone());
    }

    /// A string field.
    pub fn str(&mut self, name: &str, v: &str) {
        self.name(name);
        write_str(&mut self.buf, v);
    }

    /// An integer field.
    pub fn int(&mut self, name: &str, v: i64) {
        self.name(name);
        self.put_int(v);
    }

    /// A float field (six decimals).
    pub fn float(&mut self, name: &str, v: f64) {
        self.name(name);
        self.put_float(v);
    }

    /// An engine value.
    pub fn value(&mut self, name: &str, v: &Value) {
        self.name(name);
        self.put_value(v);
    }

    /// An engine row's field.
    pub fn field(&mut self, name: &Arc<str>, v: &Value) {
        self.shared_name(name);
        self.put_value(v);
    }

    fn put_int(&mut self, v: i64) {
        if v < 0 {
            self.buf.push(b'-');
        }
        push_decimal(&mut self.buf, v.unsigned_abs(), 1);
    }

    fn put_float(&mut self, v: f64) {
        use std::io::Write;
        let micros = (v * 1e6).round();
        if !micros.is_finite() || micros.abs() >= 9e18 {
            let _ = write!(self.buf, "{v}");
            return;
        }
        let n = micros as i64;
        if n < 0 {
            self.buf.push(b'-');
        }
        let n = n.unsigned_abs();
        push_decimal(&mut self.buf, n / 1_000_000, 1);
        self.buf.push(b'.');
        push_decimal(&mut self.buf, n % 1_000_000, 6);
    }

    fn put_value(&mut self, v: &Value) {
        match v {
            Value::Null => self.buf.extend_from_slice(b"null"),
            Value::Bool(b) => self.buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Int(i) => self.put_int(*i),
            Value::Float(f) => self.put_float(*f),
            Value::String(s) => write_str(&mut self.buf, s),
            other => oort_operators::value::write_json(&mut self.buf, other),
        }
    }

    /// The last row written.
    pub fn last(&self) -> &[u8] {
        &self.buf
    }

    /// Ends the row and returns its canonical bytes.
    pub fn end(&mut self) -> &[u8] {
        self.buf.push(b'}');
        &self.buf
    }
}

/// Writes `n` in decimal, zero-padded to at least `width` digits (at most
/// 20): what `format!("{n:0width$}")` writes, without the formatting
/// machinery (the sink writes several numbers per output row).
fn push_decimal(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    // Two digits per step, from a table of "00".."99".
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    let from = at.min(digits.len().saturating_sub(width));
    out.extend_from_slice(&digits[from..]);
}

/// "00", "01", … "99", back to back.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Whether `s` has a byte JSON escapes (`"`, `\\` or a control character),
/// looked for eight bytes at a time.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = s.chunks_exact(8);
    for c in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        if zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
            != 0
        {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if !needs_escape(s.as_bytes()) {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                use std::io::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// A run's output summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    /// Output rows.
    pub rows: u64,
    /// Wrapping sum of the rows' FNV-1a hashes.
    pub sum: u64,
    /// Sum of the integer field `c` over all rows.
    pub sum_c: i64,
    /// Sum of the integer field `h` over all rows.
    pub sum_h: i64,
}

impl Checksum {
    /// Adds one canonical row.
    pub fn add_row(&mut self, canonical: &[u8]) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(fnv1a64(canonical));
    }

    /// Adds an engine row: writes it canonically with `w`, hashes it and
    /// picks up `c` and `h`.
    pub fn add_values<'a>(&mut self, w: &mut RowWriter, fields: impl Iterator<Item = (&'a str, &'a Value)>) {
        self.add_written(w, fields, |w, name, v| w.value(name, v));
    }

    /// Adds an engine result row (as [`Checksum::add_values`], its names
    /// compared by pointer: see [`RowWriter::field`]).
    pub fn add_fields(&mut self, w: &mut RowWriter, row: &[(Arc<str>, Value)]) {
        self.add_written(w, row.iter().map(|(name, v)| (name, v)), |w, name, v| w.field(name, v));
    }

    /// One row whose fields `write` writes with `w`: hashed, and its figures
    /// picked up.
    #[inline]
    fn add_written<'a, N: AsRef<str>>(
        &mut self,
        w: &mut RowWriter,
        fields: impl Iterator<Item = (N, &'a Value)>,
        write: impl Fn(&mut RowWriter, N, &Value),
    ) {
        w.begin();
        for (name, v) in fields {
            self.note_figures(name.as_ref(), v);
            write(w, name, v);
        }
        let bytes = w.end();
        self.add_row(bytes);
    }

    /// Picks up WORKLOAD.md's check figures: integer fields `c` and `h`.
    #[inline]
    fn note_figures(&mut self, name: &str, v: &Value) {
        if let Value::Int(i) = v {
            match name {
                "c" => self.sum_c += i,
                "h" => self.sum_h += i,
                _ => {}
            }
        }
    }

    /// Merges another partial checksum.
    pub fn merge(&mut self, o: &Checksum) {
        self.rows += o.rows;
        self.sum = self.sum.wrapping_add(o.sum);
        self.sum_c += o.sum_c;
        self.sum_h += o.sum_h;
    }

    /// The checksum as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_and_order_independence() {
        let mut w = RowWriter::default();
        w.begin();
        w.str("deviceId", "d7");
        w.float("temperature", 50.5);
        w.int("c", 3);
        w.float("n", -0.25);
        w.float("x", 50.01);
        assert_eq!(w.end(), br#"{"deviceId":"d7","temperature":50.500000,"c":3,"n":-0.250000,"x":50.010000}"#);
        let rows = [[("a", Value::Int(1))], [("a", Value::Float(2.0))]];
        let mut x = Checksum::default();
        let mut y = Checksum::default();
        for r in &rows {
            x.add_values(&mut w, r.iter().map(|(k, v)| (*k, v)));
        }
        for r in rows.iter().rev() {
            y.add_values(&mut w, r.iter().map(|(k, v)| (*k, v)));
        }
        assert_eq!(x, y);
        assert_eq!(x.rows, 2);
        let s = Value::str("q\"x");
        w.begin();
        w.value("s", &s);
        assert_eq!(w.end(), br#"{"s":"q\"x"}"#);
    }

    /// The word-at-a-time check finds what the byte-by-byte one finds.
    #[test]
    fn escapes_are_found_in_any_position() {
        let plain = "deviceId_temp\u{e9}rature\u{7f}~ok";
        for len in 0..plain.len() {
            let Some(text) = plain.get(..len) else { continue };
            assert!(!needs_escape(text.as_bytes()), "{text:?}");
            for bad in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
                for at in 0..=text.len() {
                    let Some((a, b)) = text.get(..at).zip(text.get(at..)) else { continue };
                    let with = format!("{a}{bad}{b}");
                    assert!(needs_escape(with.as_bytes()), "{with:?}");
                }
            }
        }
    }

    /// Names are rendered once per field position and reused while rows
    /// repeat them; a row with other names (or fewer, or more) is written
    /// as if nothing were cached.
    #[test]
    fn field_names_render_the_same_cached_or_not() {
        let rows: [&[(&str, Value)]; 6] = [
            &[("a", Value::Int(1)), ("b", Value::Null)],
            &[("a", Value::Int(2)), ("b", Value::Bool(true))],
            &[("a", Value::Int(3)), ("c", Value::Bool(false)), ("q\"\n", Value::Int(4))],
            &[("x", Value::str("y"))],
            &[],
            &[("a", Value::Int(5)), ("q\"\n", Value::Int(6))],
        ];
        let wants = [
            r#"{"a":1,"b":null}"#,
            r#"{"a":2,"b":true}"#,
            r#"{"a":3,"c":false,"q\"\u000a":4}"#,
            r#"{"x":"y"}"#,
            r#"{}"#,
            r#"{"a":5,"q\"\u000a":6}"#,
        ];
        let mut w = RowWriter::default();
        for round in 0..2 {
            for (row, want) in rows.iter().zip(wants) {
                w.begin();
                for (k, v) in row.iter() {
                    w.value(k, v);
                }
                assert_eq!(String::from_utf8_lossy(w.end()), want, "round {round}");
            }
        }
    }

    #[test]
    fn engine_rows_render_as_rows_of_text_names_do() {
        let (a, b) = (Arc::<str>::from("a"), Arc::<str>::from("b"));
        let other_a = Arc::<str>::from("a");
        // Fields: the name by Arc (or by text when None), its text, the value.
        type Field<'a> = (Option<Arc<str>>, &'a str, Value);
        let rows: Vec<(Vec<Field>, &str)> = vec![
            (
                vec![(Some(a.clone()), "a", Value::Int(1)), (Some(b.clone()), "b", Value::Float(2.5))],
                r#"{"a":1,"b":2.500000}"#,
            ),
            (vec![(Some(a.clone()), "a", Value::Int(2)), (Some(b.clone()), "b", Value::Null)], r#"{"a":2,"b":null}"#),
            // A text name at a position an Arc held: the Arc must not reuse it.
            (vec![(None, "z", Value::Int(3))], r#"{"z":3}"#),
            (vec![(Some(a.clone()), "a", Value::Int(4))], r#"{"a":4}"#),
            // Another Arc of the same text; then the names swapped.
            (
                vec![(Some(other_a.clone()), "a", Value::Int(5)), (Some(b.clone()), "b", Value::str("s"))],
                r#"{"a":5,"b":"s"}"#,
            ),
            (
                vec![(Some(b.clone()), "b", Value::Int(6)), (Some(a.clone()), "a", Value::Bool(true))],
                r#"{"b":6,"a":true}"#,
            ),
            (vec![(None, "b", Value::Int(7)), (Some(a.clone()), "a", Value::Int(8))], r#"{"b":7,"a":8}"#),
        ];
        let mut w = RowWriter::default();
        for round in 0..2 {
            for (row, want) in &rows {
                let (mut by_fields, mut by_text) = (Checksum::default(), Checksum::default());
                let engine_row: Vec<(Arc<str>, Value)> =
                    row.iter().map(|(n, t, v)| (n.clone().unwrap_or_else(|| Arc::from(*t)), v.clone())).collect();
                w.begin();
                for (n, t, v) in row {
                    match n {
                        Some(n) => w.field(n, v),
                        None => w.value(t, v),
                    }
                }
                assert_eq!(String::from_utf8_lossy(w.end()), *want, "round {round}");
                by_fields.add_fields(&mut w, &engine_row);
                by_text.add_values(&mut w, engine_row.iter().map(|(k, v)| (&**k, v)));
                assert_eq!(by_fields, by_text, "{want}");
            }
        }
    }

    /// The hash steps eight bytes at a time: the same as one at a time.
    #[test]
    fn fnv_of_every_length_is_byte_by_byte_fnv() {
        let text: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..=text.len() {
            let mut h = FNV_OFFSET;
            for b in &text[..len] {
                h ^= u64::from(*b);
                h = h.wrapping_mul(FNV_PRIME);
            }
            assert_eq!(fnv1a64(&text[..len]), h, "{len} bytes");
        }
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    /// Numbers are written as the formatting macros write them.
    #[test]
    fn numbers_are_written_as_format_writes_them() {
        let mut w = RowWriter::default();
        let powers = (0..19).flat_map(|e| {
            let p = 10i64.pow(e);
            [p - 1, p, p + 1, -p]
        });
        let small = -1000..=2000;
        for v in
            [0, 7, -7, 10, 99, 1_000_000, -1_234_567_890, i64::MAX, i64::MIN].into_iter().chain(powers).chain(small)
        {
            w.begin();
            w.int("i", v);
            assert_eq!(w.end(), format!(r#"{{"i":{v}}}"#).as_bytes(), "{v}");
        }
        for v in [
            0.0,
            -0.0,
            1e-7,
            -1e-7,
            0.5,
            -0.25,
            21.125,
            123456.000001,
            -98765.4321,
            9.2e12,
            1e300,
            f64::NAN,
            0.000005,
            0.00005,
            0.1,
            99.99,
            100.01,
        ] {
            let micros = (v * 1e6).round();
            let want = if !micros.is_finite() || micros.abs() >= 9e18 {
                format!("{v}")
            } else {
                let n = micros as i64;
                format!("{}{}.{:06}", if n < 0 { "-" } else { "" }, n.abs() / 1_000_000, n.abs() % 1_000_000)
            };
            w.begin();
            w.float("f", v);
            assert_eq!(w.end(), format!(r#"{{"f":{want}}}"#).as_bytes(), "{v}");
        }
    }
}
