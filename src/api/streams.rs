//! `/streams`: create (`POST {"sql": "CREATE STREAM …"}`), list, describe,
//! replace, drop and the schema of streams, with eKuiper's answers. The
//! logic is shared with [`tables`](super::tables) through the `*_of` functions,
//! which take the kind; a path of one kind never sees an object of the other.

use super::{ApiError, AppState, parse_json, text};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use oort_compiler::catalog::{FieldDef, FieldType, Format, StreamDef, StreamKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use std::sync::Arc;
use utoipa::ToSchema;

/// A stream or table statement.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"sql": "CREATE STREAM demo (id BIGINT, temperature FLOAT) WITH (DATASOURCE=\"demo\", TYPE=\"memory\", FORMAT=\"json\")"}))]
pub struct StreamSql {
    /// The `CREATE STREAM` / `CREATE TABLE` statement.
    pub sql: String,
}

/// One line of `GET /streamdetails`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamDetail {
    /// Name.
    pub name: String,
    /// Connector type (`TYPE`).
    #[serde(rename = "type")]
    pub source_type: String,
    /// Payload format.
    pub format: String,
}

/// eKuiper's word for a kind, capitalised as in its messages.
pub(crate) fn word(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Stream => "Stream",
        StreamKind::Table => "Table",
    }
}

fn lower(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Stream => "stream",
        StreamKind::Table => "table",
    }
}

fn sql_of(body: &[u8]) -> Result<String, ApiError> {
    let v = parse_json(body, "the statement")?;
    match v.get("sql") {
        Some(Json::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Json::String(_)) | None | Some(Json::Null) => Err(ApiError::bad_request(
            "invalid body: field sql is required (a CREATE STREAM or CREATE TABLE statement)",
        )),
        Some(_) => Err(ApiError::bad_request("invalid body: field sql must be a string")),
    }
}

fn find(s: &AppState, name: &str, kind: StreamKind) -> Result<StreamDef, ApiError> {
    s.manager
        .stream(name)
        .filter(|d| d.kind == kind)
        .ok_or_else(|| ApiError::not_found(format!("{} {name} is not found", lower(kind))))
}

/// Names of every stream or table.
pub(crate) async fn list_of(s: Arc<AppState>, kind: StreamKind) -> Result<axum::Json<Vec<String>>, ApiError> {
    s.read(move |s| {
        Ok(axum::Json(s.manager.streams().into_iter().filter(|d| d.kind == kind).map(|d| d.name).collect()))
    })
    .await
}

/// Name, type and format of every stream or table.
pub(crate) async fn details_of(s: Arc<AppState>, kind: StreamKind) -> Result<axum::Json<Vec<StreamDetail>>, ApiError> {
    s.read(move |s| {
        Ok(axum::Json(
            s.manager
                .streams()
                .into_iter()
                .filter(|d| d.kind == kind)
                .map(|d| StreamDetail {
                    name: d.name,
                    source_type: d.options.source_type.clone(),
                    format: format_text(d.options.format).into(),
                })
                .collect(),
        ))
    })
    .await
}

/// Creates a stream or table (either statement is accepted on either path,
/// as eKuiper runs any stream statement it is given).
pub(crate) async fn create_of(s: Arc<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let sql = sql_of(&body)?;
    s.mutate(move |s| {
        let def = s.manager.create_stream(&sql)?;
        let stored = if def.sql.trim().is_empty() { sql.as_str() } else { def.sql.as_str() };
        if let Err(e) = s.store.put_stream(&def.name, lower(def.kind), stored) {
            let _ = s.manager.drop_stream(&def.name);
            return Err(e.into());
        }
        tracing::info!(name = %def.name, kind = lower(def.kind), "created");
        Ok(text(StatusCode::CREATED, format!("{} {} is created.", word(def.kind), def.name)))
    })
    .await
}

/// Describes a stream or table the way eKuiper's `DescStream` does.
pub(crate) async fn describe_of(
    s: Arc<AppState>,
    name: String,
    kind: StreamKind,
) -> Result<axum::Json<Json>, ApiError> {
    s.read(move |s| Ok(axum::Json(describe_json(&find(s, &name, kind)?)))).await
}

/// Replaces a definition; the statement must name the same stream.
pub(crate) async fn replace_of(
    s: Arc<AppState>,
    name: String,
    kind: StreamKind,
    body: Bytes,
) -> Result<Response, ApiError> {
    let sql = sql_of(&body)?;
    s.mutate(move |s| {
        let old = find(s, &name, kind)?;
        let parsed = oort_compiler::parse_stream_ddl(&sql)
            .map_err(|e| ApiError::from(crate::rule::manager::ManagerError::Compile(e)))?;
        if !parsed.name.eq_ignore_ascii_case(&old.name) {
            return Err(ApiError::bad_request(format!(
                "the statement defines {} but the path names {}",
                parsed.name, old.name
            )));
        }
        if parsed.kind != kind {
            return Err(ApiError::bad_request(format!(
                "the statement defines a {} but {} is a {}",
                lower(parsed.kind),
                old.name,
                lower(kind)
            )));
        }
        let def = s.manager.replace_stream(&sql)?;
        let stored = if def.sql.trim().is_empty() { sql.as_str() } else { def.sql.as_str() };
        if def.name != old.name {
            s.store.delete_stream(&old.name)?;
        }
        s.store.put_stream(&def.name, lower(def.kind), stored)?;
        tracing::info!(name = %def.name, kind = lower(def.kind), "replaced");
        Ok(text(StatusCode::OK, format!("{} {} is replaced.", word(kind), def.name)))
    })
    .await
}

/// Drops a stream or table unless a rule uses it (the answer names the rules).
pub(crate) async fn drop_of(s: Arc<AppState>, name: String, kind: StreamKind) -> Result<Response, ApiError> {
    s.mutate(move |s| {
        let def = find(s, &name, kind)?;
        let dropped = s.manager.drop_stream(&def.name)?;
        s.store.delete_stream(&dropped.name)?;
        tracing::info!(name = %dropped.name, kind = lower(kind), "dropped");
        Ok(text(StatusCode::OK, format!("{} {} is dropped.", word(kind), dropped.name)))
    })
    .await
}

/// The schema of a stream or table as eKuiper's inferred JSON schema.
pub(crate) async fn schema_of(s: Arc<AppState>, name: String, kind: StreamKind) -> Result<axum::Json<Json>, ApiError> {
    s.read(move |s| {
        let def = find(s, &name, kind)?;
        let mut m = Map::new();
        for f in def.fields.iter().flatten() {
            m.insert(f.name.clone(), json_schema(&f.ty));
        }
        Ok(axum::Json(Json::Object(m)))
    })
    .await
}

fn json_schema(t: &FieldType) -> Json {
    match t {
        FieldType::Array(e) => json!({"type": "array", "items": json_schema(e)}),
        FieldType::Struct(fields) => {
            let props: Map<String, Json> = fields.iter().map(|f| (f.name.clone(), json_schema(&f.ty))).collect();
            json!({"type": "struct", "properties": props})
        }
        other => json!({"type": type_name(other)}),
    }
}

fn type_name(t: &FieldType) -> &'static str {
    match t {
        FieldType::Bigint => "bigint",
        FieldType::Float => "float",
        FieldType::String => "string",
        FieldType::Datetime => "datetime",
        FieldType::Boolean => "boolean",
        FieldType::Bytea => "bytea",
        FieldType::Array(_) => "array",
        FieldType::Struct(_) => "struct",
    }
}

/// eKuiper's `DataType` numbers.
fn type_code(t: &FieldType) -> u8 {
    match t {
        FieldType::Bigint => 1,
        FieldType::Float => 2,
        FieldType::String => 3,
        FieldType::Bytea => 4,
        FieldType::Datetime => 5,
        FieldType::Boolean => 6,
        FieldType::Array(_) => 7,
        FieldType::Struct(_) => 8,
    }
}

fn field_type_json(t: &FieldType) -> Json {
    match t {
        FieldType::Array(e) => json!({"Type": type_code(t), "ElemType": field_type_json(e)}),
        FieldType::Struct(fields) => json!({"Type": type_code(t), "StreamFields": fields_json(fields)}),
        _ => json!({"Type": type_code(t)}),
    }
}

fn fields_json(fields: &[FieldDef]) -> Json {
    Json::Array(fields.iter().map(|f| json!({"Name": f.name, "FieldType": field_type_json(&f.ty)})).collect())
}

fn format_text(f: Format) -> &'static str {
    match f {
        Format::Json => "json",
        Format::Binary => "binary",
        Format::Delimited => "delimited",
    }
}

/// The eKuiper `StreamStmt` JSON of a definition.
pub(crate) fn describe_json(d: &StreamDef) -> Json {
    let o = &d.options;
    let mut opts = Map::new();
    opts.insert("DATASOURCE".into(), Json::from(o.datasource.clone()));
    opts.insert("FORMAT".into(), Json::from(format_text(o.format)));
    opts.insert("TYPE".into(), Json::from(o.source_type.clone()));
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            opts.insert(k.into(), Json::from(v));
        }
    };
    put("KEY", o.key.clone());
    put("CONF_KEY", o.conf_key.clone());
    put("TIMESTAMP", o.timestamp.clone());
    put("TIMESTAMP_FORMAT", o.timestamp_format.clone());
    put("KIND", o.kind.clone());
    put("DELIMITER", o.delimiter.clone());
    put("RETAIN_SIZE", o.retain_size.map(|n| n.to_string()));
    if o.strict_validation {
        opts.insert("STRICT_VALIDATION".into(), Json::Bool(true));
    }
    if o.shared {
        opts.insert("SHARED".into(), Json::Bool(true));
    }
    for (k, v) in &o.extra {
        opts.insert(k.to_ascii_uppercase(), Json::from(v.clone()));
    }
    json!({
        "Name": d.name,
        "StreamFields": d.fields.as_deref().map(fields_json).unwrap_or(Json::Null),
        "Options": opts,
        "StreamType": match d.kind { StreamKind::Stream => 0, StreamKind::Table => 1 },
        "Statement": d.sql,
    })
}

/// List stream names.
#[utoipa::path(get, operation_id = "list_streams", path = "/streams", tag = "streams", responses((status = 200, description = "Stream names", body = Vec<String>)))]
pub async fn list(State(s): State<Arc<AppState>>) -> Result<axum::Json<Vec<String>>, ApiError> {
    list_of(s, StreamKind::Stream).await
}

/// Create a stream from its `CREATE STREAM` statement.
#[utoipa::path(
    post,
    operation_id = "create_streams",
    path = "/streams",
    tag = "streams",
    request_body = StreamSql,
    responses(
        (status = 201, description = "`Stream NAME is created.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid statement (the message gives the SQL position)", body = super::ErrorBody),
        (status = 409, description = "The name is taken", body = super::ErrorBody),
    )
)]
pub async fn create(State(s): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    create_of(s, body).await
}

/// Name, type and format of every stream.
#[utoipa::path(get, operation_id = "details_streams", path = "/streamdetails", tag = "streams", responses((status = 200, description = "Stream details", body = Vec<StreamDetail>)))]
pub async fn details(State(s): State<Arc<AppState>>) -> Result<axum::Json<Vec<StreamDetail>>, ApiError> {
    details_of(s, StreamKind::Stream).await
}

/// Describe a stream.
#[utoipa::path(
    get,
    operation_id = "describe_streams",
    path = "/streams/{name}",
    tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses(
        (status = 200, description = "The definition (eKuiper's StreamStmt JSON)", body = Object),
        (status = 404, description = "No such stream", body = super::ErrorBody),
    )
)]
pub async fn describe(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Result<axum::Json<Json>, ApiError> {
    describe_of(s, name, StreamKind::Stream).await
}

/// Replace a stream's definition.
#[utoipa::path(
    put,
    operation_id = "replace_streams",
    path = "/streams/{name}",
    tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = StreamSql,
    responses(
        (status = 200, description = "`Stream NAME is replaced.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid statement", body = super::ErrorBody),
        (status = 404, description = "No such stream", body = super::ErrorBody),
    )
)]
pub async fn replace(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    replace_of(s, name, StreamKind::Stream, body).await
}

/// Drop a stream (refused while a rule uses it).
#[utoipa::path(
    delete,
    operation_id = "drop_streams",
    path = "/streams/{name}",
    tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses(
        (status = 200, description = "`Stream NAME is dropped.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Rules use the stream (they are named)", body = super::ErrorBody),
        (status = 404, description = "No such stream", body = super::ErrorBody),
    )
)]
pub async fn drop(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    drop_of(s, name, StreamKind::Stream).await
}

/// A stream's schema as eKuiper's inferred JSON schema.
#[utoipa::path(
    get,
    operation_id = "schema_streams",
    path = "/streams/{name}/schema",
    tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses(
        (status = 200, description = "Field name to `{\"type\": …}`; `{}` for a schemaless stream", body = Object),
        (status = 404, description = "No such stream", body = super::ErrorBody),
    )
)]
pub async fn schema(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Result<axum::Json<Json>, ApiError> {
    schema_of(s, name, StreamKind::Stream).await
}
