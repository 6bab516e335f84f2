//! How a sink turns one message into bytes (`format` property): `json`
//! (default), `delimited` (one line per row, values joined by `delimiter`,
//! `fields` order or the row's own), and `binary` (the bytes of one field,
//! `binaryField`, default the row's only field, base64 if it is a string).
//! A message already rendered by `dataTemplate` is a string and is sent
//! verbatim whatever the format.

use super::ConnectorError;
use serde_json::{Map, Value as Json};

/// A sink's payload format.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SinkFormat {
    /// JSON text.
    #[default]
    Json,
    /// Values joined by a delimiter, one line per row.
    Delimited {
        /// Separator between values.
        delimiter: String,
        /// Print a header line of field names first.
        header: bool,
    },
    /// The raw bytes of one field.
    Binary {
        /// The field holding the bytes; `None` for a row's only field.
        field: Option<String>,
    },
}

impl SinkFormat {
    /// Reads `format`, `delimiter`, `hasHeader` and `binaryField`.
    pub fn from_props(connector: &str, props: &Map<String, Json>) -> Result<Self, ConnectorError> {
        let name = props.get("format").and_then(Json::as_str).unwrap_or("json").to_ascii_lowercase();
        match name.as_str() {
            "json" => Ok(Self::Json),
            "delimited" => Ok(Self::Delimited {
                delimiter: props.get("delimiter").and_then(Json::as_str).unwrap_or(",").to_string(),
                header: props.get("hasHeader").and_then(Json::as_bool).unwrap_or(false),
            }),
            "binary" => Ok(Self::Binary { field: props.get("binaryField").and_then(Json::as_str).map(str::to_string) }),
            other => Err(ConnectorError::BadProperty {
                connector: connector.to_string(),
                property: "format".into(),
                message: format!("unknown format {other}; expected json, delimited or binary"),
            }),
        }
    }

    /// The bytes of one message.
    pub fn encode(&self, message: &Json) -> Vec<u8> {
        if let Json::String(s) = message {
            return s.clone().into_bytes();
        }
        match self {
            Self::Json => serde_json::to_vec(message).unwrap_or_default(),
            Self::Delimited { delimiter, header } => {
                let rows: Vec<&Map<String, Json>> = match message {
                    Json::Array(a) => a.iter().filter_map(Json::as_object).collect(),
                    Json::Object(o) => vec![o],
                    _ => Vec::new(),
                };
                let mut lines = Vec::new();
                if *header && let Some(first) = rows.first() {
                    lines.push(first.keys().cloned().collect::<Vec<_>>().join(delimiter));
                }
                for r in rows {
                    lines.push(r.values().map(plain).collect::<Vec<_>>().join(delimiter));
                }
                lines.join("\n").into_bytes()
            }
            Self::Binary { field } => {
                let row = match message {
                    Json::Array(a) => a.first().and_then(Json::as_object),
                    Json::Object(o) => Some(o),
                    _ => None,
                };
                let value = row.and_then(|r| match field {
                    Some(f) => r.get(f),
                    None => r.values().next(),
                });
                match value {
                    Some(Json::String(s)) => decode_base64(s).unwrap_or_else(|| s.clone().into_bytes()),
                    Some(Json::Array(a)) => a.iter().filter_map(|b| b.as_u64().map(|b| b as u8)).collect(),
                    Some(other) => plain(other).into_bytes(),
                    None => Vec::new(),
                }
            }
        }
    }
}

/// A value as text without JSON quotes for strings.
pub fn plain(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// Standard base64 (with or without padding); `None` when `s` is not base64.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.trim_end_matches('=').as_bytes();
    if bytes.is_empty() || bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = chunk.len() - 1;
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats() {
        let m = json!([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]);
        assert_eq!(SinkFormat::Json.encode(&m), br#"[{"a":1,"b":"x"},{"a":2,"b":"y"}]"#.to_vec());
        let d = SinkFormat::Delimited { delimiter: ",".into(), header: true };
        assert_eq!(String::from_utf8(d.encode(&m)).unwrap(), "a,b\n1,x\n2,y");
        let b = SinkFormat::Binary { field: Some("b".into()) };
        assert_eq!(b.encode(&json!({"b": "aGVsbG8="})), b"hello".to_vec());
        assert_eq!(SinkFormat::Json.encode(&json!("templated")), b"templated".to_vec());
    }
}
