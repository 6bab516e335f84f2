//! Oort SQL compiler: eKuiper's SQL dialect to plain-data plans.
#![deny(missing_docs)]

pub mod catalog;
pub mod error;
pub mod functions;
pub mod plan;

pub use error::{CompileError, Result};
