//! Oort operators: the value model, expression evaluation, and the timely
//! dataflow that runs a compiled rule plan.
#![deny(missing_docs)]

pub mod value;
