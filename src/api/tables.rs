//! `/tables`: the same operations as [`streams`](super::streams) for tables
//! (`CREATE TABLE`), on eKuiper's `/tables` paths; the logic is shared.

use super::streams::{
    StreamDetail, StreamSql, create_of, describe_of, details_of, drop_of, list_of, replace_of, schema_of,
};
use super::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use oort_compiler::catalog::StreamKind;
use serde_json::Value as Json;
use std::sync::Arc;

/// List table names.
#[utoipa::path(get, operation_id = "list_tables", path = "/tables", tag = "tables", responses((status = 200, description = "Table names", body = Vec<String>)))]
pub async fn list(State(s): State<Arc<AppState>>) -> Result<axum::Json<Vec<String>>, ApiError> {
    list_of(s, StreamKind::Table).await
}

/// Create a table from its `CREATE TABLE` statement.
#[utoipa::path(
    post,
    operation_id = "create_tables",
    path = "/tables",
    tag = "tables",
    request_body = StreamSql,
    responses(
        (status = 201, description = "`Table NAME is created.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid statement (the message gives the SQL position)", body = super::ErrorBody),
        (status = 409, description = "The name is taken", body = super::ErrorBody),
    )
)]
pub async fn create(State(s): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    create_of(s, body).await
}

/// Name, type and format of every table.
#[utoipa::path(get, operation_id = "details_tables", path = "/tabledetails", tag = "tables", responses((status = 200, description = "Table details", body = Vec<StreamDetail>)))]
pub async fn details(State(s): State<Arc<AppState>>) -> Result<axum::Json<Vec<StreamDetail>>, ApiError> {
    details_of(s, StreamKind::Table).await
}

/// Describe a table.
#[utoipa::path(
    get,
    operation_id = "describe_tables",
    path = "/tables/{name}",
    tag = "tables",
    params(("name" = String, Path, description = "Table name")),
    responses(
        (status = 200, description = "The definition (eKuiper's StreamStmt JSON)", body = Object),
        (status = 404, description = "No such table", body = super::ErrorBody),
    )
)]
pub async fn describe(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Result<axum::Json<Json>, ApiError> {
    describe_of(s, name, StreamKind::Table).await
}

/// Replace a table's definition.
#[utoipa::path(
    put,
    operation_id = "replace_tables",
    path = "/tables/{name}",
    tag = "tables",
    params(("name" = String, Path, description = "Table name")),
    request_body = StreamSql,
    responses(
        (status = 200, description = "`Table NAME is replaced.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid statement", body = super::ErrorBody),
        (status = 404, description = "No such table", body = super::ErrorBody),
    )
)]
pub async fn replace(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    replace_of(s, name, StreamKind::Table, body).await
}

/// Drop a table (refused while a rule uses it).
#[utoipa::path(
    delete,
    operation_id = "drop_tables",
    path = "/tables/{name}",
    tag = "tables",
    params(("name" = String, Path, description = "Table name")),
    responses(
        (status = 200, description = "`Table NAME is dropped.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Rules use the table (they are named)", body = super::ErrorBody),
        (status = 404, description = "No such table", body = super::ErrorBody),
    )
)]
pub async fn drop(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    drop_of(s, name, StreamKind::Table).await
}

/// A table's schema as eKuiper's inferred JSON schema.
#[utoipa::path(
    get,
    operation_id = "schema_tables",
    path = "/tables/{name}/schema",
    tag = "tables",
    params(("name" = String, Path, description = "Table name")),
    responses(
        (status = 200, description = "Field name to `{\"type\": …}`; `{}` for a schemaless table", body = Object),
        (status = 404, description = "No such table", body = super::ErrorBody),
    )
)]
pub async fn schema(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Result<axum::Json<Json>, ApiError> {
    schema_of(s, name, StreamKind::Table).await
}
