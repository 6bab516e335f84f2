//! Hashing functions: `md5`, `sha1`, `sha256`, `sha384`, `sha512`, each the
//! lower-case hex digest of the argument's text (bytes are hashed as they are);
//! null gives null.

use super::{R, ScalarFn, arg, to_string_always};
use crate::value::Value;
use md5::Digest;

pub(super) const FUNCTIONS: &[(&str, ScalarFn)] = &[
    ("md5", |a| hash::<md5::Md5>(a)),
    ("sha1", |a| hash::<sha1::Sha1>(a)),
    ("sha256", |a| hash::<sha2::Sha256>(a)),
    ("sha384", |a| hash::<sha2::Sha384>(a)),
    ("sha512", |a| hash::<sha2::Sha512>(a)),
];

fn hash<D: Digest>(a: &[Value]) -> R {
    let v = arg(a, 0);
    let digest = match v {
        Value::Null => return Ok(Value::Null),
        Value::Bytes(b) => D::digest(b),
        other => D::digest(to_string_always(other).as_bytes()),
    };
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    Ok(Value::from(hex))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Want::*, run, s};
    use crate::value::Value;

    #[test]
    fn hashing_functions() {
        run(vec![
            ("md5", vec![s("The quick brown fox jumps over the lazy dog")], V(s("9e107d9d372bb6826bd81d3542a419d6"))),
            (
                "sha1",
                vec![s("The quick brown fox jumps over the lazy dog")],
                V(s("2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")),
            ),
            ("sha256", vec![s("abc")], V(s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))),
            (
                "sha384",
                vec![s("abc")],
                V(s(
                    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
                )),
            ),
            (
                "sha512",
                vec![s("abc")],
                V(s(
                    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
                )),
            ),
            ("md5", vec![Value::Null], V(Value::Null)),
        ]);
    }
}
