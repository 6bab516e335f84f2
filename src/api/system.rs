//! Server-level endpoints: `GET /` (version, OS, uptime, as eKuiper answers),
//! `GET /ping` (liveness, open even when a token is configured) and
//! `GET /metrics` (every rule's status metrics in Prometheus text format).

use super::rules::rule_metrics;
use super::{ApiError, AppState};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;
use utoipa::ToSchema;

/// `GET /` answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// Oort's version.
    pub version: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Seconds since the server started.
    pub up_time_seconds: u64,
}

/// Server information.
#[utoipa::path(get, operation_id = "info", path = "/", tag = "system", responses((status = 200, description = "Server information", body = Info)))]
pub async fn info(State(s): State<Arc<AppState>>) -> axum::Json<Info> {
    axum::Json(Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        up_time_seconds: s.started.elapsed().as_secs(),
    })
}

/// Liveness check.
#[utoipa::path(get, operation_id = "ping", path = "/ping", tag = "system", security(()), responses((status = 200, description = "The server is up")))]
pub async fn ping() {}

/// Every rule's metrics in Prometheus text format.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "system",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let text = s.read(|s| Ok(prometheus(s))).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// Renders the exposition: per rule `kuiper_rule_status` and every numeric
/// rule metric as `kuiper_rule_<metric>{rule=…}`, per operator as
/// `kuiper_op_<metric>{rule=…,op=…,instance=…}`, and `kuiper_rule_count`.
fn prometheus(s: &AppState) -> String {
    // family -> (help, type, samples)
    let mut families: Vec<(String, &'static str, Vec<String>)> = Vec::new();
    let mut add =
        |name: String, kind: &'static str, sample: String| match families.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, _, v)) => v.push(sample),
            None => families.push((name, kind, vec![sample])),
        };
    let (mut running, mut stopped) = (0u64, 0u64);
    for (def, status) in s.manager.rules() {
        let id = escape(&def.id);
        let code = if status == "running" {
            running += 1;
            1
        } else if status == "stopped" {
            stopped += 1;
            0
        } else {
            stopped += 1;
            -1
        };
        add("kuiper_rule_status".into(), "gauge", format!("kuiper_rule_status{{rule=\"{id}\"}} {code}"));
        let Ok(m) = rule_metrics(&s.manager, &def.id) else { continue };
        for (k, v) in &m {
            let Some(n) = v.as_f64() else { continue };
            if let Some((op_kind, op, instance, metric)) = split_op_key(k) {
                let name = format!("kuiper_op_{metric}");
                let kind = metric_kind(metric);
                add(
                    name.clone(),
                    kind,
                    format!(
                        "{name}{{rule=\"{id}\",type=\"{op_kind}\",op=\"{}\",instance=\"{instance}\"}} {n}",
                        escape(op)
                    ),
                );
            } else if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                let name = format!("kuiper_rule_{k}");
                add(name.clone(), metric_kind(k), format!("{name}{{rule=\"{id}\"}} {n}"));
            }
        }
    }
    add("kuiper_rule_count".into(), "gauge", format!("kuiper_rule_count{{status=\"running\"}} {running}"));
    add("kuiper_rule_count".into(), "gauge", format!("kuiper_rule_count{{status=\"stop\"}} {stopped}"));
    let mut out = String::new();
    for (name, kind, samples) in families {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for sm in samples {
            let _ = writeln!(out, "{sm}");
        }
    }
    out
}

/// Splits `source_demo_0_records_in_total` into `(source, demo, 0, records_in_total)`.
fn split_op_key(key: &str) -> Option<(&str, &str, &str, &'static str)> {
    let (kind, rest) = key.split_once('_')?;
    if kind != "source" && kind != "sink" && kind != "op" {
        return None;
    }
    let metric = super::rules::METRIC_NAMES.iter().copied().find(|m| rest.ends_with(&format!("_{m}")))?;
    let head = &rest[..rest.len() - metric.len() - 1];
    let (op, instance) = head.rsplit_once('_')?;
    Some((kind, op, instance, metric))
}

fn metric_kind(metric: &str) -> &'static str {
    if metric.ends_with("_total") { "counter" } else { "gauge" }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_operator_keys() {
        assert_eq!(split_op_key("source_demo_0_records_in_total"), Some(("source", "demo", "0", "records_in_total")));
        assert_eq!(split_op_key("sink_file_0_0_buffer_length"), Some(("sink", "file_0", "0", "buffer_length")));
        assert_eq!(split_op_key("records_in_total"), None);
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
