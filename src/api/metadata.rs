//! `/metadata`: what this build offers — the built-in functions (from the
//! compiler's function catalog), and the source and sink connector types
//! (from the connector registry), in the shape eKuiper's manager lists them.

use super::{ApiError, AppState};
use crate::connectors::{SINK_TYPES, SOURCE_TYPES};
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// One built-in function.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionMeta {
    /// Name.
    pub name: String,
    /// eKuiper category (`math`, `string`, `aggregate`, …).
    pub category: String,
    /// Planning kind (`scalar`, `aggregate`, `analytic`, …).
    pub kind: String,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments; absent when variadic.
    pub max_args: Option<usize>,
    /// Whether this build implements it.
    pub implemented: bool,
}

/// One connector type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorMeta {
    /// Type name, as used in `TYPE=` or an action key.
    pub name: String,
    /// `internal` for built-ins.
    #[serde(rename = "type")]
    pub kind: String,
    /// `{"installed": true, "description": {"en_US": …}}`.
    #[schema(value_type = Object)]
    pub about: Json,
}

/// The built-in functions.
#[utoipa::path(get, operation_id = "metadata_functions", path = "/metadata/functions", tag = "metadata", responses((status = 200, description = "Functions", body = Vec<FunctionMeta>)))]
pub async fn functions(State(s): State<Arc<AppState>>) -> Result<axum::Json<Vec<FunctionMeta>>, ApiError> {
    s.read(|_| {
        Ok(axum::Json(
            oort_compiler::functions::all()
                .into_iter()
                .map(|f| FunctionMeta {
                    name: f.name,
                    category: format!("{:?}", f.category).to_ascii_lowercase(),
                    kind: format!("{:?}", f.kind).to_ascii_lowercase(),
                    min_args: f.min_args,
                    max_args: f.max_args,
                    implemented: f.implemented,
                })
                .collect(),
        ))
    })
    .await
}

/// The source connector types.
#[utoipa::path(get, operation_id = "metadata_sources", path = "/metadata/sources", tag = "metadata", responses((status = 200, description = "Source types", body = Vec<ConnectorMeta>)))]
pub async fn sources() -> axum::Json<Vec<ConnectorMeta>> {
    axum::Json(SOURCE_TYPES.iter().map(|n| connector(n, source_about(n))).collect())
}

/// The sink connector types.
#[utoipa::path(get, operation_id = "metadata_sinks", path = "/metadata/sinks", tag = "metadata", responses((status = 200, description = "Sink types", body = Vec<ConnectorMeta>)))]
pub async fn sinks() -> axum::Json<Vec<ConnectorMeta>> {
    axum::Json(SINK_TYPES.iter().map(|n| connector(n, sink_about(n))).collect())
}

fn connector(name: &str, description: &str) -> ConnectorMeta {
    ConnectorMeta {
        name: name.to_string(),
        kind: "internal".into(),
        about: json!({"installed": true, "description": {"en_US": description}}),
    }
}

fn source_about(name: &str) -> &'static str {
    match name {
        "memory" => "In-process topic: reads what memory sinks of other rules publish.",
        "file" => "Reads DATASOURCE (a file, relative to the data directory) line by line.",
        "mock" => "Fed by the embedding program or test driver.",
        _ => "",
    }
}

fn sink_about(name: &str) -> &'static str {
    match name {
        "log" => "Writes each result to the server log.",
        "nop" => "Discards results.",
        "memory" => "Publishes results to an in-process topic.",
        "file" => "Appends each result as a JSON line to a file.",
        _ => "",
    }
}
