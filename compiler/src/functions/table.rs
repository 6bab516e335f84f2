//! The static table of eKuiper's built-in functions: one row per name (aliases
//! such as `ceiling`/`ceil` or `pow`/`power` have a row each), with category,
//! planning kind, argument counts, the literal-argument rules checked when a
//! rule is created, and whether this build can run it.
//!
//! Argument rules are a short pattern, one character per position; the last
//! character repeats for variadic functions:
//!
//! | char | literal check (eKuiper's validator)                         |
//! |------|-------------------------------------------------------------|
//! | `*`  | anything                                                    |
//! | `n`  | a number: string/bool literals rejected (`number - float or int`) |
//! | `i`  | an int: float/string/bool literals rejected (`int`)         |
//! | `I`  | must be an integer literal when it is a literal (`integer`) |
//! | `s`  | a string: number/bool literals rejected (`string`)          |
//! | `S`  | must be a string literal when it is a literal (`string`)    |
//! | `b`  | a bool: number/string literals rejected (`bool`)            |
//! | `a`  | an array: number/string/bool literals rejected (`array`)    |
//! | `d`  | a datetime: number/string/bool literals rejected (`datetime`) |

use super::{Category, FunctionKind};

/// `max_args` value for variadic rows.
pub(crate) const VARIADIC: usize = usize::MAX;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub name: &'static str,
    pub category: Category,
    pub kind: FunctionKind,
    pub min: usize,
    pub max: usize,
    pub args: &'static str,
    pub implemented: bool,
}

use Category as C;
use FunctionKind as K;

const fn r(
    name: &'static str,
    category: Category,
    kind: FunctionKind,
    min: usize,
    max: usize,
    args: &'static str,
    implemented: bool,
) -> Row {
    Row { name, category, kind, min, max, args, implemented }
}

const Y: bool = true;
const V: usize = VARIADIC;

/// Every built-in. Keep sorted by category, then name (a test checks it).
pub(crate) static ROWS: &[Row] = &[
    // ------------------------------------------------------------ math
    r("abs", C::Math, K::Scalar, 1, 1, "n", Y),
    r("acos", C::Math, K::Scalar, 1, 1, "n", Y),
    r("asin", C::Math, K::Scalar, 1, 1, "n", Y),
    r("atan", C::Math, K::Scalar, 1, 1, "n", Y),
    r("atan2", C::Math, K::Scalar, 2, 2, "nn", Y),
    r("bitand", C::Math, K::Scalar, 2, 2, "ii", Y),
    r("bitnot", C::Math, K::Scalar, 1, 1, "i", Y),
    r("bitor", C::Math, K::Scalar, 2, 2, "ii", Y),
    r("bitxor", C::Math, K::Scalar, 2, 2, "ii", Y),
    r("ceil", C::Math, K::Scalar, 1, 1, "n", Y),
    r("ceiling", C::Math, K::Scalar, 1, 1, "n", Y),
    r("conv", C::Math, K::Scalar, 3, 3, "*II", Y),
    r("cos", C::Math, K::Scalar, 1, 1, "n", Y),
    r("cosh", C::Math, K::Scalar, 1, 1, "n", Y),
    r("cot", C::Math, K::Scalar, 1, 1, "n", Y),
    r("degrees", C::Math, K::Scalar, 1, 1, "n", Y),
    r("exp", C::Math, K::Scalar, 1, 1, "n", Y),
    r("floor", C::Math, K::Scalar, 1, 1, "n", Y),
    r("ln", C::Math, K::Scalar, 1, 1, "n", Y),
    r("log", C::Math, K::Scalar, 1, 2, "n*", Y),
    r("mod", C::Math, K::Scalar, 2, 2, "nn", Y),
    r("pi", C::Math, K::Scalar, 0, 0, "", Y),
    r("pow", C::Math, K::Scalar, 2, 2, "nn", Y),
    r("power", C::Math, K::Scalar, 2, 2, "nn", Y),
    r("radians", C::Math, K::Scalar, 1, 1, "n", Y),
    r("rand", C::Math, K::Scalar, 0, 0, "", Y),
    r("round", C::Math, K::Scalar, 1, 2, "nn", Y),
    r("sign", C::Math, K::Scalar, 1, 1, "n", Y),
    r("sin", C::Math, K::Scalar, 1, 1, "n", Y),
    r("sinh", C::Math, K::Scalar, 1, 1, "n", Y),
    r("sqrt", C::Math, K::Scalar, 1, 1, "n", Y),
    r("tan", C::Math, K::Scalar, 1, 1, "n", Y),
    r("tanh", C::Math, K::Scalar, 1, 1, "n", Y),
    // ------------------------------------------------------------ string
    r("concat", C::String, K::Scalar, 1, V, "*", Y),
    r("endswith", C::String, K::Scalar, 2, 2, "ss", Y),
    r("format", C::String, K::Scalar, 2, 3, "nis", Y),
    r("indexof", C::String, K::Scalar, 2, 2, "ss", Y),
    r("length", C::String, K::Scalar, 1, 1, "s", Y),
    r("lower", C::String, K::Scalar, 1, 1, "s", Y),
    r("lpad", C::String, K::Scalar, 2, 2, "si", Y),
    r("ltrim", C::String, K::Scalar, 1, 1, "s", Y),
    r("numbytes", C::String, K::Scalar, 1, 1, "s", Y),
    r("regexp_matches", C::String, K::Scalar, 2, 2, "ss", Y),
    r("regexp_replace", C::String, K::Scalar, 3, 3, "sss", Y),
    r("regexp_substr", C::String, K::Scalar, 2, 2, "ss", Y),
    r("regexp_substring", C::String, K::Scalar, 2, 2, "ss", Y),
    r("rpad", C::String, K::Scalar, 2, 2, "si", Y),
    r("rtrim", C::String, K::Scalar, 1, 1, "s", Y),
    r("split_value", C::String, K::Scalar, 3, 3, "ssi", Y),
    r("startswith", C::String, K::Scalar, 2, 2, "ss", Y),
    r("substring", C::String, K::Scalar, 2, 3, "sii", Y),
    r("trim", C::String, K::Scalar, 1, 1, "s", Y),
    r("upper", C::String, K::Scalar, 1, 1, "s", Y),
    // ------------------------------------------------------------ conversion
    r("cast", C::Conversion, K::Scalar, 2, 2, "*S", Y),
    r("chr", C::Conversion, K::Scalar, 1, 1, "*", Y),
    r("compress", C::Conversion, K::Scalar, 2, 2, "*S", Y),
    r("dec2hex", C::Conversion, K::Scalar, 1, 1, "i", Y),
    r("decode", C::Conversion, K::Scalar, 2, 2, "sS", Y),
    r("decompress", C::Conversion, K::Scalar, 2, 2, "*S", Y),
    r("encode", C::Conversion, K::Scalar, 2, 2, "*S", Y),
    r("hex2dec", C::Conversion, K::Scalar, 1, 1, "s", Y),
    r("trunc", C::Conversion, K::Scalar, 2, 2, "ni", Y),
    // ------------------------------------------------------------ hashing
    r("md5", C::Hashing, K::Scalar, 1, 1, "s", Y),
    r("sha1", C::Hashing, K::Scalar, 1, 1, "s", Y),
    r("sha256", C::Hashing, K::Scalar, 1, 1, "s", Y),
    r("sha384", C::Hashing, K::Scalar, 1, 1, "s", Y),
    r("sha512", C::Hashing, K::Scalar, 1, 1, "s", Y),
    // ------------------------------------------------------------ JSON
    r("json_path_exists", C::JsonPath, K::Scalar, 2, 2, "*S", Y),
    r("json_path_query", C::JsonPath, K::Scalar, 2, 2, "*S", Y),
    r("json_path_query_first", C::JsonPath, K::Scalar, 2, 2, "*S", Y),
    r("parse_json", C::JsonPath, K::Scalar, 1, 1, "s", Y),
    r("to_json", C::JsonPath, K::Scalar, 1, 1, "*", Y),
    // ------------------------------------------------------------ array
    r("array_avg", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_cardinality", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_concat", C::Array, K::Scalar, 1, V, "a", Y),
    r("array_contains", C::Array, K::Scalar, 2, 2, "a*", Y),
    r("array_contains_any", C::Array, K::Scalar, 2, 2, "aa", Y),
    r("array_create", C::Array, K::Scalar, 0, V, "*", Y),
    r("array_distinct", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_except", C::Array, K::Scalar, 2, 2, "aa", Y),
    r("array_flatten", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_intersect", C::Array, K::Scalar, 2, 2, "aa", Y),
    r("array_join", C::Array, K::Scalar, 2, 3, "ass", Y),
    r("array_last_position", C::Array, K::Scalar, 2, 2, "a*", Y),
    r("array_map", C::Array, K::Scalar, 2, 2, "Sa", Y),
    r("array_max", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_min", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_position", C::Array, K::Scalar, 2, 2, "a*", Y),
    r("array_remove", C::Array, K::Scalar, 2, 2, "a*", Y),
    r("array_shuffle", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_sort", C::Array, K::Scalar, 1, 1, "a", Y),
    r("array_union", C::Array, K::Scalar, 2, 2, "aa", Y),
    r("cardinality", C::Array, K::Scalar, 1, 1, "a", Y),
    r("element_at", C::Array, K::Scalar, 2, 2, "**", Y),
    r("kvpair_array_to_obj", C::Array, K::Scalar, 1, 1, "a", Y),
    r("repeat", C::Array, K::Scalar, 2, 2, "*i", Y),
    r("sequence", C::Array, K::Scalar, 2, 3, "iii", Y),
    // ------------------------------------------------------------ object
    r("erase", C::Object, K::Scalar, 2, 2, "**", Y),
    r("items", C::Object, K::Scalar, 1, 1, "*", Y),
    r("keys", C::Object, K::Scalar, 1, 1, "*", Y),
    r("obj_to_kvpair_array", C::Object, K::Scalar, 1, 1, "*", Y),
    r("object", C::Object, K::Scalar, 2, 2, "aa", Y),
    r("object_concat", C::Object, K::Scalar, 1, V, "*", Y),
    r("object_construct", C::Object, K::Scalar, 0, V, "*", Y),
    r("object_pick", C::Object, K::Scalar, 2, V, "*", Y),
    r("object_size", C::Object, K::Scalar, 1, 1, "*", Y),
    r("values", C::Object, K::Scalar, 1, 1, "*", Y),
    r("zip", C::Object, K::Scalar, 1, 1, "a", Y),
    // ------------------------------------------------------------ date and time
    r("convert_tz", C::DateTime, K::Scalar, 2, 2, "dS", Y),
    r("cur_date", C::DateTime, K::Scalar, 0, 0, "", Y),
    r("cur_time", C::DateTime, K::Scalar, 0, 1, "i", Y),
    r("current_date", C::DateTime, K::Scalar, 0, 0, "", Y),
    r("current_time", C::DateTime, K::Scalar, 0, 1, "i", Y),
    r("current_timestamp", C::DateTime, K::Scalar, 0, 1, "i", Y),
    r("date_calc", C::DateTime, K::Scalar, 2, 2, "dS", Y),
    r("date_diff", C::DateTime, K::Scalar, 2, 2, "dd", Y),
    r("day", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("day_name", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("day_of_month", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("day_of_week", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("day_of_year", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("format_time", C::DateTime, K::Scalar, 2, 2, "ds", Y),
    r("from_days", C::DateTime, K::Scalar, 1, 1, "i", Y),
    r("from_unix_time", C::DateTime, K::Scalar, 1, 1, "i", Y),
    r("hour", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("last_day", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("local_time", C::DateTime, K::Scalar, 0, 1, "i", Y),
    r("local_timestamp", C::DateTime, K::Scalar, 0, 1, "i", Y),
    r("microsecond", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("minute", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("month", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("month_name", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("now", C::DateTime, K::Scalar, 0, 1, "i", Y),
    r("second", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("to_seconds", C::DateTime, K::Scalar, 1, 1, "d", Y),
    r("tstamp", C::DateTime, K::Scalar, 0, 0, "", Y),
    // ------------------------------------------------------------ aggregate
    r("avg", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    r("collect", C::Aggregate, K::Aggregate, 1, 1, "*", Y),
    r("count", C::Aggregate, K::Aggregate, 1, 1, "*", Y),
    r("deduplicate", C::Aggregate, K::Aggregate, 2, 2, "*b", Y),
    r("last_value", C::Aggregate, K::Aggregate, 2, 2, "*b", Y),
    r("max", C::Aggregate, K::Aggregate, 1, 1, "*", Y),
    r("median", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    r("merge_agg", C::Aggregate, K::Aggregate, 1, 1, "*", Y),
    r("min", C::Aggregate, K::Aggregate, 1, 1, "*", Y),
    r("percentile", C::Aggregate, K::Aggregate, 2, 2, "nn", Y),
    r("percentile_cont", C::Aggregate, K::Aggregate, 2, 2, "nn", Y),
    r("percentile_disc", C::Aggregate, K::Aggregate, 2, 2, "nn", Y),
    r("stddev", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    r("stddevs", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    r("sum", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    r("var", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    r("vars", C::Aggregate, K::Aggregate, 1, 1, "n", Y),
    // ------------------------------------------------------------ analytic
    r("acc_avg", C::Analytic, K::Analytic, 1, 3, "*bb", Y),
    r("acc_collect", C::Analytic, K::Analytic, 1, 3, "*bb", Y),
    r("acc_count", C::Analytic, K::Analytic, 1, 3, "*bb", Y),
    r("acc_map_agg", C::Analytic, K::Analytic, 2, 4, "**bb", Y),
    r("acc_max", C::Analytic, K::Analytic, 1, 3, "*bb", Y),
    r("acc_max_by", C::Analytic, K::Analytic, 2, 4, "**bb", Y),
    r("acc_min", C::Analytic, K::Analytic, 1, 3, "*bb", Y),
    r("acc_min_by", C::Analytic, K::Analytic, 2, 4, "**bb", Y),
    r("acc_sum", C::Analytic, K::Analytic, 1, 3, "*bb", Y),
    r("change_capture", C::Analytic, K::Analytic, 2, 4, "***b", Y),
    r("change_to", C::Analytic, K::Analytic, 1, 3, "**b", Y),
    r("changed_col", C::Analytic, K::Analytic, 2, 2, "b*", Y),
    r("changed_cols", C::Analytic, K::Analytic, 3, V, "Sb*", Y),
    r("consecutive_count", C::Analytic, K::Analytic, 1, 1, "b", Y),
    r("consecutive_start", C::Analytic, K::Analytic, 2, 2, "b*", Y),
    r("had_changed", C::Analytic, K::Analytic, 2, V, "b*", Y),
    r("lag", C::Analytic, K::Analytic, 1, 4, "*i*b", Y),
    r("latest", C::Analytic, K::Analytic, 1, 2, "**", Y),
    // ------------------------------------------------------------ window / rule context
    r("event_time", C::Window, K::Context, 0, 0, "", Y),
    r("last_agg_hit_count", C::Window, K::Context, 0, 0, "", Y),
    r("last_agg_hit_time", C::Window, K::Context, 0, 0, "", Y),
    r("last_hit_count", C::Window, K::Context, 0, 0, "", Y),
    r("last_hit_time", C::Window, K::Context, 0, 0, "", Y),
    r("meta", C::Window, K::Context, 1, 1, "*", Y),
    r("mqtt", C::Window, K::Context, 1, 1, "*", Y),
    r("row_number", C::Window, K::Context, 0, 0, "", Y),
    r("rule_id", C::Window, K::Context, 0, 0, "", Y),
    r("window_end", C::Window, K::Context, 0, 0, "", Y),
    r("window_start", C::Window, K::Context, 0, 0, "", Y),
    // ------------------------------------------------------------ other
    r("coalesce", C::Other, K::Scalar, 1, V, "*", Y),
    r("delay", C::Other, K::Scalar, 2, 2, "i*", Y),
    r("get_keyed_state", C::Other, K::Scalar, 3, 3, "*S*", Y),
    r("isnull", C::Other, K::Scalar, 1, 1, "*", Y),
    r("newuuid", C::Other, K::Scalar, 0, 0, "", Y),
    r("unnest", C::Other, K::SetReturning, 1, 1, "a", Y),
];
