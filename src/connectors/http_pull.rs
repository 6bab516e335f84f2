//! HTTP pull source (`TYPE="httppull"`): polls `url` (from the
//! `sources/httppull.yaml` profile, or `DATASOURCE` when it is a URL) every
//! `interval` ms with `method` and `headers`, and feeds the response body
//! (one record, or one per element of a JSON array). With
//! `incremental: true` an unchanged body is skipped. A failed request or a
//! non-2xx answer counts as an exception and polling goes on.

use super::{ConnectorError, SourceContext, profile};
use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::{Meta, Value};
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Duration;

/// Starts the poller of one stream of a rule.
pub fn spawn(ctx: SourceContext) -> Result<tokio::task::JoinHandle<()>, ConnectorError> {
    let props = profile::load(&ctx.env.conf_dir.join("sources"), "httppull", ctx.stream.options.conf_key.as_deref())?;
    let ds = &ctx.stream.options.datasource;
    let url = if ds.starts_with("http://") || ds.starts_with("https://") {
        ds.clone()
    } else {
        let base = props.get("url").and_then(Json::as_str).unwrap_or_default();
        format!(
            "{}{}",
            base.trim_end_matches('/'),
            if ds.is_empty() || ds == "/" { String::new() } else { format!("/{}", ds.trim_start_matches('/')) }
        )
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConnectorError::BadProperty {
            connector: "httppull".into(),
            property: "url".into(),
            message: format!("{url:?} is not an http(s) URL"),
        });
    }
    let interval = Duration::from_millis(props.get("interval").and_then(Json::as_u64).unwrap_or(10_000).max(10));
    let method = match props.get("method").and_then(Json::as_str).unwrap_or("GET").to_ascii_uppercase().as_str() {
        "POST" => reqwest::Method::POST,
        _ => reqwest::Method::GET,
    };
    let headers: Vec<(String, String)> = props
        .get("headers")
        .and_then(Json::as_object)
        .map(|h| h.iter().map(|(k, v)| (k.clone(), super::format::plain(v))).collect())
        .unwrap_or_default();
    let incremental = props.get("incremental").and_then(Json::as_bool).unwrap_or(false);
    let timeout = Duration::from_millis(props.get("timeout").and_then(Json::as_u64).unwrap_or(5000).max(1));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ConnectorError::Open { connector: "httppull".into(), message: e.to_string() })?;
    let mut meta = Meta::new();
    meta.insert("url".into(), Value::from(url.as_str()));
    let meta = Arc::new(meta);
    Ok(tokio::spawn(async move {
        let mut last: Option<bytes::Bytes> = None;
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let mut req = client.request(method.clone(), &url);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let body = match req.send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.map_err(|e| e.to_string()),
                Ok(r) => Err(format!("status {}", r.status())),
                Err(e) => Err(e.to_string()),
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    ctx.metrics.exception(&format!("httppull {url}: {e}"), ctx.clock.now_ms());
                    continue;
                }
            };
            if incremental && last.as_deref() == Some(&body[..]) {
                continue;
            }
            let now = ctx.clock.now_ms();
            let batch: Vec<SourceRecord> = super::http_push::split(&body)
                .into_iter()
                .map(|p| SourceRecord { payload: Payload::Bytes(p), meta: Some(meta.clone()), ts: now })
                .collect();
            if incremental {
                last = Some(body);
            }
            if ctx.feed.send(batch).await.is_err() {
                break;
            }
        }
    }))
}
