//! The `file` connector: a source that reads JSON lines (or delimited lines)
//! from a file, and a sink that appends results as JSON lines.

pub mod sink;
pub mod source;
