//! The fast path of [`crate::value::RowDecoder`]: a scanner for JSON objects
//! whose read fields hold scalars (the shape of IoT payloads).
//!
//! It walks the bytes once, eight at a time where it can: a key is first
//! compared with the key found at the same position in earlier records (the
//! fields of a stream usually come in one order), so a known key costs one
//! masked compare and no lookup; a field the rule does not read is stepped
//! over checking only the grammar serde_json checks when it ignores a value
//! (nested objects and arrays included); numbers are parsed eight digits at
//! a time, floats through Clinger's exact fast path or else the standard
//! library; short strings (device ids) are stored inline, and longer ones
//! up to 48 bytes come from a small cache, so a repeated one is one shared
//! allocation. Whenever it meets something it does not handle
//! exactly as serde_json would — an escape in a key or a read string, a read
//! nested value, an unusual number, malformed input — it gives up (`None`)
//! and the caller decodes the record with serde_json, so every value and
//! every error message is serde_json's.

use crate::value::{RowDecoder, Str, Value};
use std::sync::Arc;

/// What a decoder's scanner keeps from one record to the next: the keys in
/// the order last seen, and the short strings seen before.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanState {
    keys: Vec<LearnedKey>,
    strings: StringCache,
}

impl ScanState {
    /// Forgets the learned keys (their slots changed).
    pub(crate) fn forget_keys(&mut self) {
        self.keys.clear();
    }
}

/// Scans `bytes`, one JSON object, placing the fields `dec` reads into
/// `slots`; `None` when the object needs serde_json (see the module doc).
/// After `None` the slots may hold some values: the caller resets them.
///
/// With `stop` below `usize::MAX` the scan ends as soon as it has placed
/// that many values, without reading (or checking) the rest of the object:
/// a key router reads just the group key this way.
pub(crate) fn scan(
    bytes: &[u8],
    dec: &RowDecoder,
    state: &mut ScanState,
    slots: &mut [Value],
    stop: usize,
) -> Option<()> {
    let mut placed = 0;
    let mut i = ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(bytes, i + 1);
    if bytes.get(i) == Some(&b'}') {
        i += 1;
    } else {
        let mut field = 0;
        loop {
            if bytes.get(i) != Some(&b'"') {
                return None;
            }
            i += 1;
            // Whether the key's match took its colon too.
            let colon_seen;
            let slot = match state.keys.get(field) {
                Some(known) if known.matches(bytes.get(i..)?) => {
                    i += known.len;
                    colon_seen = known.colon;
                    known.slot
                }
                _ => {
                    let end = string_stop(bytes, i)?;
                    if bytes[end] != b'"' {
                        return None;
                    }
                    let key = &bytes[i..end];
                    // A key that names a slot is valid UTF-8 (the names are); others are checked,
                    // as serde_json does for the keys of the object it reads.
                    let slot = dec.slot_of_bytes(key);
                    if slot.is_none() && !key.is_ascii() {
                        std::str::from_utf8(key).ok()?;
                    }
                    i = end + 1;
                    colon_seen = bytes.get(i) == Some(&b':');
                    learn(&mut state.keys, field, key, colon_seen, slot);
                    i += usize::from(colon_seen);
                    slot
                }
            };
            field += 1;
            if !colon_seen {
                i = ws(bytes, i);
                if bytes.get(i) != Some(&b':') {
                    return None;
                }
                i += 1;
            }
            i = ws(bytes, i);
            match slot {
                Some(s) => {
                    let (value, end) = read_scalar(bytes, i, &mut state.strings)?;
                    let old = std::mem::replace(slots.get_mut(s)?, value);
                    if old.is_null() {
                        // Nothing to free (most slots are null before): no call to drop.
                        std::mem::forget(old);
                    }
                    placed += 1;
                    if placed == stop {
                        return Some(());
                    }
                    i = end;
                }
                None => i = skip_value(bytes, i)?,
            }
            i = ws(bytes, i);
            match bytes.get(i) {
                Some(b',') => i = ws(bytes, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (ws(bytes, i) == bytes.len()).then_some(())
}

/// A record prefix of at most 16 bytes (`{"name":"`), held as two words to
/// compare a record's first sixteen bytes with: [`leading_string`]'s usual
/// case without a byte comparison loop or a call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShortPrefix {
    words: [u64; 2],
    masks: [u64; 2],
    len: usize,
}

/// The low `n` bytes of a word set (all of them from 8 on).
#[inline(always)]
fn low_bytes(n: usize) -> u64 {
    if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 }
}

impl ShortPrefix {
    /// The prefix as words; `None` when it is longer than 16 bytes.
    pub(crate) fn new(prefix: &[u8]) -> Option<Self> {
        if prefix.len() > 16 {
            return None;
        }
        let mut padded = [0u8; 16];
        padded[..prefix.len()].copy_from_slice(prefix);
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&padded[8 * i..8 * i + 8]);
            u64::from_le_bytes(w)
        };
        let masks = [low_bytes(prefix.len()), low_bytes(prefix.len().saturating_sub(8))];
        Some(Self { words: [word(0), word(1)], masks, len: prefix.len() })
    }

    /// When `bytes` starts with the prefix and the string that follows it
    /// is at most 15 bytes with no escape or control character (what it
    /// decodes to, byte for byte): its text as two little-endian words, zero
    /// past its end, and its length. `None` otherwise, and when fewer than 16
    /// bytes follow the prefix (the caller then reads it the long way).
    #[inline]
    pub(crate) fn short_string_after(&self, bytes: &[u8]) -> Option<(u64, u64, usize)> {
        let at = |i: usize| bytes.get(i..).and_then(<[u8]>::first_chunk::<8>).map(|w| u64::from_le_bytes(*w));
        let p = self.len;
        let (t0, t1) = (at(p)?, at(p + 8)?);
        if (at(0)? & self.masks[0]) != self.words[0] || (at(8)? & self.masks[1]) != self.words[1] {
            return None;
        }
        let stops = string_stops(t0);
        let (n, lo, hi) = if stops != 0 {
            let n = stops.trailing_zeros() as usize / 8;
            (n, t0 & low_bytes(n), 0)
        } else {
            let n = 8 + string_stops(t1).trailing_zeros() as usize / 8;
            if n >= 16 {
                return None;
            }
            (n, t0, t1 & low_bytes(n - 8))
        };
        (bytes.get(p + n) == Some(&b'"')).then_some((lo, hi, n))
    }
}

/// The text of the first top-level field `name` of one JSON object when it
/// is a string with no escape in it (what a string value decodes to,
/// byte for byte), read only as far as that field. `None` when the field
/// is not such a string, is missing, or the object is not one this can
/// read without decoding (an escaped key, say): the caller then decodes.
///
/// `prefix` is `{"name":"`: a record that starts with exactly that (the
/// key first, no spaces: the usual layout) is read from there on.
pub(crate) fn leading_string<'a>(bytes: &'a [u8], prefix: &[u8], name: &[u8]) -> Option<&'a [u8]> {
    if bytes.starts_with(prefix) {
        let end = string_stop(bytes, prefix.len())?;
        return (bytes[end] == b'"').then(|| &bytes[prefix.len()..end]);
    }
    let mut i = ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(bytes, i + 1);
    loop {
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let end = string_stop(bytes, i + 1)?;
        if bytes[end] != b'"' {
            return None;
        }
        let key = &bytes[i + 1..end];
        i = ws(bytes, end + 1);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = ws(bytes, i + 1);
        if key == name {
            if bytes.get(i) != Some(&b'"') {
                return None;
            }
            let end = string_stop(bytes, i + 1)?;
            return (bytes[end] == b'"').then(|| &bytes[i + 1..end]);
        }
        i = ws(bytes, skip_value(bytes, i)?);
        match bytes.get(i) {
            Some(b',') => i = ws(bytes, i + 1),
            _ => return None,
        }
    }
}

// ---------------------------------------------------------------- keys

/// Keys of at most this many bytes (closing quote and colon included) are learned.
const LEARNED_KEY_MAX: usize = 32;
/// At most this many fields of a record are learned.
const LEARNED_FIELDS_MAX: usize = 64;

/// A key seen at one position of a record, with the slot it names.
#[derive(Debug, Clone)]
struct LearnedKey {
    /// The key's bytes, its closing quote and, when it came right after
    /// (`colon`), the colon; zero-padded.
    text: [u8; LEARNED_KEY_MAX],
    colon: bool,
    /// Bytes of `text` in use.
    len: usize,
    /// The first 16 bytes of `text`, and the mask of those in use.
    word: u128,
    mask: u128,
    slot: Option<usize>,
}

impl LearnedKey {
    /// Whether `rest` (the bytes after an opening quote) starts with this
    /// key and its closing quote (and colon): then it is that key, escapes excluded.
    #[inline(always)]
    fn matches(&self, rest: &[u8]) -> bool {
        if self.len <= 16
            && let Some(head) = rest.first_chunk::<16>()
        {
            return u128::from_le_bytes(*head) & self.mask == self.word;
        }
        rest.get(..self.len) == self.text.get(..self.len)
    }
}

/// Records that field `field` of the records is `key`, naming `slot`, and
/// whether its colon came right after it.
fn learn(keys: &mut Vec<LearnedKey>, field: usize, key: &[u8], colon: bool, slot: Option<usize>) {
    let len = key.len() + 1 + usize::from(colon);
    if len > LEARNED_KEY_MAX || field > keys.len() || field >= LEARNED_FIELDS_MAX {
        keys.truncate(field);
        return;
    }
    let mut text = [0u8; LEARNED_KEY_MAX];
    text[..key.len()].copy_from_slice(key);
    text[key.len()] = b'"';
    if colon {
        text[key.len() + 1] = b':';
    }
    let mut head = [0u8; 16];
    head.copy_from_slice(&text[..16]);
    let mask = if len >= 16 { u128::MAX } else { (1u128 << (8 * len)) - 1 };
    let learned = LearnedKey { text, colon, len, word: u128::from_le_bytes(head), mask, slot };
    match keys.get_mut(field) {
        Some(k) => *k = learned,
        None => keys.push(learned),
    }
}

// ---------------------------------------------------------------- bytes

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `bytes` from `at`; those past the end read as zero (the
/// last eight bytes, shifted). `None` at the end, or when the input is
/// shorter than eight bytes.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    if let Some(w) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        return Some(u64::from_le_bytes(*w));
    }
    let tail = bytes.last_chunk::<8>()?;
    let missing = (at + 8).checked_sub(bytes.len()).filter(|&m| m < 8)?;
    Some(u64::from_le_bytes(*tail) >> (8 * missing))
}

/// Steps over JSON whitespace.
#[inline(always)]
fn ws(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i) {
        Some(&b) if b > b' ' => i,
        _ => ws_run(bytes, i),
    }
}

#[cold]
fn ws_run(bytes: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(i) {
        i += 1;
    }
    i
}

/// The high bit of each byte of `w` that is `"`, `\\` or a control character.
#[inline(always)]
fn string_stops(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    quote | backslash | control
}

/// The high bit of each byte of `w` that is not an ASCII digit.
#[inline(always)]
fn non_digits(w: u64) -> u64 {
    // Digits become 0..=9; a byte is a digit when that is below 10, which
    // adding 0x76 to its low seven bits shows in the high bit (no carry
    // crosses bytes).
    let a = w ^ (ONES * u64::from(b'0'));
    (((a & (ONES * 0x7f)).wrapping_add(ONES * 0x76)) | a) & HIGH
}

/// The index of the first `"`, `\\` or control character from `i`.
#[inline(always)]
fn string_stop(bytes: &[u8], mut i: usize) -> Option<usize> {
    while let Some(w) = word_at(bytes, i) {
        let stops = string_stops(w);
        if stops != 0 {
            // Zero bytes past the end stop too: not a stop of the input.
            let at = i + stops.trailing_zeros() as usize / 8;
            return (at < bytes.len()).then_some(at);
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The end of the run of digits from `i`.
#[inline(always)]
fn digit_run(bytes: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(bytes, i) {
        let stops = non_digits(w);
        if stops != 0 {
            return i + stops.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// The value of eight ASCII digits (the first one most significant).
#[inline(always)]
fn eight_digits(w: u64) -> u64 {
    let v = w & (ONES * 0x0f);
    let v = (v.wrapping_mul(10).wrapping_add(v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100).wrapping_add(v >> 16)) & 0x0000_ffff_0000_ffff;
    (v.wrapping_mul(10_000).wrapping_add(v >> 32)) & 0xffff_ffff
}

const POW10_U64: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// The run of digits from `i` appended to `acc` (`acc·10ⁿ + digits`,
/// wrapping past 19 digits, where the caller does not use it), and its end.
#[inline(always)]
fn digits_value(bytes: &[u8], mut i: usize, mut acc: u64) -> (u64, usize) {
    while let Some(w) = word_at(bytes, i) {
        let stops = non_digits(w);
        if stops == 0 {
            acc = acc.wrapping_mul(100_000_000).wrapping_add(eight_digits(w));
            i += 8;
            continue;
        }
        let n = stops.trailing_zeros() as usize / 8;
        if n > 0 {
            // The n digits moved to the top; the zero bytes below read as leading zeros.
            acc = acc.wrapping_mul(POW10_U64[n]).wrapping_add(eight_digits(w << (8 * (8 - n))));
        }
        return (acc, i + n);
    }
    while let Some(&d) = bytes.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        acc = acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    (acc, i)
}

// ---------------------------------------------------------------- values

/// A scalar value that a slot reads, and where it ends.
#[inline(always)]
fn read_scalar(bytes: &[u8], i: usize, strings: &mut StringCache) -> Option<(Value, usize)> {
    match *bytes.get(i)? {
        b'"' => {
            let end = string_stop(bytes, i + 1)?;
            if bytes[end] != b'"' {
                return None;
            }
            Some((strings.value(&bytes[i + 1..end])?, end + 1))
        }
        b'-' | b'0'..=b'9' => number(bytes, i),
        b't' => literal(bytes, i, b"true").map(|e| (Value::Bool(true), e)),
        b'f' => literal(bytes, i, b"false").map(|e| (Value::Bool(false), e)),
        b'n' => literal(bytes, i, b"null").map(|e| (Value::Null, e)),
        _ => None,
    }
}

/// The end of `word` at `i`.
#[inline(always)]
fn literal(bytes: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    let end = i + word.len();
    (bytes.get(i..end)? == word).then_some(end)
}

/// A JSON number as serde_json reads it, and its end: integers (18 digits
/// at most) are `Int` (`-0` the float -0.0); numbers with a fraction or an
/// exponent are the correctly rounded `Float` (what serde_json's
/// `float_roundtrip` gives). Larger integers and out-of-range floats: `None`.
#[inline(always)]
fn number(bytes: &[u8], start: usize) -> Option<(Value, usize)> {
    let negative = bytes.get(start) == Some(&b'-');
    let int_start = start + usize::from(negative);
    let (mantissa, i) = digits_value(bytes, int_start, 0);
    let int_digits = i - int_start;
    if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
        return None;
    }
    match bytes.get(i) {
        Some(b'.') => {
            let frac_start = i + 1;
            let (mantissa, end) = digits_value(bytes, frac_start, mantissa);
            let fraction_digits = end - frac_start;
            if fraction_digits == 0 {
                return None;
            }
            if let Some(b'e' | b'E') = bytes.get(end) {
                return exponent(bytes, start, end);
            }
            let f = match exact_decimal(mantissa, int_digits + fraction_digits, fraction_digits) {
                Some(f) => f,
                None => return parse_float(bytes, start, end),
            };
            Some((Value::Float(if negative { -f } else { f }), end))
        }
        Some(b'e' | b'E') => exponent(bytes, start, i),
        _ if int_digits > 18 => None,
        _ => {
            let magnitude = mantissa as i64;
            Some(match (negative, magnitude) {
                // serde_json reads `-0` as a float.
                (true, 0) => (Value::Float(-0.0), i),
                (true, m) => (Value::Int(-m), i),
                (false, m) => (Value::Int(m), i),
            })
        }
    }
}

/// The float of a number from `start` whose exponent marker is at `e`.
fn exponent(bytes: &[u8], start: usize, e: usize) -> Option<(Value, usize)> {
    let mut i = e + 1;
    if let Some(b'+' | b'-') = bytes.get(i) {
        i += 1;
    }
    let end = digit_run(bytes, i);
    if end == i {
        return None;
    }
    parse_float(bytes, start, end)
}

/// The float `bytes[start..end]`, correctly rounded by the standard library.
fn parse_float(bytes: &[u8], start: usize, end: usize) -> Option<(Value, usize)> {
    let text = std::str::from_utf8(bytes.get(start..end)?).ok()?;
    let f: f64 = text.parse().ok()?;
    f.is_finite().then_some((Value::Float(f), end))
}

/// The decimal `mantissa / 10^fraction_digits` (`significant` digits in
/// all, no sign, no exponent) as a float when it is exact to compute: at most
/// 15 significant digits and 22 fraction digits, so both the integer mantissa
/// and the power of ten are exact doubles and one IEEE division gives the
/// correctly rounded result (Clinger's fast path; the same value `str::parse`
/// and serde_json give).
#[inline(always)]
fn exact_decimal(mantissa: u64, significant: usize, fraction_digits: usize) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    if significant > 15 {
        return None;
    }
    Some(mantissa as f64 / *POW10.get(fraction_digits)?)
}

/// The end of a value the rule does not read, checking what serde_json
/// checks when it ignores one: the grammar, escapes in strings (not their
/// UTF-8), nested objects and arrays (64 levels here, else `None`).
#[inline(always)]
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match *bytes.get(i)? {
        b'"' => skip_string(bytes, i + 1),
        b'-' | b'0'..=b'9' => skip_number(bytes, i),
        b't' => literal(bytes, i, b"true"),
        b'f' => literal(bytes, i, b"false"),
        b'n' => literal(bytes, i, b"null"),
        b'{' | b'[' => skip_nested(bytes, i),
        _ => None,
    }
}

/// The end of a string whose opening quote is before `i`, escapes checked
/// as serde_json's `ignore_str` does.
#[inline(always)]
fn skip_string(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let stop = string_stop(bytes, i)?;
        match bytes[stop] {
            b'"' => return Some(stop + 1),
            b'\\' => {
                i = match *bytes.get(stop + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => stop + 2,
                    b'u' if bytes.get(stop + 2..stop + 6)?.iter().all(u8::is_ascii_hexdigit) => stop + 6,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
}

/// The end of a number, its grammar checked (`-`, no leading zero, digits
/// after `.` and after the exponent marker).
#[inline(always)]
fn skip_number(bytes: &[u8], start: usize) -> Option<usize> {
    let int_start = start + usize::from(bytes.get(start) == Some(&b'-'));
    let mut i = digit_run(bytes, int_start);
    if i == int_start || (i - int_start > 1 && bytes[int_start] == b'0') {
        return None;
    }
    if bytes.get(i) == Some(&b'.') {
        let end = digit_run(bytes, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = bytes.get(i) {
            i += 1;
        }
        let end = digit_run(bytes, i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

/// Nesting levels [`skip_nested`] follows.
const MAX_DEPTH: u32 = 64;

/// The end of an object or array at `i`, skipped (one bit per open level).
fn skip_nested(bytes: &[u8], mut i: usize) -> Option<usize> {
    // Bit d of `objects`: whether level d is an object.
    let mut objects: u64 = 0;
    let mut depth: u32 = 0;
    loop {
        // At a value.
        match *bytes.get(i)? {
            open @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                objects = (objects << 1) | u64::from(open == b'{');
                depth += 1;
                i = ws(bytes, i + 1);
                let close = if open == b'{' { b'}' } else { b']' };
                if bytes.get(i) == Some(&close) {
                    i += 1;
                    objects >>= 1;
                    depth -= 1;
                } else {
                    if open == b'{' {
                        i = skip_key(bytes, i)?;
                    }
                    continue;
                }
            }
            _ => i = skip_value(bytes, i)?,
        }
        // After a value: a comma leads to the next one, a bracket closes a level.
        loop {
            if depth == 0 {
                return Some(i);
            }
            i = ws(bytes, i);
            let in_object = objects & 1 == 1;
            match *bytes.get(i)? {
                b',' => {
                    i = ws(bytes, i + 1);
                    if in_object {
                        i = skip_key(bytes, i)?;
                    }
                    break;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            i += 1;
            objects >>= 1;
            depth -= 1;
        }
    }
}

/// Steps over `"key" :` and the whitespace after it, in an ignored object.
fn skip_key(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let i = ws(bytes, skip_string(bytes, i + 1)?);
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    Some(ws(bytes, i + 1))
}

// ---------------------------------------------------------------- strings

/// A bounded cache of strings too long to be stored inline but still
/// short, so that the values a stream repeats (longer ids, states) are
/// allocated once: a two-way set-associative table of at most
/// [`StringCache::MAX_ENTRIES`] strings of at most [`StringCache::MAX_LEN`]
/// bytes, grown from a small start; on a conflict the newer string replaces
/// one of the two. Strings of at most [`Str::INLINE_CAP`] bytes are inline
/// values and bypass the cache (no lookup, no shared count).
#[derive(Debug, Clone, Default)]
struct StringCache {
    table: Vec<Option<Arc<str>>>,
    filled: usize,
}

impl StringCache {
    const MAX_ENTRIES: usize = 4096;
    const MAX_LEN: usize = 48;
    const START: usize = 64;

    /// The string of `bytes`; `None` when they are not UTF-8 (a cached
    /// string needs no second check).
    #[inline(always)]
    fn value(&mut self, bytes: &[u8]) -> Option<Value> {
        if bytes.len() <= Str::INLINE_CAP {
            return Str::inline_from_utf8(bytes).map(Value::String);
        }
        if bytes.len() > Self::MAX_LEN {
            return std::str::from_utf8(bytes).ok().map(Value::str);
        }
        let h = short_hash(bytes);
        let set = h & self.table.len().wrapping_sub(1) & !1;
        if let Some([a, b]) = self.table.get(set..set + 2) {
            if let Some(s) = a
                && crate::value::short_eq(s.as_bytes(), bytes)
            {
                return Some(Value::String(Str::from(s.clone())));
            }
            if let Some(s) = b
                && crate::value::short_eq(s.as_bytes(), bytes)
            {
                return Some(Value::String(Str::from(s.clone())));
            }
        }
        let s: Arc<str> = Arc::from(std::str::from_utf8(bytes).ok()?);
        self.insert(h, s.clone());
        Some(Value::String(Str::from(s)))
    }

    fn insert(&mut self, h: usize, s: Arc<str>) {
        if self.table.is_empty() {
            self.table = vec![None; Self::START];
        } else if self.filled * 4 >= self.table.len() * 3 && self.table.len() < Self::MAX_ENTRIES {
            let grown = vec![None; self.table.len() * 2];
            let old = std::mem::replace(&mut self.table, grown);
            self.filled = 0;
            for s in old.into_iter().flatten() {
                self.place(short_hash(s.as_bytes()), s);
            }
        }
        self.place(h, s);
    }

    fn place(&mut self, h: usize, s: Arc<str>) {
        let set = h & (self.table.len() - 1) & !1;
        // The free way, else the one `h` picks.
        let way = match (&self.table[set], &self.table[set + 1]) {
            (None, _) => set,
            (_, None) => set + 1,
            _ => set + ((h >> 20) & 1),
        };
        if self.table[way].is_none() {
            self.filled += 1;
        }
        self.table[way] = Some(s);
    }
}

/// A hash of a short byte string from its length and its first and last
/// eight (four, one) bytes.
#[inline(always)]
fn short_hash(bytes: &[u8]) -> usize {
    let n = bytes.len();
    let (first, last) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(f), Some(l)) => (u64::from_le_bytes(*f), u64::from_le_bytes(*l)),
        _ => match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            (Some(f), Some(l)) => (u64::from(u32::from_le_bytes(*f)), u64::from(u32::from_le_bytes(*l))),
            _ => match bytes {
                [] => (0, 0),
                [a, .., b] => (u64::from(*a) | u64::from(bytes[n / 2]) << 8, u64::from(*b)),
                [a] => (u64::from(*a), 0),
            },
        },
    };
    let x = (first ^ last.rotate_left(29) ^ (n as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 40) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of a short string read after the prefix are those of the
    /// text [`leading_string`] reads; anything else is left to it.
    #[test]
    fn a_short_string_after_the_prefix_reads_as_leading_string_does() {
        let tail = r#","temperature":21.5,"ts":1}"#;
        let cases: Vec<(String, Option<&str>)> = [
            ("", Some("")),
            ("d", Some("d")),
            ("d123", Some("d123")),
            ("abcdefg", Some("abcdefg")),
            ("abcdefgh", Some("abcdefgh")),
            ("abcdefghijklmno", Some("abcdefghijklmno")),
            ("\u{e9}t\u{e9}", Some("\u{e9}t\u{e9}")),
            // Longer than 15 bytes, escaped, or with a control character: the long way.
            ("abcdefghijklmnop", None),
            (r#"d\"1"#, None),
            ("d\t1", None),
        ]
        .into_iter()
        .map(|(id, want)| (format!(r#"{{"deviceId":"{id}"{tail}"#), want))
        .chain([
            (format!(r#"{{"deviceIdx":"d1"{tail}"#), None),
            (format!(r#"{{ "deviceId":"d1"{tail}"#), None),
            (format!(r#"{{"temperature":1,"deviceId":"d1"{tail}"#), None),
            // Too short to read two words after the prefix.
            (r#"{"deviceId":"d1"}"#.to_string(), None),
        ])
        .collect();
        let prefix = ShortPrefix::new(br#"{"deviceId":""#).expect("13 bytes");
        for (record, want) in &cases {
            let got = prefix.short_string_after(record.as_bytes());
            match want {
                Some(text) => {
                    let mut padded = [0u8; 16];
                    padded[..text.len()].copy_from_slice(text.as_bytes());
                    let word = |i: usize| u64::from_le_bytes(padded[8 * i..8 * i + 8].try_into().expect("8 bytes"));
                    assert_eq!(got, Some((word(0), word(1), text.len())), "{record}");
                    let long = leading_string(record.as_bytes(), br#"{"deviceId":""#, b"deviceId");
                    assert_eq!(long, Some(text.as_bytes()), "{record}");
                }
                None => assert_eq!(got, None, "{record}"),
            }
        }
        assert!(ShortPrefix::new(br#"{"a_long_field_name":""#).is_none());
        // A prefix of at most eight bytes compares one word.
        let short = ShortPrefix::new(br#"{"id":""#).expect("7 bytes");
        let x9 = u64::from_le_bytes(*b"x9\0\0\0\0\0\0");
        assert_eq!(short.short_string_after(br#"{"id":"x9","v":12345678901}"#), Some((x9, 0, 2)));
    }

    #[test]
    fn swar_helpers() {
        for text in ["", "0", "7", "12", "123456", "1234567", "12345678", "123456789", "9999999999999999"] {
            let mut b = text.as_bytes().to_vec();
            b.extend_from_slice(b",rest of it");
            let (v, end) = digits_value(&b, 0, 0);
            assert_eq!(end, text.len(), "{text}");
            assert_eq!(v, text.parse::<u64>().unwrap_or(0), "{text}");
            assert_eq!(digit_run(&b, 0), text.len(), "{text}");
            // Near the end of the input (no full word left).
            let (v, end) = digits_value(text.as_bytes(), 0, 0);
            assert_eq!((v, end), (text.parse::<u64>().unwrap_or(0), text.len()), "{text}");
        }
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b'5', b, b'5', b'5', b'5', b'5', b'5', b'5']);
            assert_eq!(non_digits(w) != 0, !b.is_ascii_digit(), "{b}");
            assert_eq!(non_digits(w).trailing_zeros() / 8, if b.is_ascii_digit() { 64 / 8 } else { 1 }, "{b}");
            let stop = b == b'"' || b == b'\\' || b < 0x20;
            let w = u64::from_le_bytes([b'a', b'b', b, b'c', b'd', b'e', b'f', b'g']);
            assert_eq!(string_stops(w) != 0, stop, "{b}");
        }
        assert_eq!(eight_digits(u64::from_le_bytes(*b"12345678")), 12_345_678);
        assert_eq!(string_stop(b"abcdefghij\"", 0), Some(10));
        assert_eq!(string_stop(b"abc", 0), None);
        // Near the end, the last word is read shifted: zero bytes are no stop.
        assert_eq!(string_stop(b"abcdefghij", 0), None);
        assert_eq!(string_stop(b"abcdefghi\"", 0), Some(9));
        assert_eq!(string_stop(b"abcdefghij", 10), None);
        assert_eq!(digit_run(b"x1700000001234", 1), 14);
        assert_eq!(digits_value(b"x1700000001234", 1, 0), (1_700_000_001_234, 14));
    }

    #[test]
    fn skipping_follows_the_grammar() {
        // (input, where skipping ends; None: serde_json's job)
        let cases: &[(&str, Option<usize>)] = &[
            ("123,", Some(3)),
            ("-0.5e+3}", Some(7)),
            ("01", None),
            ("1.", None),
            ("1e", None),
            ("-", None),
            (r#""a\"b\\\/\b\f\n\r\t\u00e9","#, Some(26)),
            (r#""\x""#, None),
            (r#""\u12g4""#, None),
            ("\"a\tb\"", None),
            (r#"{"a":[1,{"b":null},[]],"c":{}}x"#, Some(30)),
            ("[ 1 , [ ] , { } ]", Some(17)),
            ("[1,]", None),
            (r#"{"a":1,}"#, None),
            (r#"{"a" 1}"#, None),
            ("[1 2]", None),
            ("[1}", None),
            ("{1:2}", None),
            ("[", None),
            ("tru", None),
            ("nulls", Some(4)),
        ];
        for (input, end) in cases {
            assert_eq!(skip_value(input.as_bytes(), 0), *end, "{input}");
        }
        let deep = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(skip_value(deep.as_bytes(), 0), Some(128));
        let deeper = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(skip_value(deeper.as_bytes(), 0), None);
    }

    #[test]
    fn learned_keys_match_whole_keys_only() {
        let mut keys = Vec::new();
        learn(&mut keys, 0, b"deviceId", false, Some(3));
        learn(&mut keys, 1, b"a-key-of-twenty-two-by", true, None);
        learn(&mut keys, 2, b"ts", true, None);
        let k = &keys[0];
        assert!(k.matches(b"deviceId\":\"d1\",\"temperature\":1}"));
        assert!(k.matches(b"deviceId\""));
        assert!(!k.matches(b"deviceIdx\":1,\"temperature\":1}"));
        assert!(!k.matches(b"deviceI\":\"d1\",\"temperature\":1}"));
        assert!(!k.matches(b"deviceId"));
        assert!(keys[1].matches(b"a-key-of-twenty-two-by\":1}"));
        assert!(!keys[1].matches(b"a-key-of-twenty-two-by\" :1}"));
        assert!(!keys[1].matches(b"a-key-of-twenty-two-bx\":1}"));
        assert!(keys[2].matches(b"ts\":1}"));
        assert!(!keys[2].matches(b"ts\" : 1}"));
        // A field past the learned ones is not learned; a long key stops learning.
        learn(&mut keys, 5, b"x", false, None);
        assert_eq!(keys.len(), 3);
        learn(&mut keys, 1, &[b'k'; 40], false, None);
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn string_cache_shares_and_stays_bounded() {
        let mut cache = StringCache::default();
        // Short strings are inline and bypass the cache.
        let (Some(Value::String(a)), Some(Value::String(b))) = (cache.value(b"d42"), cache.value(b"d42")) else {
            panic!("not strings")
        };
        assert!(a.is_inline() && b.is_inline() && a == b);
        assert!(cache.table.is_empty());
        let fifteen = "f".repeat(Str::INLINE_CAP);
        assert!(matches!(cache.value(fifteen.as_bytes()), Some(Value::String(s)) if s.is_inline() && *s == *fifteen));
        assert_eq!(cache.value(b"\xff"), None);
        assert_eq!(cache.value("\u{e9}t\u{e9}".as_bytes()), Some(Value::str("\u{e9}t\u{e9}")));
        assert!(cache.table.is_empty());
        // Longer ones are shared.
        let sixteen = "s".repeat(Str::INLINE_CAP + 1);
        let (Some(Value::String(a)), Some(Value::String(b))) =
            (cache.value(sixteen.as_bytes()), cache.value(sixteen.as_bytes()))
        else {
            panic!("not strings")
        };
        assert!(!a.is_inline() && Str::ptr_eq(&a, &b));
        for i in 0..10_000 {
            let s = format!("device-number-{i:05}");
            assert_eq!(cache.value(s.as_bytes()), Some(Value::str(&s)));
        }
        assert!(cache.table.len() <= StringCache::MAX_ENTRIES);
        assert_eq!(cache.value(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), None);
        let long = "y".repeat(60);
        assert_eq!(cache.value(long.as_bytes()), Some(Value::str(&long)));
    }
}
