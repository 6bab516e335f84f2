//! The `file` connector: a source that reads JSON lines (or delimited lines)
//! from a file, and a sink that writes results as JSON lines, one JSON
//! array or delimited (CSV) lines, optionally rolling to new files.

pub mod sink;
pub mod source;
