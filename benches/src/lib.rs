//! `oort-bench`: the standard IoT workload (WORKLOAD.md), the harness that
//! runs its queries through the engine with each feed and beside a
//! reference floor, and the report it writes. The binary
//! (`src/bin/oort-bench.rs`; not `src/main.rs`, which the root package would
//! pick up as a bench target of its own) is the command line; the criterion
//! micro-benchmarks live in `benches/`.

pub mod checksum;
pub mod engine;
pub mod floor;
pub mod many_rules;
pub mod mqtt;
pub mod queries;
pub mod report;
pub mod rounds;
pub mod server;
pub mod sys;
pub mod workload;
