//! Compile errors: one enum for the whole crate, each variant saying what was
//! wrong and where (a byte-accurate line/column in the SQL, or the object at
//! fault), so the REST API and the CLI can show users exactly what to fix.

use std::fmt;

/// A position in the SQL text (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Pos {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Everything that can go wrong turning SQL text into a plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    /// The text could not be tokenized or parsed.
    #[error("syntax error at {pos}: {message}")]
    Syntax {
        /// Where the parser stopped.
        pos: Pos,
        /// What was found and what was expected.
        message: String,
    },
    /// A stream or table named in the SQL is not defined.
    #[error("stream {name} not found")]
    UnknownStream {
        /// The name as written.
        name: String,
    },
    /// A column that no input stream provides.
    #[error("unknown field {name} at {pos}")]
    UnknownField {
        /// The column as written.
        name: String,
        /// Where it is referenced.
        pos: Pos,
    },
    /// A function that is not built in and not installed as a plugin.
    #[error("function {name} not found (at {pos})")]
    UnknownFunction {
        /// The function name as written.
        name: String,
        /// Where it is called.
        pos: Pos,
    },
    /// A function called with the wrong number or kind of arguments.
    #[error("invalid argument for func {func}: {message}")]
    BadArgument {
        /// The function.
        func: String,
        /// Which argument and what was expected.
        message: String,
    },
    /// A DDL statement that is well-formed but invalid (bad option, bad type).
    #[error("invalid {object}: {message}")]
    InvalidDdl {
        /// The object at fault (stream name, option name, field name).
        object: String,
        /// What is wrong.
        message: String,
    },
    /// A query that parses but cannot be planned (e.g. join without window).
    #[error("{0}")]
    Plan(String),
}

/// The crate's result alias.
pub type Result<T, E = CompileError> = std::result::Result<T, E>;
