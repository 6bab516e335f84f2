//! Oort operators: the value model, expression evaluation, and the timely
//! dataflow that runs a compiled rule plan.
#![deny(missing_docs)]

pub mod eval;
pub mod field_names;
pub mod functions;
pub mod inline_str;
pub mod join;
mod json_scan;
pub mod key_placement;
pub mod keyed;
pub mod out_rows;
pub mod partition;
pub mod plan_exprs;
pub mod plan_walk;
pub mod query;
pub mod render;
pub mod shared_scan;
pub mod source;
pub mod time;
pub mod value;
pub mod window;
pub mod window_kinds;
