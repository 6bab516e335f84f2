//! REST sink: sends each message to `url` (a template) with `method`
//! (POST default, PUT, PATCH, DELETE, GET), `headers` (values may be
//! templates) and the body in `format` or the `dataTemplate` text
//! (`bodyType` json/text picks the default content type). Any answer
//! outside 2xx, a timeout (`timeout`, ms) or a connection error fails the
//! delivery, which the sink driver retries and caches (`enableCache`) so
//! rows arrive in order once the server is back.

use super::ConnectorError;
use super::format::SinkFormat;
use super::sink::{Sink, SinkError, SinkFuture};
use super::template::Template;
use serde_json::{Map, Value as Json};
use std::time::Duration;

/// Sends results over HTTP.
pub struct RestSink {
    client: reqwest::Client,
    url: Template,
    method: reqwest::Method,
    headers: Vec<(String, Template)>,
    content_type: &'static str,
    format: SinkFormat,
}

fn bad(property: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::BadProperty { connector: "rest".into(), property: property.into(), message: message.into() }
}

impl RestSink {
    /// Requires `url`.
    pub fn new(props: &Map<String, Json>) -> Result<Self, ConnectorError> {
        let url = props
            .get("url")
            .and_then(Json::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad("url", "a URL is required"))?;
        let method = props.get("method").and_then(Json::as_str).unwrap_or("POST").to_ascii_uppercase();
        let method = match method.as_str() {
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            "DELETE" => reqwest::Method::DELETE,
            "GET" => reqwest::Method::GET,
            other => return Err(bad("method", format!("{other} is not one of POST, PUT, PATCH, DELETE, GET"))),
        };
        let headers = match props.get("headers") {
            Some(Json::Object(h)) => {
                h.iter().map(|(k, v)| (k.clone(), Template::parse(&super::format::plain(v)))).collect()
            }
            Some(Json::Null) | None => Vec::new(),
            Some(_) => return Err(bad("headers", "an object of header names to values is expected")),
        };
        let content_type = match props.get("bodyType").and_then(Json::as_str).unwrap_or("json") {
            "json" => "application/json",
            "text" | "none" => "text/plain",
            "form" => "application/x-www-form-urlencoded",
            other => return Err(bad("bodyType", format!("{other} is not json, text or form"))),
        };
        let timeout_ms = props.get("timeout").and_then(Json::as_u64).unwrap_or(5000);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms.max(1)))
            .build()
            .map_err(|e| ConnectorError::Open { connector: "rest".into(), message: e.to_string() })?;
        Ok(Self {
            client,
            url: Template::parse(url),
            method,
            headers,
            content_type,
            format: SinkFormat::from_props("rest", props)?,
        })
    }
}

impl Sink for RestSink {
    fn name(&self) -> &str {
        "rest"
    }

    fn collect<'a>(&'a mut self, message: &'a Json) -> SinkFuture<'a> {
        self.collect_rendered(message, message)
    }

    fn collect_rendered<'a>(&'a mut self, message: &'a Json, data: &'a Json) -> SinkFuture<'a> {
        Box::pin(async move {
            let url = self.url.render(data);
            let mut req =
                self.client.request(self.method.clone(), &url).header(reqwest::header::CONTENT_TYPE, self.content_type);
            for (k, v) in &self.headers {
                req = req.header(k.as_str(), v.render(data));
            }
            if self.method != reqwest::Method::GET {
                req = req.body(self.format.encode(message));
            }
            let resp = req.send().await.map_err(|e| SinkError(format!("{} {url}: {e}", self.method)))?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else {
                let body = resp.text().await.unwrap_or_default();
                Err(SinkError(format!(
                    "{} {url}: status {status}: {}",
                    self.method,
                    body.chars().take(200).collect::<String>()
                )))
            }
        })
    }
}
