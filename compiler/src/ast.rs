//! The parsed, unbound form of eKuiper statements.
//!
//! The parser produces these trees; nothing in them is resolved yet: columns are
//! names as written (possibly qualified), functions are names plus arguments,
//! and every node keeps the position of its first token so the binder can report
//! where an unknown field or function is. Window functions in `GROUP BY` stay
//! ordinary calls here; the binder recognises them. Each call gets a parse-site
//! id (`CallExpr::site`) so that copies made by alias inlining can be recognised
//! as the same call.

use crate::catalog::{StreamDef, StreamKind};
use crate::error::Pos;
use crate::plan::{BinaryOp, JoinKind, Literal, UnaryOp};

/// A parsed expression with the position of its first token.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it starts.
    pub pos: Pos,
}

/// Expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Literal(Literal),
    /// `col` or `qualifier.col` (the qualifier may turn out to be a field, not a stream).
    Ident {
        /// Stream name or alias, if written.
        qualifier: Option<String>,
        /// Column name.
        name: String,
    },
    /// `*` or `stream.*` (select item or function argument).
    Wildcard {
        /// Stream name or alias, if written.
        qualifier: Option<String>,
    },
    /// `op expr`.
    Unary {
        /// Operator.
        op: UnaryOp,
        /// Operand.
        expr: Box<Expr>,
    },
    /// `left op right`.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `(expr)`, kept so messages can print what was written.
    Paren(Box<Expr>),
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`.
    Case {
        /// Operand of the simple form.
        operand: Option<Box<Expr>>,
        /// `(when, then)` pairs.
        whens: Vec<(Expr, Expr)>,
        /// `ELSE`.
        else_: Option<Box<Expr>>,
    },
    /// `expr [NOT] IN (list)`.
    In {
        /// Tested value.
        expr: Box<Expr>,
        /// Candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `expr [NOT] BETWEEN low AND high`.
    Between {
        /// Tested value.
        expr: Box<Expr>,
        /// Lower bound.
        low: Box<Expr>,
        /// Upper bound.
        high: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `expr [NOT] LIKE pattern`.
    Like {
        /// Tested value.
        expr: Box<Expr>,
        /// Pattern.
        pattern: Box<Expr>,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `expr[index]`.
    Index {
        /// Array.
        expr: Box<Expr>,
        /// Index.
        index: Box<Expr>,
    },
    /// `expr[start:end]`.
    Slice {
        /// Array or string.
        expr: Box<Expr>,
        /// Start (inclusive).
        start: Option<Box<Expr>>,
        /// End (exclusive).
        end: Option<Box<Expr>>,
    },
    /// `expr->name`.
    Field {
        /// Object.
        expr: Box<Expr>,
        /// Field name.
        name: String,
    },
    /// A function call (including window functions and `meta(…)`).
    Call(CallExpr),
}

/// A function call as written.
#[derive(Debug, Clone, PartialEq)]
pub struct CallExpr {
    /// The name as written.
    pub name: String,
    /// Arguments.
    pub args: Vec<Expr>,
    /// Parse-site id, unique per call in the statement.
    pub site: usize,
    /// `OVER (PARTITION BY …)`.
    pub partition_by: Vec<Expr>,
    /// `OVER (WHEN …)`.
    pub when: Option<Box<Expr>>,
    /// Whether an `OVER (…)` clause was written at all.
    pub over: bool,
    /// `FILTER (WHERE …)`.
    pub filter: Option<Box<Expr>>,
}

/// One item of a SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    /// The expression (`*` is [`ExprKind::Wildcard`]).
    pub expr: Expr,
    /// `AS alias`.
    pub alias: Option<String>,
    /// `INVISIBLE`.
    pub invisible: bool,
}

/// A source in FROM or JOIN.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRef {
    /// Stream or table name.
    pub name: String,
    /// `AS alias`.
    pub alias: Option<String>,
    /// Where the name is.
    pub pos: Pos,
}

/// A `JOIN` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinClause {
    /// Kind.
    pub kind: JoinKind,
    /// Joined source.
    pub source: SourceRef,
    /// `ON` condition.
    pub on: Option<Expr>,
}

/// One `ORDER BY` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// Sort expression.
    pub expr: Expr,
    /// `DESC`.
    pub descending: bool,
}

/// A parsed `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectStmt {
    /// SELECT list.
    pub items: Vec<SelectItem>,
    /// FROM source.
    pub from: SourceRef,
    /// JOINs in order.
    pub joins: Vec<JoinClause>,
    /// WHERE.
    pub where_: Option<Expr>,
    /// GROUP BY items (window calls included).
    pub group_by: Vec<Expr>,
    /// HAVING.
    pub having: Option<Expr>,
    /// ORDER BY.
    pub order_by: Vec<OrderItem>,
    /// Number of call sites (`CallExpr::site` is below it).
    pub call_sites: usize,
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE STREAM …` / `CREATE TABLE …`.
    CreateStream(Box<StreamDef>),
    /// A query.
    Select(Box<SelectStmt>),
    /// `DROP STREAM name` / `DROP TABLE name`.
    Drop {
        /// Stream or table.
        kind: StreamKind,
        /// Name.
        name: String,
    },
    /// `DESCRIBE STREAM name` / `DESCRIBE TABLE name`.
    Describe {
        /// Stream or table.
        kind: StreamKind,
        /// Name.
        name: String,
    },
    /// `EXPLAIN STREAM name` / `EXPLAIN TABLE name`.
    Explain {
        /// Stream or table.
        kind: StreamKind,
        /// Name.
        name: String,
    },
    /// `SHOW STREAMS` / `SHOW TABLES`.
    Show {
        /// Streams or tables.
        kind: StreamKind,
    },
}
