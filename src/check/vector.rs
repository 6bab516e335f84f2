//! The rule-vector file format (eKuiper end-to-end cases re-expressed in
//! JSON; see `shared/conformance/ekuiper/README.md`), read with serde.
//! Unknown fields are ignored: vector files carry informational extras.

use serde::Deserialize;

/// One case.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// `<TestFunc>/<case>`.
    pub name: String,
    /// DDL of every stream and table the SQL uses.
    pub streams: Vec<String>,
    /// The rule.
    pub rule: RuleSpec,
    /// Clock at rule start (ms).
    pub clock_start: u64,
    /// Timed inputs.
    #[serde(default)]
    pub inputs: Vec<Input>,
    /// Expected emissions.
    #[serde(default)]
    pub expected: Vec<Vec<serde_json::Value>>,
    /// `ordered` (default) or `unordered_rows`.
    #[serde(default)]
    pub compare: Option<String>,
    /// `exact` (default), `contains` or `any`.
    #[serde(default)]
    pub error_match: Option<String>,
    /// The case also passes when the rule is refused at creation.
    #[serde(default)]
    pub may_fail_validation: bool,
    /// Arrays inside rows compare as multisets.
    #[serde(default)]
    pub array_order_insignificant: bool,
}

/// The rule of a case.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleSpec {
    /// Rule id.
    #[serde(default)]
    pub id: String,
    /// SQL.
    pub sql: String,
    /// eKuiper rule options.
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

/// One timed input.
#[derive(Debug, Clone, Deserialize)]
pub struct Input {
    /// Stream or table name.
    pub stream: String,
    /// Arrival time (ms).
    pub ts: u64,
    /// The decoded record.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Metadata.
    #[serde(default)]
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
}
