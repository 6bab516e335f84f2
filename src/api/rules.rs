//! `/rules`: create (and start), list with status, describe, update (PUT
//! upserts, as in eKuiper), drop, start/stop/restart, status metrics,
//! topology, explain and validate. Every change is written to the store
//! before the answer: the definition, and whether the rule should run (which
//! is what a restart of the server brings back).

use super::{ApiError, AppState, parse_json, text};
use crate::rule::manager::{ManagerError, RuleDef, RuleManager};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::sync::Arc;
use utoipa::ToSchema;

/// eKuiper's metric names, reported per rule and per operator.
pub const METRIC_NAMES: &[&str] = &[
    "records_in_total",
    "records_out_total",
    "messages_processed_total",
    "process_latency_us",
    "buffer_length",
    "last_invocation",
    "exceptions_total",
    "last_exception",
    "last_exception_time",
];

/// A rule as submitted (eKuiper's rule JSON).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "rule1", "sql": "SELECT * FROM demo", "actions": [{"log": {}}]}))]
pub struct RuleBody {
    /// Unique id (on `PUT`, taken from the path when absent).
    pub id: String,
    /// The query.
    pub sql: String,
    /// Sink actions, each `{"<sink type>": {properties}}`.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Map<String, Json>>,
    /// Rule options (`isEventTime`, `lateTolerance`, `sendError`, `bufferLength`, …).
    #[schema(value_type = Object)]
    pub options: Option<Map<String, Json>>,
    /// Whether to start the rule; `false` creates it stopped. Default `true`.
    pub triggered: Option<bool>,
}

/// One line of `GET /rules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleSummary {
    /// Rule id.
    pub id: String,
    /// `running`, `stopped` or `stopped by error: …`.
    pub status: String,
}

/// `POST /rules/validate` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Validation {
    /// Always `true` in a 200 answer.
    pub valid: bool,
    /// The streams and tables the rule reads.
    pub sources: Vec<String>,
}

/// `GET /rules/{id}/topo` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Topo {
    /// Source nodes.
    pub sources: Vec<String>,
    /// Node to the nodes it feeds.
    #[schema(value_type = Object)]
    pub edges: Map<String, Json>,
}

/// Parses a rule body. `path_id` is the id of a `PUT` path. Returns the
/// definition and the `triggered` flag when given.
fn parse_rule(body: &[u8], path_id: Option<&str>) -> Result<(RuleDef, Option<bool>), ApiError> {
    let Json::Object(mut m) = parse_json(body, "the rule")? else {
        return Err(ApiError::bad_request("invalid body: the rule must be a JSON object"));
    };
    let triggered = match m.remove("triggered") {
        None | Some(Json::Null) => None,
        Some(Json::Bool(b)) => Some(b),
        Some(_) => return Err(ApiError::bad_request("invalid rule: triggered must be a boolean")),
    };
    if let Some(pid) = path_id {
        match m.get("id") {
            None | Some(Json::Null) => {
                m.insert("id".into(), Json::from(pid));
            }
            Some(Json::String(s)) if s.is_empty() => {
                m.insert("id".into(), Json::from(pid));
            }
            Some(Json::String(s)) if s == pid => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid rule: id {other} in the body does not match {pid} in the path"
                )));
            }
        }
    }
    if m.get("sql").is_none_or(Json::is_null) && m.contains_key("graph") {
        return Err(ApiError::bad_request("invalid rule: graph rules are not supported; give the rule a sql"));
    }
    if m.get("options").is_some_and(Json::is_null) {
        m.remove("options");
    }
    if m.get("actions").is_some_and(Json::is_null) {
        m.remove("actions");
    }
    let def: RuleDef =
        serde_json::from_value(Json::Object(m)).map_err(|e| ApiError::bad_request(format!("invalid rule: {e}")))?;
    if def.id.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid rule: id must not contain control characters"));
    }
    if def.id.trim() != def.id {
        return Err(ApiError::bad_request("invalid rule: id must not begin or end with spaces"));
    }
    Ok((def, triggered))
}

/// Creates a rule, started unless `triggered` is false, and stores it.
fn create_rule(s: &AppState, def: RuleDef, triggered: bool) -> Result<(), ApiError> {
    let id = def.id.clone();
    if triggered {
        if let Err(e) = s.manager.create_rule(def.clone()) {
            // A rule that compiled but could not start is not kept: the
            // request failed, so nothing was created.
            if !matches!(e, ManagerError::Duplicate { .. }) && s.manager.rule(&id).is_some() {
                let _ = s.manager.delete_rule(&id);
            }
            return Err(e.into());
        }
    } else {
        if s.manager.rule(&id).is_some() {
            return Err(ManagerError::Duplicate { kind: "rule", name: id }.into());
        }
        s.manager.validate_rule(&def)?;
        s.manager.load_rule(def.clone())?;
    }
    if let Err(e) = s.store.put_rule(&def, triggered) {
        let _ = s.manager.delete_rule(&id);
        return Err(e.into());
    }
    tracing::info!(rule = %id, started = triggered, "rule created");
    Ok(())
}

/// Status and metrics of a rule: `status`, every eKuiper metric for the rule
/// as a whole, and per operator (`source_<stream>_0_<metric>`,
/// `sink_<type>_<n>_0_<metric>`). Operator counters are derived from the
/// rule's counters: a source's records are the rule's input (reported for
/// single-source rules, where that is exact), a sink's input is the rule's
/// output rows.
pub fn rule_metrics(manager: &RuleManager, id: &str) -> Result<Map<String, Json>, ManagerError> {
    let mut m = manager.status(id)?;
    let rin = m.get("records_in_total").cloned().unwrap_or(Json::from(0));
    let rout = m.get("records_out_total").cloned().unwrap_or(Json::from(0));
    m.entry("messages_processed_total").or_insert_with(|| rin.clone());
    m.entry("process_latency_us").or_insert(Json::from(0));
    for name in METRIC_NAMES {
        m.entry(*name).or_insert(Json::from(0));
    }
    let last = m.get("last_invocation").cloned().unwrap_or(Json::from(0));
    let buffer = m.get("buffer_length").cloned().unwrap_or(Json::from(0));
    let sources: Vec<String> = match manager.plan(id) {
        Ok(p) => p.sources.iter().map(|s| s.def.name.clone()).collect(),
        Err(_) => Vec::new(),
    };
    if let [src] = sources.as_slice() {
        m.insert(format!("source_{src}_0_records_in_total"), rin.clone());
        m.insert(format!("source_{src}_0_records_out_total"), rin.clone());
        m.insert(format!("source_{src}_0_messages_processed_total"), rin);
    }
    if let Some(def) = manager.rule(id) {
        for (i, name) in def.actions.iter().flat_map(|a| a.keys()).enumerate() {
            let op = format!("sink_{name}_{i}_0");
            m.insert(format!("{op}_records_in_total"), rout.clone());
            m.insert(format!("{op}_buffer_length"), buffer.clone());
            m.insert(format!("{op}_last_invocation"), last.clone());
        }
    }
    Ok(m)
}

/// The rule's operator graph in eKuiper's topo shape.
fn topo_of(manager: &RuleManager, id: &str) -> Result<Topo, ManagerError> {
    let plan = manager.plan(id)?;
    let def = manager.rule(id).ok_or_else(|| ManagerError::NotFound { kind: "rule", name: id.to_string() })?;
    let source_names: Vec<String> = plan.sources.iter().map(|s| format!("source_{}", s.def.name)).collect();
    let mut edges: Map<String, Json> = Map::new();
    let mut next = 1usize;
    // The plan is walked through its serde form, so new plan nodes show up
    // without changes here: a node is `{"Variant": {fields}}`; `input` and
    // `left` are child nodes, `source` and `right` are source indexes.
    let root = serde_json::to_value(&plan.root).unwrap_or(Json::Null);
    let top = walk(&root, &source_names, &mut edges, &mut next);
    let sinks: Vec<Json> = def
        .actions
        .iter()
        .flat_map(|a| a.keys())
        .enumerate()
        .map(|(i, name)| Json::from(format!("sink_{name}_{i}")))
        .collect();
    for t in top {
        push_edge(&mut edges, &t, sinks.clone());
    }
    let mut sources = source_names;
    sources.dedup();
    Ok(Topo { sources, edges })
}

fn push_edge(edges: &mut Map<String, Json>, from: &str, to: Vec<Json>) {
    let e = edges.entry(from.to_string()).or_insert_with(|| Json::Array(Vec::new()));
    if let Json::Array(v) = e {
        for t in to {
            if !v.contains(&t) {
                v.push(t);
            }
        }
    }
}

/// Adds the edges below `node`; returns the names of the nodes that feed its parent.
fn walk(node: &Json, sources: &[String], edges: &mut Map<String, Json>, next: &mut usize) -> Vec<String> {
    let Some((variant, fields)) = node.as_object().and_then(|o| o.iter().next()) else { return Vec::new() };
    let source_at = |v: &Json| v.as_u64().and_then(|i| sources.get(i as usize)).cloned();
    if variant == "Scan" {
        return fields.get("source").and_then(source_at).into_iter().collect();
    }
    let mut inputs = Vec::new();
    for key in ["left", "input"] {
        if let Some(child) = fields.get(key) {
            inputs.extend(walk(child, sources, edges, next));
        }
    }
    if let Some(r) = fields.get("right").and_then(source_at) {
        inputs.push(r);
    }
    let name = format!("op_{}_{}", *next, variant.to_ascii_lowercase());
    *next += 1;
    for i in inputs {
        push_edge(edges, &i, vec![Json::from(name.clone())]);
    }
    vec![name]
}

/// List rules with their status.
#[utoipa::path(get, operation_id = "list_rules", path = "/rules", tag = "rules", responses((status = 200, description = "Rules and status", body = Vec<RuleSummary>)))]
pub async fn list(State(s): State<Arc<AppState>>) -> Result<axum::Json<Vec<RuleSummary>>, ApiError> {
    s.read(|s| {
        Ok(axum::Json(s.manager.rules().into_iter().map(|(d, status)| RuleSummary { id: d.id, status }).collect()))
    })
    .await
}

/// Create a rule and start it (unless `"triggered": false`).
#[utoipa::path(
    post,
    operation_id = "create_rules",
    path = "/rules",
    tag = "rules",
    request_body = RuleBody,
    responses(
        (status = 201, description = "`Rule ID was created successfully.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid rule: SQL error with position, missing stream, unknown sink", body = super::ErrorBody),
        (status = 409, description = "The id is taken", body = super::ErrorBody),
    )
)]
pub async fn create(State(s): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let (def, triggered) = parse_rule(&body, None)?;
    s.mutate(move |s| {
        let id = def.id.clone();
        create_rule(s, def, triggered.unwrap_or(true))?;
        Ok(text(StatusCode::CREATED, format!("Rule {id} was created successfully.")))
    })
    .await
}

/// Check a rule without creating it.
#[utoipa::path(
    post,
    operation_id = "validate_rules",
    path = "/rules/validate",
    tag = "rules",
    request_body = RuleBody,
    responses(
        (status = 200, description = "The rule is valid", body = Validation),
        (status = 422, description = "Why the rule is invalid", body = super::ErrorBody),
    )
)]
pub async fn validate(State(s): State<Arc<AppState>>, body: Bytes) -> Result<axum::Json<Validation>, ApiError> {
    let unprocessable = |e: ApiError| e.with_status(StatusCode::UNPROCESSABLE_ENTITY);
    let body = match parse_json(&body, "the rule").map_err(unprocessable)? {
        Json::Object(mut m) => {
            if m.get("id").and_then(Json::as_str).is_none_or(str::is_empty) {
                m.insert("id".into(), Json::from("validate"));
            }
            Json::Object(m).to_string()
        }
        _ => return Err(unprocessable(ApiError::bad_request("invalid body: the rule must be a JSON object"))),
    };
    let (def, _) = parse_rule(body.as_bytes(), None).map_err(unprocessable)?;
    s.read(move |s| {
        let plan = s.manager.validate_rule(&def).map_err(|e| unprocessable(e.into()))?;
        let mut sources: Vec<String> = plan.sources.iter().map(|p| p.def.name.clone()).collect();
        sources.dedup();
        Ok(axum::Json(Validation { valid: true, sources }))
    })
    .await
}

/// A rule's definition.
#[utoipa::path(
    get,
    operation_id = "describe_rules",
    path = "/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The rule JSON", body = RuleBody),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn describe(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<axum::Json<RuleDef>, ApiError> {
    s.read(move |s| {
        s.manager.rule(&id).map(axum::Json).ok_or_else(|| ApiError::not_found(format!("rule {id} is not found")))
    })
    .await
}

/// Replace a rule's definition (creating it when absent); a running rule restarts with it.
#[utoipa::path(
    put,
    operation_id = "upsert_rules",
    path = "/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    request_body = RuleBody,
    responses(
        (status = 200, description = "`Rule ID was updated successfully.`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid rule", body = super::ErrorBody),
    )
)]
pub async fn upsert(State(s): State<Arc<AppState>>, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let (def, triggered) = parse_rule(&body, Some(&id))?;
    s.mutate(move |s| {
        let done = text(StatusCode::OK, format!("Rule {id} was updated successfully."));
        let Some(state) = s.manager.rule_state(&id) else {
            create_rule(s, def, triggered.unwrap_or(true))?;
            return Ok(done);
        };
        // Compile first: an invalid update leaves the old rule as it was.
        s.manager.validate_rule(&def)?;
        let was_running = state == crate::rule::manager::RuleState::Running;
        let result = s.manager.replace_rule(def.clone());
        let want = triggered.unwrap_or(was_running);
        let result = result.and_then(|running| match (want, running) {
            (true, false) => s.manager.start_rule(&id),
            (false, true) => s.manager.stop_rule(&id),
            _ => Ok(()),
        });
        s.store.put_rule(&def, want)?;
        result?;
        tracing::info!(rule = %id, "rule updated");
        Ok(done)
    })
    .await
}

/// Stop and delete a rule.
#[utoipa::path(
    delete,
    operation_id = "drop_rules",
    path = "/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "`Rule ID is dropped.`", body = String, content_type = "text/plain"),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn drop(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.mutate(move |s| {
        s.manager.delete_rule(&id)?;
        s.store.delete_rule(&id)?;
        tracing::info!(rule = %id, "rule dropped");
        Ok(text(StatusCode::OK, format!("Rule {id} is dropped.")))
    })
    .await
}

/// Start a stopped rule.
#[utoipa::path(
    post,
    operation_id = "start_rules",
    path = "/rules/{id}/start",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "`Rule ID was started`", body = String, content_type = "text/plain"),
        (status = 400, description = "The rule could not start", body = super::ErrorBody),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn start(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.mutate(move |s| {
        s.manager.start_rule(&id)?;
        s.store.set_rule_running(&id, true)?;
        tracing::info!(rule = %id, "rule started");
        Ok(text(StatusCode::OK, format!("Rule {id} was started")))
    })
    .await
}

/// Stop a rule; its definition stays.
#[utoipa::path(
    post,
    operation_id = "stop_rules",
    path = "/rules/{id}/stop",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "`Rule ID was stopped.`", body = String, content_type = "text/plain"),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn stop(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.mutate(move |s| {
        s.manager.stop_rule(&id)?;
        s.store.set_rule_running(&id, false)?;
        tracing::info!(rule = %id, "rule stopped");
        Ok(text(StatusCode::OK, format!("Rule {id} was stopped.")))
    })
    .await
}

/// Stop and start a rule (recompiling it against the current streams).
#[utoipa::path(
    post,
    operation_id = "restart_rules",
    path = "/rules/{id}/restart",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "`Rule ID was restarted`", body = String, content_type = "text/plain"),
        (status = 400, description = "The rule could not start", body = super::ErrorBody),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn restart(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.mutate(move |s| {
        s.manager.restart_rule(&id)?;
        s.store.set_rule_running(&id, true)?;
        tracing::info!(rule = %id, "rule restarted");
        Ok(text(StatusCode::OK, format!("Rule {id} was restarted")))
    })
    .await
}

/// Status and metrics of a rule.
#[utoipa::path(
    get,
    operation_id = "status_rules",
    path = "/rules/{id}/status",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "`status` plus eKuiper metrics, per rule and per operator", body = Object),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn status(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<axum::Json<Json>, ApiError> {
    s.read(move |s| Ok(axum::Json(Json::Object(rule_metrics(&s.manager, &id)?)))).await
}

/// The rule's operator graph.
#[utoipa::path(
    get,
    operation_id = "topo_rules",
    path = "/rules/{id}/topo",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "Sources and edges", body = Topo),
        (status = 400, description = "The rule no longer compiles", body = super::ErrorBody),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn topo(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<axum::Json<Topo>, ApiError> {
    s.read(move |s| Ok(axum::Json(topo_of(&s.manager, &id)?))).await
}

/// The rule's plan as text.
#[utoipa::path(
    get,
    operation_id = "explain_rules",
    path = "/rules/{id}/explain",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The plan, one node per line", body = String, content_type = "text/plain"),
        (status = 400, description = "The rule no longer compiles", body = super::ErrorBody),
        (status = 404, description = "No such rule", body = super::ErrorBody),
    )
)]
pub async fn explain(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.read(move |s| Ok(text(StatusCode::OK, s.manager.explain(&id)?))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_rule_bodies() {
        let (d, t) = parse_rule(br#"{"id":"r","sql":"SELECT 1","actions":[{"log":{}}],"triggered":false}"#, None)
            .expect("parse");
        assert_eq!(d.id, "r");
        assert_eq!(t, Some(false));
        let (d, t) = parse_rule(br#"{"sql":"SELECT 1","actions":[{"log":{}}]}"#, Some("p")).expect("parse");
        assert_eq!(d.id, "p");
        assert_eq!(t, None);
        let e = parse_rule(br#"{"id":"x","sql":"SELECT 1"}"#, Some("p")).expect_err("mismatch");
        assert!(e.body.message.contains("does not match"), "{}", e.body.message);
        let e = parse_rule(br#"{"id":"x"}"#, None).expect_err("no sql");
        assert!(e.body.message.contains("sql"), "{}", e.body.message);
        let e = parse_rule(b"[1]", None).expect_err("not object");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse_rule(b"", None).is_err());
    }

    #[test]
    fn walks_plan_json() {
        let plan = json!({"Project": {"input": {"Filter": {"input": {"Scan": {"source": 0}}}}, "items": []}});
        let mut edges = Map::new();
        let mut next = 1;
        let top = walk(&plan, &["source_demo".to_string()], &mut edges, &mut next);
        assert_eq!(top, ["op_2_project"]);
        assert_eq!(edges["source_demo"], json!(["op_1_filter"]));
        assert_eq!(edges["op_1_filter"], json!(["op_2_project"]));
    }
}
