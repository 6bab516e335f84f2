//! The function catalog: the signature of every built-in function (name,
//! category, kind, argument counts), which the binder uses to validate calls
//! when a rule is created and which the REST API lists. Implementations live in
//! `oort-operators`; plugin functions join the catalog through [`Catalog::function`].
//!
//! [`Catalog::function`]: crate::catalog::Catalog::function

use serde::Serialize;

/// What a function is, for planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FunctionKind {
    /// Pure row function: `upper(x)`.
    Scalar,
    /// Computes over the rows of a group/window: `count`, `avg`, `collect`.
    Aggregate,
    /// Keeps state across rows of the rule: `lag`, `latest`, `changed_col`, `acc_sum`.
    Analytic,
    /// Returns several rows: `unnest`.
    SetReturning,
    /// Reads the window or row context: `window_start`, `event_time`, `row_number`.
    Context,
}

/// eKuiper's function categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Category {
    /// Math.
    Math,
    /// String.
    String,
    /// Conversion.
    Conversion,
    /// Hashing.
    Hashing,
    /// JSON path.
    JsonPath,
    /// Array.
    Array,
    /// Object.
    Object,
    /// Date and time.
    DateTime,
    /// Aggregate.
    Aggregate,
    /// Analytic.
    Analytic,
    /// Window and rule context.
    Window,
    /// Other.
    Other,
}

/// The signature of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionSig {
    /// Canonical lower-case name.
    pub name: String,
    /// eKuiper category.
    pub category: Category,
    /// Planning kind.
    pub kind: FunctionKind,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments (`None` = variadic).
    pub max_args: Option<usize>,
    /// Whether the implementation exists in this build (`false` = catalogued, not yet done).
    pub implemented: bool,
}

/// The signature of a built-in function by (case-insensitive) name.
pub fn lookup(name: &str) -> Option<FunctionSig> {
    let _ = name;
    None
}
