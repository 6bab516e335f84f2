//! Other functions: `coalesce`, `isnull`, `newuuid`, `delay` and
//! `get_keyed_state` (in [`super::keyed_state`]).
//!
//! `delay(ms, x)` returns `x` and asks for the row's result to reach the
//! sinks no earlier than `ms` after it is produced. eKuiper sleeps in its
//! project operator; here the worker never waits: the call records the
//! delay for the row being evaluated (a per-thread mark, the largest delay
//! of the row wins), the rule's query takes it with [`take_delay`] when it
//! emits the row's result (as an `Emission::Delayed`), and the sink driver
//! holds the result until it is due, keeping the rule's order.

use super::{R, ScalarFn, arg};
use crate::value::Value;
use std::cell::Cell;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("coalesce", |a| Ok(a.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null))),
    ("delay", delay),
    ("get_keyed_state", super::keyed_state::get_keyed_state),
    ("isnull", |a| Ok(Value::Bool(arg(a, 0).is_null()))),
    ("newuuid", newuuid),
];

thread_local! {
    /// The delay asked for by `delay()` calls since the last [`take_delay`].
    static PENDING_DELAY_MS: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The delay (ms) that `delay()` calls on this thread asked for since the
/// last call, clearing it. Call it before evaluating a row (to forget a
/// row that was filtered out) and after, to read the row's delay.
pub fn take_delay() -> Option<u64> {
    PENDING_DELAY_MS.with(Cell::take)
}

fn delay(a: &[Value]) -> R {
    let ms = match arg(a, 0) {
        Value::Int(i) if *i >= 0 => *i as u64,
        other => return Err(format!("delay time must be a non-negative integer, got {}", other.go_describe())),
    };
    PENDING_DELAY_MS.with(|d| d.set(Some(d.get().map_or(ms, |prev| prev.max(ms)))));
    Ok(arg(a, 1).clone())
}

/// A random (version 4) UUID in the canonical 8-4-4-4-12 form.
fn newuuid(_: &[Value]) -> R {
    let mut b = [0u8; 16];
    for x in b.iter_mut() {
        *x = fastrand::u8(..);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(Value::from(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, b, i, run, s};
    use crate::value::Value;

    #[test]
    fn other_functions() {
        run(vec![
            ("coalesce", vec![Value::Null, i(2), i(3)], V(i(2))),
            ("coalesce", vec![Value::Null], V(Value::Null)),
            ("isnull", vec![Value::Null], V(b(true))),
            ("isnull", vec![s("")], V(b(false))),
        ]);
        let u = super::newuuid(&[]).expect("test");
        let Value::String(u) = u else { panic!("not a string") };
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(super::newuuid(&[]).expect("test"), Value::String(u));
    }

    #[test]
    fn delay_returns_its_value_and_marks_the_largest_delay() {
        assert_eq!(super::take_delay(), None);
        run(vec![("delay", vec![i(200), s("x")], V(s("x")))]);
        assert_eq!(super::take_delay(), Some(200));
        assert_eq!(super::take_delay(), None);
        super::delay(&[i(5), i(1)]).expect("test");
        super::delay(&[i(50), i(1)]).expect("test");
        super::delay(&[i(7), i(1)]).expect("test");
        assert_eq!(super::take_delay(), Some(50));
        assert!(super::delay(&[i(-1), i(1)]).is_err());
        assert!(super::delay(&[s("1"), i(1)]).is_err());
        assert_eq!(super::take_delay(), None);
    }

    #[test]
    fn keyed_state_without_a_store_gives_the_default() {
        run(vec![
            ("get_keyed_state", vec![s("nope"), s("bigint"), i(7)], V(i(7))),
            ("get_keyed_state", vec![i(1), s("bigint"), i(7)], E("key int64(1) is not a string")),
        ]);
    }
}
