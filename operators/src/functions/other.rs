//! Other functions: `coalesce`, `isnull`, `newuuid`. (`delay` and
//! `get_keyed_state` need a sleeping executor and an external state store
//! and are catalogued as not implemented.)

use super::{R, ScalarFn, arg};
use crate::value::Value;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("coalesce", |a| Ok(a.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null))),
    ("isnull", |a| Ok(Value::Bool(arg(a, 0).is_null()))),
    ("newuuid", newuuid),
];

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
}
