//! Oort: a lightweight SQL stream-processing engine for IoT and edge data.
//!
//! This crate is the server: the runtime (one timely worker pool for all
//! rules), connectors, the rule manager, the conformance checker, the REST
//! API and the CLI. SQL compiles in `oort-compiler`; dataflow operators live
//! in `oort-operators`.

pub mod api;
pub mod check;
pub mod cluster;
pub mod config;
pub mod connectors;
pub mod keyed_state;
pub mod plugins;
pub mod rule;
pub mod runtime;
pub mod server;
