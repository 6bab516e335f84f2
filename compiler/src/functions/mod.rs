//! The function catalog: the signature of every built-in function (name,
//! category, kind, argument counts), which the binder uses to validate calls
//! when a rule is created and which the REST API lists. Implementations live in
//! `oort-operators`; plugin functions join the catalog through [`Catalog::function`].
//!
//! [`Catalog::function`]: crate::catalog::Catalog::function

use serde::Serialize;

/// What a function is, for planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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

/// eKuiper's function categories (declaration order is the listing order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

mod table;
mod validate;

pub use validate::{validate_arity, validate_literal_args};

impl FunctionSig {
    fn from_row(row: &table::Row) -> Self {
        FunctionSig {
            name: row.name.to_string(),
            category: row.category,
            kind: row.kind,
            min_args: row.min,
            max_args: (row.max != table::VARIADIC).then_some(row.max),
            implemented: row.implemented,
        }
    }
}

fn find_row(name: &str) -> Option<&'static table::Row> {
    table::ROWS.iter().find(|r| r.name.eq_ignore_ascii_case(name))
}

/// The signature of a built-in function by (case-insensitive) name.
pub fn lookup(name: &str) -> Option<FunctionSig> {
    find_row(name).map(FunctionSig::from_row)
}

/// Every built-in function, sorted by category, then name.
pub fn all() -> Vec<FunctionSig> {
    let mut v: Vec<FunctionSig> = table::ROWS.iter().map(FunctionSig::from_row).collect();
    v.sort_by(|a, b| a.category.cmp(&b.category).then_with(|| a.name.cmp(&b.name)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let rows = table::ROWS;
        for w in rows.windows(2) {
            assert!(
                (w[0].category, w[0].name) < (w[1].category, w[1].name),
                "{} / {} out of order",
                w[0].name,
                w[1].name
            );
        }
        for r in rows {
            assert_eq!(r.name, r.name.to_ascii_lowercase());
            assert!(r.min <= r.max, "{}", r.name);
            assert!(!r.args.is_empty() || r.max == 0, "{} needs an arg pattern", r.name);
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        let s = lookup("CoUnT").expect("count");
        assert_eq!(s.name, "count");
        assert_eq!(s.kind, FunctionKind::Aggregate);
        assert_eq!(lookup("lag").map(|s| s.kind), Some(FunctionKind::Analytic));
        assert_eq!(lookup("unnest").map(|s| s.kind), Some(FunctionKind::SetReturning));
        assert_eq!(lookup("window_start").map(|s| s.kind), Some(FunctionKind::Context));
        assert_eq!(lookup("concat").and_then(|s| s.max_args), None);
        assert!(lookup("no_such_fn").is_none());
        let all = all();
        assert_eq!(all.len(), table::ROWS.len());
        assert_eq!(all[0].category, Category::Math);
    }
}
