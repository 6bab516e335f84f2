//! The subset of Go templates that eKuiper users write in `dataTemplate`
//! and topic/URL properties: `{{.field}}`, `{{.a.b}}`, `{{index . 0}}`
//! (an element of an array message), `{{json .}}` / `{{json .field}}` and
//! `{{.}}`. Anything else is left as written, so a template never fails a
//! sink at run time.

use super::format::plain;
use serde_json::Value as Json;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// A path of field names / indexes; `json` when wrapped in `json`.
    Path {
        path: Vec<String>,
        json: bool,
        raw: String,
    },
}

impl Template {
    /// Parses `text`; `{{` without `}}` stays text.
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start..].find("}}") else { break };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let raw = &rest[start..start + len + 2];
            let inner = raw[2..raw.len() - 2].trim();
            parts.push(parse_action(inner, raw));
            rest = &rest[start + len + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Self { parts }
    }

    /// Whether the template has any action (is not plain text).
    pub fn is_dynamic(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Path { .. }))
    }

    /// Renders against a message (a row or an array of rows).
    pub fn render(&self, data: &Json) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Path { path, json, raw } => match lookup(data, path) {
                    Some(v) if *json => out.push_str(&v.to_string()),
                    Some(v) => match v {
                        Json::Object(_) | Json::Array(_) => out.push_str(&v.to_string()),
                        other => out.push_str(&plain(other)),
                    },
                    None if path.is_empty() => out.push_str(raw),
                    None => out.push_str("<no value>"),
                },
            }
        }
        out
    }
}

fn parse_action(inner: &str, raw: &str) -> Part {
    let (json, expr) = match inner.strip_prefix("json ") {
        Some(e) => (true, e.trim()),
        None => (false, inner),
    };
    let mut path = Vec::new();
    if let Some(rest) = expr.strip_prefix("index . ") {
        path.extend(rest.split_whitespace().map(|s| s.trim_matches('"').to_string()));
    } else if expr == "." {
    } else if let Some(fields) = expr.strip_prefix('.') {
        path.extend(fields.split('.').map(str::to_string));
    } else {
        return Part::Text(raw.to_string());
    }
    Part::Path { path, json, raw: raw.to_string() }
}

fn lookup<'a>(mut v: &'a Json, path: &[String]) -> Option<&'a Json> {
    for key in path {
        v = match v {
            Json::Object(o) => o.get(key)?,
            Json::Array(a) => a.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders() {
        let row = json!({"device": "d1", "t": 21.5, "o": {"x": 1}});
        assert_eq!(Template::parse("devices/{{.device}}/t").render(&row), "devices/d1/t");
        assert_eq!(Template::parse(r#"{"v":{{.t}},"o":{{json .o}}}"#).render(&row), r#"{"v":21.5,"o":{"x":1}}"#);
        assert_eq!(Template::parse("{{.o.x}}").render(&row), "1");
        assert_eq!(Template::parse("{{index . 0}}").render(&json!([{"a": 1}])), r#"{"a":1}"#);
        assert!(!Template::parse("plain").is_dynamic());
    }
}
