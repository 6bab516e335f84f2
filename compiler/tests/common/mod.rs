//! Shared test support: a catalog of streams built from DDL text, with a fixed
//! table of function signatures (so the tests do not depend on the built-in
//! function catalog, which is written separately).
#![allow(dead_code)]

use std::collections::BTreeMap;

use oort_compiler::catalog::{Catalog, StreamDef};
use oort_compiler::functions::{Category, FunctionKind, FunctionSig};
use oort_compiler::parse_stream_ddl;

/// Streams by name plus the test function table.
#[derive(Default)]
pub struct TestCatalog {
    pub streams: BTreeMap<String, StreamDef>,
}

impl TestCatalog {
    /// A catalog with the streams of these DDL statements.
    pub fn from_ddl<S: AsRef<str>>(ddls: &[S]) -> Self {
        let mut c = TestCatalog::default();
        for d in ddls {
            let def = parse_stream_ddl(d.as_ref()).unwrap_or_else(|e| panic!("DDL {:?} failed: {e}", d.as_ref()));
            c.streams.insert(def.name.clone(), def);
        }
        c
    }
}

const AGG: FunctionKind = FunctionKind::Aggregate;
const ANA: FunctionKind = FunctionKind::Analytic;
const SRF: FunctionKind = FunctionKind::SetReturning;
const CTX: FunctionKind = FunctionKind::Context;
const SCA: FunctionKind = FunctionKind::Scalar;

/// (name, kind, min args, max args) of every function the tests use.
pub const FUNCS: &[(&str, FunctionKind, usize, Option<usize>)] = &[
    ("count", AGG, 1, Some(1)),
    ("sum", AGG, 1, Some(1)),
    ("avg", AGG, 1, Some(1)),
    ("min", AGG, 1, Some(1)),
    ("max", AGG, 1, Some(1)),
    ("collect", AGG, 1, Some(1)),
    ("deduplicate", AGG, 2, Some(2)),
    ("last_value", AGG, 2, Some(2)),
    ("stddev", AGG, 1, Some(1)),
    ("merge_agg", AGG, 1, Some(1)),
    ("lag", ANA, 1, Some(4)),
    ("latest", ANA, 1, Some(2)),
    ("changed_col", ANA, 2, Some(2)),
    ("changed_cols", ANA, 3, None),
    ("had_changed", ANA, 2, None),
    ("acc_sum", ANA, 1, Some(1)),
    ("acc_min", ANA, 1, Some(1)),
    ("acc_max", ANA, 1, Some(1)),
    ("acc_count", ANA, 1, Some(1)),
    ("acc_avg", ANA, 1, Some(1)),
    ("unnest", SRF, 1, Some(1)),
    ("window_start", CTX, 0, Some(0)),
    ("window_end", CTX, 0, Some(0)),
    ("event_time", CTX, 0, Some(0)),
    ("row_number", CTX, 0, Some(0)),
    ("last_hit_count", CTX, 0, Some(0)),
    ("last_hit_time", CTX, 0, Some(0)),
    ("last_agg_hit_count", CTX, 0, Some(0)),
    ("last_agg_hit_time", CTX, 0, Some(0)),
    ("upper", SCA, 1, Some(1)),
    ("lower", SCA, 1, Some(1)),
    ("abs", SCA, 1, Some(1)),
    ("round", SCA, 1, Some(2)),
    ("concat", SCA, 1, None),
    ("coalesce", SCA, 1, None),
    ("length", SCA, 1, Some(1)),
    ("json_path_query", SCA, 2, Some(2)),
    ("cardinality", SCA, 1, Some(1)),
];

pub fn sig(name: &str) -> Option<FunctionSig> {
    let lname = name.to_ascii_lowercase();
    FUNCS.iter().find(|(n, ..)| *n == lname).map(|&(n, kind, min_args, max_args)| FunctionSig {
        name: n.to_string(),
        category: Category::Other,
        kind,
        min_args,
        max_args,
        implemented: true,
    })
}

impl Catalog for TestCatalog {
    fn stream(&self, name: &str) -> Option<&StreamDef> {
        self.streams.stream(name)
    }

    fn function(&self, name: &str) -> Option<FunctionSig> {
        sig(name)
    }
}
