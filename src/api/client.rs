//! A small HTTP/1.1 client for the REST API (plain HTTP, one connection per
//! request), used by the `oort` CLI subcommands and by the tests. It knows
//! the server address and the optional bearer token, and nothing else.

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// What can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server address is not `http://host:port` or `host:port`.
    #[error("bad server address {0}: expected http://HOST:PORT")]
    Address(String),
    /// The server could not be reached.
    #[error("cannot reach the server at {addr}: {message}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        message: String,
    },
    /// The exchange failed midway.
    #[error("request to {addr} failed: {message}")]
    Http {
        /// `host:port`.
        addr: String,
        /// Why.
        message: String,
    },
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// For an error answer, its `message`; otherwise the body.
    pub fn message(&self) -> String {
        self.json()
            .and_then(|j| j.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| self.body.clone())
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    addr: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client of `server` (`http://127.0.0.1:9081` or `127.0.0.1:9081`).
    pub fn new(server: &str, token: Option<String>) -> Result<Self, ClientError> {
        let rest = server.strip_prefix("http://").unwrap_or(server);
        if rest.contains("://") {
            return Err(ClientError::Address(server.to_string()));
        }
        let addr = rest.trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') || !addr.contains(':') {
            return Err(ClientError::Address(server.to_string()));
        }
        Ok(Self { addr: addr.to_string(), token: token.filter(|t| !t.is_empty()), timeout: Duration::from_secs(30) })
    }

    /// The `host:port` it talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends a request; `path` must already be percent-encoded (see [`segment`]).
    pub async fn request(&self, method: &str, path: &str, body: Option<String>) -> Result<Reply, ClientError> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, body)).await.map_err(|_| ClientError::Http {
            addr: self.addr.clone(),
            message: format!("no answer within {}s", self.timeout.as_secs()),
        })?
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<String>) -> Result<Reply, ClientError> {
        let http = |e: &dyn std::fmt::Display| ClientError::Http { addr: self.addr.clone(), message: e.to_string() };
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| ClientError::Connect { addr: self.addr.clone(), message: e.to_string() })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| http(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.addr)
            .header(hyper::header::ACCEPT, "application/json, text/plain");
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| http(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map_err(|e| http(&e))?.to_bytes();
        Ok(Reply { status, body: String::from_utf8_lossy(&bytes).into_owned() })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.request("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<Reply, ClientError> {
        self.request("POST", path, Some(body.to_string())).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &serde_json::Value) -> Result<Reply, ClientError> {
        self.request("PUT", path, Some(body.to_string())).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Reply, ClientError> {
        self.request("DELETE", path, None).await
    }
}

/// Percent-encodes one path segment (a stream name or rule id).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_segments() {
        assert_eq!(Client::new("http://127.0.0.1:9081/", None).expect("addr").addr(), "127.0.0.1:9081");
        assert_eq!(Client::new("localhost:1", None).expect("addr").addr(), "localhost:1");
        assert!(Client::new("https://x:1", None).is_err());
        assert!(Client::new("x", None).is_err());
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
