//! The REST API, on eKuiper's paths and payloads: this module owns the router,
//! the shared request state, bearer-token auth, the body size limit and the
//! JSON error shape; one submodule per resource holds its handlers
//! ([`streams`], [`tables`], [`rules`], [`metadata`], [`system`], [`plugins`]), [`openapi`]
//! the generated OpenAPI document, and [`client`] the small HTTP client that
//! the CLI and the tests use.
//!
//! Handlers never touch dataflows: they call the [`RuleManager`] and the
//! [`Store`]. Changes go through [`AppState::mutate`], which serialises them
//! and writes the store before the response is sent, so a change is durable
//! when its call returns.

pub mod client;
pub mod metadata;
pub mod openapi;
pub mod plugins;
pub mod rules;
pub mod streams;
pub mod system;
pub mod tables;

use crate::config::RestConfig;
use crate::rule::manager::{ManagerError, RuleManager};
use crate::rule::store::{Store, StoreError};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

/// What every handler shares.
pub struct AppState {
    /// Streams, tables, rules.
    pub manager: Arc<RuleManager>,
    /// Their persisted definitions.
    pub store: Arc<Store>,
    /// When the server started (for `GET /`).
    pub started: Instant,
    /// Serialises changes, so the manager and the store change in the same order.
    write: tokio::sync::Mutex<()>,
}

impl AppState {
    /// State over a manager and its store.
    pub fn new(manager: Arc<RuleManager>, store: Arc<Store>) -> Self {
        Self { manager, store, started: Instant::now(), write: tokio::sync::Mutex::new(()) }
    }

    /// Runs `f` off the async threads (the manager and SQLite block briefly).
    /// A panic in `f` becomes a 500 answer, never the end of the server.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let s = self.clone();
        tokio::task::spawn_blocking(move || f(&s))
            .await
            .map_err(|e| ApiError::internal(format!("request handler failed: {e}")))?
    }

    /// Like [`read`](Self::read), for a change: one change at a time, and the
    /// store is written before the answer goes out.
    pub async fn mutate<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let _guard = self.write.lock().await;
        self.read(f).await
    }
}

/// The JSON body of every error answer (eKuiper's `{"error": code, "message": …}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// eKuiper-style error code: 1000 for a bad request, 1002 for not found,
    /// 1001 for a duplicate, 1005 for a server-side failure.
    pub error: u32,
    /// What is wrong and where.
    pub message: String,
    /// 1-based line in the SQL, when the error has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based column in the SQL, when the error has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let error = match status {
            StatusCode::NOT_FOUND => 1002,
            StatusCode::CONFLICT => 1001,
            s if s.is_server_error() => 1005,
            _ => 1000,
        };
        Self { status, body: ErrorBody { error, message: message.into(), line: None, column: None } }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(error = %message, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The same error with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        let keep = self.body.clone();
        self = Self::new(status, keep.message);
        self.body.line = keep.line;
        self.body.column = keep.column;
        self
    }
}

impl From<ManagerError> for ApiError {
    fn from(e: ManagerError) -> Self {
        let status = match &e {
            ManagerError::NotFound { .. } => StatusCode::NOT_FOUND,
            ManagerError::Duplicate { .. } => StatusCode::CONFLICT,
            ManagerError::Compile(_)
            | ManagerError::Invalid(_)
            | ManagerError::InUse { .. }
            | ManagerError::Connector(_) => StatusCode::BAD_REQUEST,
            ManagerError::Runtime(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let pos = match &e {
            ManagerError::Compile(c) => compile_pos(c),
            _ => None,
        };
        let mut err =
            if status.is_server_error() { Self::internal(e.to_string()) } else { Self::new(status, e.to_string()) };
        if let Some(p) = pos {
            err.body.line = Some(p.line);
            err.body.column = Some(p.column);
        }
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(format!("could not persist the change: {e}"))
    }
}

/// The SQL position of a compile error, when it has one.
fn compile_pos(e: &oort_compiler::CompileError) -> Option<oort_compiler::error::Pos> {
    use oort_compiler::CompileError as C;
    match e {
        C::Syntax { pos, .. } | C::UnknownField { pos, .. } | C::UnknownFunction { pos, .. } => Some(*pos),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// A plain-text answer (eKuiper answers most changes with a sentence).
pub fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Parses a JSON request body, whatever its declared content type (curl
/// users often send `-d` without one), saying what is wrong.
pub fn parse_json(body: &[u8], what: &str) -> Result<serde_json::Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("invalid body: {what} is required as a JSON object")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {what} is not valid JSON: {e}")))
}

/// The REST router with its OpenAPI document at `/openapi.json`.
pub fn router(state: Arc<AppState>, rest: &RestConfig) -> axum::Router {
    let (router, doc) = openapi::routes().split_for_parts();
    let doc = Arc::new(doc);
    let token = rest.token.clone().filter(|t| !t.is_empty()).map(Arc::<str>::from);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(token, auth))
        .layer(DefaultBodyLimit::max(rest.max_body_bytes))
        .with_state(state)
}

/// Bearer-token check: when a token is configured, every endpoint but `/ping` requires it.
async fn auth(State(token): State<Option<Arc<str>>>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let Some(token) = token else { return next.run(req).await };
    if req.uri().path() == "/ping" {
        return next.run(req).await;
    }
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if constant_time_eq(g.trim().as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid bearer token").into_response(),
        None => ApiError::new(StatusCode::UNAUTHORIZED, "this server requires an Authorization: Bearer <token> header")
            .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn error_codes() {
        assert_eq!(ApiError::not_found("x").body.error, 1002);
        assert_eq!(ApiError::bad_request("x").body.error, 1000);
        let e = ApiError::bad_request("x").with_status(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
