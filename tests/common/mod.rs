//! Helpers shared by the end-to-end test crates (each `tests/*.rs` that
//! needs them says `mod common;`): a free loopback port and a fresh
//! temporary directory.
#![allow(dead_code)]

use std::path::PathBuf;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// An empty directory `oort-<name>-<pid>` under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oort-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
