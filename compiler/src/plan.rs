//! Rule plans as plain data.
//!
//! A rule's SQL compiles into a [`RulePlan`]: the input streams it reads (with
//! the fields each must decode, as slot indexes), and a [`LogicalPlan`] tree in
//! eKuiper's evaluation order:
//!
//! ```text
//! Scan ─► [Join …] ─► Window ─► Filter(WHERE) ─► Aggregate(GROUP BY) ─► Filter(HAVING) ─► Sort ─► Project
//!                      └─ for non-window rules, rows flow one by one: Scan ─► Filter ─► Project
//! ```
//!
//! Nothing here runs anything: `oort-operators` renders this into a timely
//! dataflow. Every column reference is already resolved to a *global slot*:
//! source `i`'s fields occupy slots `offset_i .. offset_i + len_i` of a row,
//! and a joined row is the concatenation of its sources' slots in source order.

use crate::catalog::{FieldType, StreamDef};
use serde::{Deserialize, Serialize};

/// A literal in the SQL text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    /// `null` / `nil`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer literal (no decimal point, no exponent).
    Int(i64),
    /// A float literal (`3.0`, `1e3`).
    Float(f64),
    /// `'text'` or `"text"` (eKuiper reads both as string literals).
    String(String),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `NOT x`.
    Not,
    /// `-x`.
    Neg,
    /// `+x`.
    Plus,
}

/// Binary operators, with eKuiper's semantics (int/float arithmetic, bitwise on ints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `=`
    Eq,
    /// `!=` or `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
}

impl BinaryOp {
    /// The operator as written in SQL (also used in eKuiper-style error messages).
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        }
    }
}

/// A resolved column: the slot it lives in, and its name for messages/output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnRef {
    /// Index into [`RulePlan::sources`].
    pub source: usize,
    /// Global slot index in the row.
    pub slot: usize,
    /// Field name as declared in the stream (output name of `SELECT col`).
    pub name: String,
}

/// A scalar expression, fully bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScalarExpr {
    /// A constant.
    Literal(Literal),
    /// A field of an input row.
    Column(ColumnRef),
    /// `*` (or `stream.*`) used as a function argument: `count(*)`, `collect(*)`.
    /// Evaluates to the whole row as an object (all sources, or just `source`).
    Wildcard {
        /// Restrict to one source.
        source: Option<usize>,
    },
    /// `meta(key)`: a metadata value of the row (`topic`, ...); `meta(*)` is key `*`.
    Meta {
        /// Metadata key.
        key: String,
    },
    /// `op expr`.
    Unary {
        /// Operator.
        op: UnaryOp,
        /// Operand.
        expr: Box<ScalarExpr>,
    },
    /// `left op right`.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<ScalarExpr>,
        /// Right operand.
        right: Box<ScalarExpr>,
    },
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`.
    Case {
        /// `CASE x WHEN v …` form; `None` for `CASE WHEN cond …`.
        operand: Option<Box<ScalarExpr>>,
        /// `(when, then)` pairs in order.
        whens: Vec<(ScalarExpr, ScalarExpr)>,
        /// `ELSE`; null when absent.
        else_: Option<Box<ScalarExpr>>,
    },
    /// `expr [NOT] IN (list…)`.
    In {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// Candidates.
        list: Vec<ScalarExpr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `expr [NOT] BETWEEN low AND high`.
    Between {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// Lower bound (inclusive).
        low: Box<ScalarExpr>,
        /// Upper bound (inclusive).
        high: Box<ScalarExpr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `expr [NOT] LIKE pattern` (`%`, `_`, `\` escape).
    Like {
        /// Tested value.
        expr: Box<ScalarExpr>,
        /// Pattern.
        pattern: Box<ScalarExpr>,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `expr[index]` (negative counts from the end).
    Index {
        /// Array (or object with a string key).
        expr: Box<ScalarExpr>,
        /// Index.
        index: Box<ScalarExpr>,
    },
    /// `expr[start:end]`, either bound optional.
    Slice {
        /// Array or string.
        expr: Box<ScalarExpr>,
        /// Inclusive start.
        start: Option<Box<ScalarExpr>>,
        /// Exclusive end.
        end: Option<Box<ScalarExpr>>,
    },
    /// `expr->name`: field of a struct/object.
    Field {
        /// Object.
        expr: Box<ScalarExpr>,
        /// Field name.
        name: String,
    },
    /// A call of a scalar, analytic or set-returning built-in (or plugin) function.
    Call(FunctionCall),
    /// The value of aggregate number `index` of the enclosing [`LogicalPlan::Aggregate`]
    /// (or of the window's row group when there is no GROUP BY).
    Aggregate {
        /// Index into the aggregate list.
        index: usize,
    },
}

/// A function call site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Canonical (lower-case) function name.
    pub name: String,
    /// Arguments.
    pub args: Vec<ScalarExpr>,
    /// Unique id of this call site in the rule: stateful (analytic) functions
    /// keep their state under it, and a call inlined through an alias into
    /// several places is still evaluated once per row.
    pub call_id: usize,
    /// `OVER (PARTITION BY …)`: analytic state is kept per partition key.
    pub partition_by: Vec<ScalarExpr>,
    /// `OVER (WHEN cond)`: analytic state only updates for rows where it holds.
    pub when: Option<Box<ScalarExpr>>,
}

/// An aggregate call (`count(*)`, `avg(x)`, `collect(*)`, `acc_sum(x)` inside a window …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateCall {
    /// Canonical (lower-case) function name.
    pub name: String,
    /// Arguments (`count(*)` has one [`ScalarExpr::Wildcard`]).
    pub args: Vec<ScalarExpr>,
    /// `FILTER (WHERE …)` on the aggregate, if any.
    pub filter: Option<ScalarExpr>,
}

/// A time unit of a window (`dd`, `hh`, `mi`, `ss`, `ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeUnit {
    /// Days.
    Day,
    /// Hours.
    Hour,
    /// Minutes.
    Minute,
    /// Seconds.
    Second,
    /// Milliseconds.
    Millisecond,
}

impl TimeUnit {
    /// Milliseconds in one unit.
    pub fn millis(self) -> u64 {
        match self {
            TimeUnit::Day => 86_400_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Minute => 60_000,
            TimeUnit::Second => 1_000,
            TimeUnit::Millisecond => 1,
        }
    }
}

/// The window of a rule, lengths already in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WindowKind {
    /// `TUMBLINGWINDOW(unit, size)`.
    Tumbling {
        /// Window length.
        size_ms: u64,
    },
    /// `HOPPINGWINDOW(unit, size, hop)`.
    Hopping {
        /// Window length.
        size_ms: u64,
        /// Distance between window starts.
        hop_ms: u64,
    },
    /// `SLIDINGWINDOW(unit, size[, delay])`: a window ending at each (triggering) row.
    Sliding {
        /// Look-back length.
        size_ms: u64,
        /// Look-ahead delay before emitting.
        delay_ms: u64,
    },
    /// `SESSIONWINDOW(unit, maxDuration, timeout)`.
    Session {
        /// Longest session.
        max_ms: u64,
        /// Gap that closes a session.
        timeout_ms: u64,
    },
    /// `COUNTWINDOW(count[, interval])`.
    Count {
        /// Rows per window.
        count: u64,
        /// Emit every `interval` rows (defaults to `count`).
        interval: u64,
    },
    /// `STATEWINDOW(begin, end)`.
    State {
        /// Condition that opens the window.
        begin: ScalarExpr,
        /// Condition that closes and emits it.
        end: ScalarExpr,
    },
}

/// A window with its optional clauses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// Kind and lengths.
    pub kind: WindowKind,
    /// The unit as written (for EXPLAIN and alignment on minutes/hours/days).
    pub unit: TimeUnit,
    /// `FILTER (WHERE cond)`: rows that enter the window at all.
    pub filter: Option<ScalarExpr>,
    /// `OVER (WHEN cond)`: only rows for which it holds trigger an emission (sliding windows).
    pub trigger: Option<ScalarExpr>,
}

/// Join kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinKind {
    /// `INNER JOIN` / `JOIN`.
    Inner,
    /// `LEFT [OUTER] JOIN`.
    Left,
    /// `RIGHT [OUTER] JOIN`.
    Right,
    /// `FULL [OUTER] JOIN`.
    Full,
    /// `CROSS JOIN`.
    Cross,
}

/// One `ORDER BY` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortKey {
    /// Expression (aliases already inlined).
    pub expr: ScalarExpr,
    /// `DESC`.
    pub descending: bool,
}

/// One item of the SELECT list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProjectItem {
    /// `expr [AS name] [INVISIBLE]`.
    Expr {
        /// Output field name (alias, or eKuiper's automatic name).
        name: String,
        /// Value.
        expr: ScalarExpr,
        /// `INVISIBLE`: computed (aliases may use it) but not emitted.
        invisible: bool,
        /// Whether `name` was given with `AS` (eKuiper's error texts say `alias: name`).
        #[serde(default)]
        aliased: bool,
    },
    /// `*` or `stream.*`: every field of the row(s).
    Wildcard {
        /// Restrict to one source.
        source: Option<usize>,
    },
}

/// The logical plan tree.
// `Window` carries its spec inline (plans are built once per rule, so size is irrelevant).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LogicalPlan {
    /// Rows of input `source` (index into [`RulePlan::sources`]).
    Scan {
        /// Source index.
        source: usize,
    },
    /// Stream–stream join inside the window, or stream–table join. eKuiper joins
    /// are left-deep: `left` is the chain so far, `right` the next source.
    Join {
        /// Left input.
        left: Box<LogicalPlan>,
        /// Right source index.
        right: usize,
        /// Kind.
        kind: JoinKind,
        /// `ON` condition (`None` for CROSS).
        on: Option<ScalarExpr>,
    },
    /// Groups rows into windows. Above it, operators work on one row group per window firing.
    Window {
        /// Input.
        input: Box<LogicalPlan>,
        /// The window.
        spec: WindowSpec,
    },
    /// `WHERE` (row predicate) or `HAVING` (predicate over groups, may use aggregates).
    Filter {
        /// Input.
        input: Box<LogicalPlan>,
        /// Predicate.
        predicate: ScalarExpr,
    },
    /// `GROUP BY` keys (without the window) and the aggregates that the plan above refers to.
    Aggregate {
        /// Input.
        input: Box<LogicalPlan>,
        /// Group keys; empty = one group (the whole window).
        group_by: Vec<ScalarExpr>,
        /// Aggregate calls, referenced by [`ScalarExpr::Aggregate`].
        aggregates: Vec<AggregateCall>,
    },
    /// `ORDER BY`.
    Sort {
        /// Input.
        input: Box<LogicalPlan>,
        /// Keys.
        keys: Vec<SortKey>,
    },
    /// The SELECT list; always the root.
    Project {
        /// Input.
        input: Box<LogicalPlan>,
        /// Items in SELECT order.
        items: Vec<ProjectItem>,
    },
}

/// One decoded field of a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotDef {
    /// Field name in the payload.
    pub name: String,
    /// Declared type (schema streams), used to convert / validate.
    pub ty: Option<FieldType>,
}

/// An input stream or table of the rule, and what the decoder must extract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcePlan {
    /// The definition.
    pub def: StreamDef,
    /// Name the SQL uses for it (alias or stream name).
    pub alias: String,
    /// First global slot of this source.
    pub offset: usize,
    /// Fields to decode, in slot order (`offset + i`). For schema streams these
    /// are all schema fields, in schema order; for schemaless streams the fields
    /// the query references.
    pub slots: Vec<SlotDef>,
    /// For schemaless streams read by `*` (or `collect(*)` …): the slot that
    /// receives every *other* field of the payload as one object, so the
    /// wildcard can be expanded without decoding into a map per record otherwise.
    pub rest_slot: Option<usize>,
}

impl SourcePlan {
    /// Number of global slots this source occupies (`slots` plus the rest slot).
    pub fn width(&self) -> usize {
        self.slots.len() + usize::from(self.rest_slot.is_some())
    }
}

/// Rule options (eKuiper's `options` object), as the plan needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOptions {
    /// `isEventTime`.
    pub is_event_time: bool,
    /// `lateTolerance` in ms.
    pub late_tolerance_ms: u64,
    /// `sendError`: runtime errors become `{"error": …}` emissions.
    pub send_error: bool,
    /// `sendNilField`: keep null fields in output rows.
    pub send_nil_field: bool,
    /// `bufferLength`: bound of every queue of the rule.
    pub buffer_length: usize,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            is_event_time: false,
            late_tolerance_ms: 0,
            send_error: true,
            send_nil_field: false,
            buffer_length: 1024,
        }
    }
}

/// A compiled rule query: everything the operators need to build its dataflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulePlan {
    /// The SQL text.
    pub sql: String,
    /// Input streams/tables in SQL order (FROM first, then JOINs).
    pub sources: Vec<SourcePlan>,
    /// Total row width (sum of source widths).
    pub width: usize,
    /// The plan tree (root is [`LogicalPlan::Project`]).
    pub root: LogicalPlan,
    /// Number of function call sites (`FunctionCall::call_id` is below it).
    pub call_sites: usize,
    /// Rule options.
    pub options: RuleOptions,
    /// The query has a HAVING clause: the topmost [`LogicalPlan::Filter`] is
    /// HAVING (it cannot be told from WHERE when the query does not aggregate).
    #[serde(default)]
    pub has_having: bool,
    /// The id of the rule running this plan (`rule_id()`); set by whoever installs it.
    #[serde(default)]
    pub rule_id: String,
}
