//! [`Str`], the text of a [`crate::value::Value::String`]: two words, holding
//! either up to [`Str::INLINE_CAP`] bytes (15 on 64-bit targets) inline, or a
//! shared `Arc<str>` for longer text.
//!
//! Short strings (device ids, states, units) are the common case in a stream
//! and are copied, compared and dropped without touching the heap: no
//! allocation, and above all no reference count, whose cache line would
//! otherwise move between the cores of the workers that clone and drop a row.
//! Longer strings keep the old behaviour (one shared allocation).
//!
//! Layout: a `repr(C)` union of the `Arc<str>`'s data pointer and length, and
//! of the inline bytes followed (in memory order; little-endian targets) by one
//! tag byte that overlaps the most significant byte of the length word. The
//! length of an `Arc<str>` never exceeds `isize::MAX`, so the high bit of that
//! byte is clear for the heap form; the inline form sets it and keeps its
//! length in the low bits. Every constructor stores text that fits inline
//! inline, so equal strings have equal forms, but every comparison works on
//! the text and does not rely on it.

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::{ManuallyDrop, size_of};
use std::ops::Deref;
use std::sync::Arc;

/// Text stored inline when it fits, else in a shared `Arc<str>`. Derefs to
/// `str`; compares, orders and hashes exactly as `str` does.
pub struct Str {
    repr: Repr,
}

/// The two forms; which one is live is told by [`Inline::tag`]'s high bit.
#[repr(C)]
#[derive(Clone, Copy)]
union Repr {
    heap: Heap,
    inline: Inline,
}

/// An `Arc<str>` taken apart by `Arc::into_raw`: the data pointer and the
/// length in bytes (at most `isize::MAX`, so its high bit is clear).
#[derive(Clone, Copy)]
#[repr(C)]
struct Heap {
    ptr: *const u8,
    len: usize,
}

// The inline tag is the last byte of the two words: the length word's most
// significant byte only on little-endian targets.
#[cfg(not(target_endian = "little"))]
compile_error!("Str's layout assumes a little-endian target");

/// Inline text: `bytes[..tag & LEN_MASK]` is UTF-8, the rest zero; `tag`
/// has [`INLINE_BIT`] set and is the most significant byte of `Heap::len`.
#[derive(Clone, Copy)]
#[repr(C)]
struct Inline {
    bytes: [u8; Str::INLINE_CAP],
    tag: u8,
}

/// The tag bit of the inline form (the length word's high bit).
const INLINE_BIT: u8 = 0x80;
/// The length bits of the inline tag.
const LEN_MASK: u8 = 0x7f;

const _: () = {
    assert!(size_of::<Str>() == 2 * size_of::<usize>());
    assert!(size_of::<Inline>() == size_of::<Heap>());
    assert!(Str::INLINE_CAP <= LEN_MASK as usize);
};

// SAFETY: a `Str` is either plain bytes or an owned strong reference of an
// `Arc<str>`, and `Arc<str>` is `Send` and `Sync`.
unsafe impl Send for Str {}
// SAFETY: as for `Send`; `&Str` only gives out `&str`.
unsafe impl Sync for Str {}

impl Str {
    /// The longest text (in bytes) stored inline.
    pub const INLINE_CAP: usize = 2 * size_of::<usize>() - 1;

    /// The empty string.
    pub const fn new() -> Str {
        Str { repr: Repr { inline: Inline { bytes: [0; Str::INLINE_CAP], tag: INLINE_BIT } } }
    }

    /// Inline text from `bytes` when they fit and are UTF-8; `None` when
    /// they are longer than [`Str::INLINE_CAP`] or not UTF-8.
    #[inline]
    pub fn inline_from_utf8(bytes: &[u8]) -> Option<Str> {
        let n = bytes.len();
        if n > Str::INLINE_CAP {
            return None;
        }
        // Copied with two overlapping fixed-size copies (no `memcpy` call for
        // a variable length).
        let mut buf = [0u8; Str::INLINE_CAP];
        const W: usize = size_of::<usize>();
        if n >= W {
            buf[..W].copy_from_slice(&bytes[..W]);
            buf[n - W..n].copy_from_slice(&bytes[n - W..]);
        } else if n >= 4 {
            buf[..4].copy_from_slice(&bytes[..4]);
            buf[n - 4..n].copy_from_slice(&bytes[n - 4..]);
        } else if n > 0 {
            buf[0] = bytes[0];
            buf[n / 2] = bytes[n / 2];
            buf[n - 1] = bytes[n - 1];
        }
        // ASCII (the usual case) needs no further check.
        if buf.iter().fold(0, |acc, &b| acc | b) >= 0x80 {
            std::str::from_utf8(bytes).ok()?;
        }
        Some(Str { repr: Repr { inline: Inline { bytes: buf, tag: INLINE_BIT | n as u8 } } })
    }

    /// Is the text stored inline (no allocation behind it)?
    #[inline]
    pub fn is_inline(&self) -> bool {
        // SAFETY: both forms initialise every byte, and `tag` (a `u8`, any
        // bit pattern valid) overlaps the length word of the heap form.
        unsafe { self.repr.inline.tag & INLINE_BIT != 0 }
    }

    /// The inline text as two little-endian words, zero past its end (the
    /// second word's top byte, the tag, cleared), and its length; `None` for
    /// the heap form. Hashing short keys reads these instead of the bytes.
    #[inline]
    pub fn inline_words(&self) -> Option<(u64, u64, usize)> {
        if !self.is_inline() {
            return None;
        }
        // SAFETY: the inline form is live (checked above); its two words are
        // plain bytes.
        let inline = unsafe { &self.repr.inline };
        let mut lo = [0u8; 8];
        lo.copy_from_slice(inline.bytes.get(..8)?);
        let rest = inline.bytes.get(8..)?;
        let mut hi = [0u8; 8];
        hi.get_mut(..rest.len())?.copy_from_slice(rest);
        Some((u64::from_le_bytes(lo), u64::from_le_bytes(hi), usize::from(inline.tag & LEN_MASK)))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        if self.is_inline() {
            // SAFETY: the inline form is live (checked above).
            let inline = unsafe { &self.repr.inline };
            let len = usize::from(inline.tag & LEN_MASK);
            // SAFETY: constructors store `len <= INLINE_CAP` bytes of UTF-8.
            unsafe { std::str::from_utf8_unchecked(inline.bytes.get_unchecked(..len)) }
        } else {
            // SAFETY: the heap form is live: `ptr`/`len` come from
            // `Arc::into_raw` of an `Arc<str>` this `Str` holds a strong
            // reference of, so they point to `len` bytes of UTF-8 that live
            // at least as long as `self`.
            unsafe {
                let heap = self.repr.heap;
                std::str::from_utf8_unchecked(std::slice::from_raw_parts(heap.ptr, heap.len))
            }
        }
    }

    /// Do `a` and `b` share one allocation? (Always false for inline text.)
    pub fn ptr_eq(a: &Str, b: &Str) -> bool {
        match (a.heap_arc(), b.heap_arc()) {
            (Some(x), Some(y)) => Arc::ptr_eq(&x, &y),
            _ => false,
        }
    }

    /// A view of the `Arc<str>` of the heap form, without touching its
    /// count; `None` for inline text.
    #[inline]
    fn heap_arc(&self) -> Option<ManuallyDrop<Arc<str>>> {
        if self.is_inline() {
            return None;
        }
        // SAFETY: the heap form is live, so `ptr`/`len` are those
        // `Arc::into_raw` returned for an `Arc<str>` whose strong reference
        // `self` owns; `ManuallyDrop` keeps that reference owned by `self`.
        unsafe {
            let heap = self.repr.heap;
            let raw = std::ptr::slice_from_raw_parts(heap.ptr, heap.len) as *const str;
            Some(ManuallyDrop::new(Arc::from_raw(raw)))
        }
    }

    /// Takes ownership of one strong reference of `arc` (text longer than
    /// [`Str::INLINE_CAP`]).
    fn from_heap(arc: Arc<str>) -> Str {
        let len = arc.len();
        let ptr = Arc::into_raw(arc) as *const u8;
        // `len <= isize::MAX` (an allocation's size), so the inline bit is clear.
        Str { repr: Repr { heap: Heap { ptr, len } } }
    }
}

impl Drop for Str {
    fn drop(&mut self) {
        if let Some(arc) = self.heap_arc() {
            // Gives back the strong reference `self` owns.
            drop(ManuallyDrop::into_inner(arc));
        }
    }
}

impl Clone for Str {
    #[inline]
    fn clone(&self) -> Str {
        match self.heap_arc() {
            None => Str { repr: self.repr },
            Some(arc) => Str::from_heap(Arc::clone(&arc)),
        }
    }
}

impl Default for Str {
    fn default() -> Str {
        Str::new()
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Str {
    #[inline]
    fn from(s: &str) -> Str {
        Str::inline_from_utf8(s.as_bytes()).unwrap_or_else(|| Str::from_heap(Arc::from(s)))
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::inline_from_utf8(s.as_bytes()).unwrap_or_else(|| Str::from_heap(Arc::from(s)))
    }
}

impl From<Arc<str>> for Str {
    /// Short text is copied inline (and `s` dropped); longer text shares `s`.
    fn from(s: Arc<str>) -> Str {
        Str::inline_from_utf8(s.as_bytes()).unwrap_or_else(|| Str::from_heap(s))
    }
}

impl From<&Str> for Arc<str> {
    fn from(s: &Str) -> Arc<str> {
        match s.heap_arc() {
            Some(arc) => Arc::clone(&arc),
            None => Arc::from(s.as_str()),
        }
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Str) -> bool {
        if self.is_inline() && other.is_inline() {
            // SAFETY: both inline forms are live (checked above).
            let (a, b) = unsafe { (&self.repr.inline, &other.repr.inline) };
            // The tag holds the length and the bytes past it are zero.
            return a.tag == b.tag && a.bytes == b.bytes;
        }
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    /// Hashes as the `str` does (so `Borrow<str>` lookups work).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Str, D::Error> {
        struct StrVisitor;
        impl Visitor<'_> for StrVisitor {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Str, E> {
                Ok(Str::from(v))
            }
            fn visit_string<E>(self, v: String) -> Result<Str, E> {
                Ok(Str::from(v))
            }
        }
        d.deserialize_str(StrVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::hash::BuildHasher;

    fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
        let state = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        state.hash_one(v)
    }

    /// A heap `Str` of any text, even short (constructors would inline it).
    fn forced_heap(s: &str) -> Str {
        Str::from_heap(Arc::from(s))
    }

    #[test]
    fn inline_heap_boundary() {
        let cap = Str::INLINE_CAP;
        for (text, inline) in [
            (String::new(), true),
            ("a".to_string(), true),
            ("d1234".to_string(), true),
            ("x".repeat(cap - 1), true),
            ("x".repeat(cap), true),
            ("x".repeat(cap + 1), false),
            ("x".repeat(100), false),
            // Multi-byte UTF-8: é is 2 bytes, 😀 4 bytes.
            ("é".repeat(cap / 2), true),
            ("é".repeat(cap / 2 + 1), false),
            (format!("{}😀", "a".repeat(cap - 4)), true),
            (format!("{}😀", "a".repeat(cap - 3)), false),
            ("中文".to_string(), true),
        ] {
            for s in [Str::from(text.as_str()), Str::from(text.clone()), Str::from(Arc::<str>::from(text.as_str()))] {
                assert_eq!(s.is_inline(), inline, "{text:?}");
                assert_eq!(s.as_str(), text);
                assert_eq!(&*s, text.as_str());
                assert_eq!(s.len(), text.len());
                assert_eq!(s.clone().as_str(), text);
                assert_eq!(format!("{s}"), text);
                assert_eq!(format!("{s:?}"), format!("{text:?}"));
            }
        }
        assert_eq!(Str::default().as_str(), "");
        assert!(Str::default().is_inline());
        assert_eq!(Str::new(), Str::from(""));
    }

    #[test]
    fn inline_from_utf8_checks() {
        assert_eq!(Str::inline_from_utf8(b"abc").map(|s| s.to_string()), Some("abc".into()));
        assert_eq!(Str::inline_from_utf8("é".as_bytes()).map(|s| s.to_string()), Some("é".into()));
        assert!(Str::inline_from_utf8(b"\xff").is_none());
        assert!(Str::inline_from_utf8(b"ab\xc3").is_none());
        assert!(Str::inline_from_utf8(&[b'a'; 16]).is_none());
        assert!(Str::inline_from_utf8(&[b'a'; 15]).is_some());
    }

    #[test]
    fn arc_counts_follow_clones_and_drops() {
        let arc: Arc<str> = Arc::from("a string too long to be stored inline");
        let s = Str::from(arc.clone());
        assert!(!s.is_inline());
        assert_eq!(Arc::strong_count(&arc), 2);
        let t = s.clone();
        assert_eq!(Arc::strong_count(&arc), 3);
        assert!(Str::ptr_eq(&s, &t));
        let back: Arc<str> = Arc::from(&t);
        assert!(Arc::ptr_eq(&back, &arc));
        assert_eq!(Arc::strong_count(&arc), 4);
        drop(back);
        drop(s);
        assert_eq!(Arc::strong_count(&arc), 2);
        drop(t);
        assert_eq!(Arc::strong_count(&arc), 1);
        // Short text is copied inline; the Arc is given back.
        let short: Arc<str> = Arc::from("d1");
        let s = Str::from(short.clone());
        assert!(s.is_inline());
        assert_eq!(Arc::strong_count(&short), 1);
        assert!(!Str::ptr_eq(&s, &s.clone()));
        // A forced heap form of short text counts too.
        let h = forced_heap("d1");
        let h2 = h.clone();
        assert!(Str::ptr_eq(&h, &h2));
    }

    #[test]
    fn inline_and_heap_forms_agree() {
        let texts =
            ["", "a", "a\0", "\0", "b", "d1", "d10", "d2", "é", "abcdefghijklmno", "abcdefghijklmnop", "zz", "A"];
        for x in texts {
            let (xi, xh) = (Str::from(x), forced_heap(x));
            assert_eq!(xi, xh, "{x:?}");
            assert_eq!(xh, xi, "{x:?}");
            assert_eq!(xi.cmp(&xh), Ordering::Equal);
            assert_eq!(hash_of(&xi), hash_of(&xh));
            assert_eq!(hash_of(&xi), hash_of(x));
            assert_eq!(xi, *x);
            for y in texts {
                let (yi, yh) = (Str::from(y), forced_heap(y));
                for (a, b) in [(&xi, &yi), (&xi, &yh), (&xh, &yi), (&xh, &yh)] {
                    assert_eq!(a == b, x == y, "{x:?} {y:?}");
                    assert_eq!(a.cmp(b), x.cmp(y), "{x:?} {y:?}");
                    assert_eq!(a.partial_cmp(b), x.partial_cmp(y), "{x:?} {y:?}");
                }
            }
        }
        // Borrow<str>: lookups by &str find both forms.
        let mut m = HashMap::new();
        m.insert(Str::from("d1"), 1);
        m.insert(forced_heap("d2"), 2);
        m.insert(Str::from("a key longer than fifteen"), 3);
        assert_eq!(m.get("d1"), Some(&1));
        assert_eq!(m.get("d2"), Some(&2));
        assert_eq!(m.get("a key longer than fifteen"), Some(&3));
        assert_eq!(m.get(&Str::from("d2")), Some(&2));
    }

    #[test]
    fn serde_as_a_string() {
        for text in ["", "d1", "é😀", "a string too long to be stored inline"] {
            let s = Str::from(text);
            assert_eq!(serde_json::to_string(&s).unwrap(), serde_json::to_string(text).unwrap());
            let back: Str = serde_json::from_str(&serde_json::to_string(text).unwrap()).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.is_inline(), text.len() <= Str::INLINE_CAP);
            // An escaped string (serde_json hands over an owned String).
            let escaped: Str = serde_json::from_str(&format!("\"\\u0041{text}\"")).unwrap();
            assert_eq!(escaped.as_str(), format!("A{text}"));
        }
        assert!(serde_json::from_str::<Str>("3").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size_of::<Str>(), 2 * size_of::<usize>());
    }
}
