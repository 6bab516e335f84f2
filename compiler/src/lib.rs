//! Oort SQL compiler: eKuiper's SQL dialect to plain-data plans.
//!
//! Pipeline: [`lexer`] (tokens with positions) → [`parser`] (an unbound
//! [`ast`]) → [`bind`] (names, functions, aliases resolved against a
//! [`catalog::Catalog`]) → [`plan::RulePlan`], rendered as text by [`explain`].
#![deny(missing_docs)]

pub mod ast;
pub mod bind;
pub mod catalog;
pub mod error;
pub mod explain;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod plan;

pub use ast::Statement;
pub use bind::compile_rule;
pub use error::{CompileError, Result};
pub use explain::{ekuiper_expr_text, explain};
pub use parser::{parse_statement, parse_stream_ddl};
