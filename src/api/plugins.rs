//! `/plugins/{sources|sinks|functions}`: installing, listing, describing and deleting plugins,
//! on eKuiper's paths and payloads. The handlers talk to the server's
//! [`PluginManager`] (through the connector environment) and, to
//! refuse deleting a plugin in use, to the rule manager.
//!
//! Installing a name that is already installed hot-reloads it: rules started from then on bind
//! to the new version, running rules keep the old one until restarted.

use super::{ApiError, AppState, parse_json, text};
use crate::plugins::{PluginManager, PluginManagerError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use oort_plugin_host::{PluginKind, RegistryError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// `POST /plugins/{kind}` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PluginInstall {
    /// The plugin name (`mysql`); the library in the package must be `Name@vX.Y.Z.so` (or `name.so`).
    pub name: String,
    /// Where the package is: a path, a `file://` URL or an `http://` URL of a zip or a library.
    pub file: String,
}

/// `GET /plugins/{kind}/{name}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginDescription {
    /// Installed name.
    pub name: String,
    /// Declared version (`1.0.0`).
    pub version: String,
    /// The SQL functions a function plugin exports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
}

/// Which plugins a path names.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKindPath {
    /// Source plugins (`TYPE=` of a stream).
    Sources,
    /// Sink plugins (rule actions).
    Sinks,
    /// Function plugins (SQL functions).
    Functions,
}

fn kind_of(kind: &str) -> Result<PluginKind, ApiError> {
    PluginKind::parse(kind)
        .ok_or_else(|| ApiError::not_found(format!("no plugin kind `{kind}`: use sources, sinks or functions")))
}

/// eKuiper's singular kind word in answers (`sink plugin mysql is created`).
fn singular(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Source => "source",
        PluginKind::Sink => "sink",
        PluginKind::Function => "function",
    }
}

fn plugins(s: &AppState) -> Result<Arc<PluginManager>, ApiError> {
    s.manager.env().plugins.clone().ok_or_else(|| ApiError::not_found("plugins are not enabled on this server"))
}

impl From<PluginManagerError> for ApiError {
    fn from(e: PluginManagerError) -> Self {
        let status = match &e {
            PluginManagerError::Registry(RegistryError::NotFound { .. }) => StatusCode::NOT_FOUND,
            PluginManagerError::Registry(RegistryError::InUse { .. }) => StatusCode::CONFLICT,
            PluginManagerError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        if status.is_server_error() { ApiError::internal(e.to_string()) } else { ApiError::new(status, e.to_string()) }
    }
}

/// Install (or hot-reload) a plugin from a zip or library.
#[utoipa::path(
    post,
    operation_id = "install_plugin",
    path = "/plugins/{kind}",
    tag = "plugins",
    params(("kind" = PluginKindPath, Path, description = "sources, sinks or functions")),
    request_body = PluginInstall,
    responses(
        (status = 201, description = "`sink plugin NAME is created`", body = String, content_type = "text/plain"),
        (status = 400, description = "The file cannot be fetched, is not a valid package or plugin (the message says why)", body = super::ErrorBody),
        (status = 404, description = "No such plugin kind", body = super::ErrorBody),
    )
)]
pub async fn install(
    State(s): State<Arc<AppState>>,
    Path(kind): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    let json = parse_json(&body, "a plugin {\"name\", \"file\"}")?;
    let req: PluginInstall = serde_json::from_value(json)
        .map_err(|e| ApiError::bad_request(format!("invalid body: expected {{\"name\", \"file\"}}: {e}")))?;
    s.mutate(move |s| {
        let info = plugins(s)?.install(kind, &req.name, &req.file)?;
        Ok(text(StatusCode::CREATED, format!("{} plugin {} is created", singular(kind), info.name)))
    })
    .await
}

/// Names of the installed plugins of a kind.
#[utoipa::path(
    get,
    operation_id = "list_plugins",
    path = "/plugins/{kind}",
    tag = "plugins",
    params(("kind" = PluginKindPath, Path, description = "sources, sinks or functions")),
    responses(
        (status = 200, description = "Plugin names", body = Vec<String>),
        (status = 404, description = "No such plugin kind", body = super::ErrorBody),
    )
)]
pub async fn list(
    State(s): State<Arc<AppState>>,
    Path(kind): Path<String>,
) -> Result<axum::Json<Vec<String>>, ApiError> {
    let kind = kind_of(&kind)?;
    s.read(move |s| Ok(axum::Json(plugins(s)?.list(kind)))).await
}

/// Name and version of an installed plugin.
#[utoipa::path(
    get,
    operation_id = "describe_plugin",
    path = "/plugins/{kind}/{name}",
    tag = "plugins",
    params(
        ("kind" = PluginKindPath, Path, description = "sources, sinks or functions"),
        ("name" = String, Path, description = "Plugin name"),
    ),
    responses(
        (status = 200, description = "`{\"name\": \"mysql\", \"version\": \"1.0.0\"}`", body = PluginDescription),
        (status = 404, description = "Not installed", body = super::ErrorBody),
    )
)]
pub async fn describe(
    State(s): State<Arc<AppState>>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<axum::Json<PluginDescription>, ApiError> {
    let kind = kind_of(&kind)?;
    s.read(move |s| {
        let info = plugins(s)?
            .get(kind, &name)
            .ok_or_else(|| ApiError::not_found(format!("no {} plugin named `{name}` is installed", kind.as_str())))?;
        Ok(axum::Json(PluginDescription { name: info.name, version: info.version, functions: info.functions }))
    })
    .await
}

/// Remove a plugin no rule uses.
#[utoipa::path(
    delete,
    operation_id = "delete_plugin",
    path = "/plugins/{kind}/{name}",
    tag = "plugins",
    params(
        ("kind" = PluginKindPath, Path, description = "sources, sinks or functions"),
        ("name" = String, Path, description = "Plugin name"),
    ),
    responses(
        (status = 200, description = "`sink plugin NAME is deleted`", body = String, content_type = "text/plain"),
        (status = 404, description = "Not installed", body = super::ErrorBody),
        (status = 409, description = "Rules use it (the message names them)", body = super::ErrorBody),
    )
)]
pub async fn delete(
    State(s): State<Arc<AppState>>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&kind)?;
    s.mutate(move |s| {
        let plugins = plugins(s)?;
        let rules: Vec<_> = s.manager.rules().into_iter().map(|(def, _)| def).collect();
        let plans: Vec<_> = rules.iter().map(|def| s.manager.plan(&def.id).ok()).collect();
        let users = plugins.users(kind, &name, rules.iter().zip(plans.iter().map(Option::as_ref)));
        plugins.delete(kind, &name, &users)?;
        Ok(text(StatusCode::OK, format!("{} plugin {name} is deleted", singular(kind))))
    })
    .await
}
