//! HTTP push source (`TYPE="httppush"`): Oort listens and clients POST
//! JSON to the stream's `DATASOURCE` path (`/api/data`). One listener per
//! address (`server` in `sources/httppush.yaml`, default `127.0.0.1:10081`)
//! serves every httppush stream; a request is routed by path to every rule
//! reading that path. A JSON array body becomes one record per element.
//! The request is answered once every rule has queued the records, so a
//! slow rule slows its clients down (backpressure) instead of buffering
//! without bound; a path no rule reads answers 404.

use super::{ConnectorError, SourceContext, profile};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use oort_operators::source::{Payload, SourceRecord};
use oort_operators::value::{Meta, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Default listen address.
pub const DEFAULT_SERVER: &str = "127.0.0.1:10081";

/// The payloads of one request.
type Bodies = Vec<Bytes>;

/// Path → the queues of the rules reading it.
type Routes = Arc<Mutex<BTreeMap<String, Vec<(u64, mpsc::Sender<Bodies>)>>>>;

/// A registered route: the routes it is in, its id, its queue.
type Registration = (Routes, u64, mpsc::Receiver<Bodies>);

/// The listeners of httppush streams and their routes.
#[derive(Default)]
pub struct HttpPushHub {
    listeners: Mutex<BTreeMap<SocketAddr, Routes>>,
    next: AtomicU64,
}

impl HttpPushHub {
    /// Routes `path` on `addr` to a new queue, starting the listener for the
    /// first stream on that address.
    fn register(&self, addr: SocketAddr, path: &str, capacity: usize) -> Result<Registration, ConnectorError> {
        let mut listeners = match self.listeners.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        let routes = match listeners.get(&addr) {
            Some(r) => r.clone(),
            None => {
                let std_listener = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|e| ConnectorError::Open {
                        connector: "httppush".into(),
                        message: format!("listening on {addr}: {e}"),
                    })?;
                let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| ConnectorError::Open {
                    connector: "httppush".into(),
                    message: format!("listening on {addr}: {e}"),
                })?;
                let routes: Routes = Arc::default();
                let app = axum::Router::new().fallback(axum::routing::post(receive)).with_state(routes.clone());
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(%addr, error = %e, "httppush listener stopped");
                    }
                });
                tracing::info!(%addr, "httppush listener started");
                listeners.insert(addr, routes.clone());
                routes
            }
        };
        let (tx, rx) = mpsc::channel(capacity);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = routes.lock() {
            r.entry(path.to_string()).or_default().push((id, tx));
        }
        Ok((routes, id, rx))
    }
}

/// Splits a body into record payloads: the elements of a JSON array, or the body.
/// A body that is one record is handed on as it is, without a copy.
pub(crate) fn split(body: &Bytes) -> Vec<Bytes> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
        && let Ok(items) = serde_json::from_slice::<Vec<serde_json::Value>>(body)
    {
        return items.iter().map(|i| Bytes::from(serde_json::to_vec(i).unwrap_or_default())).collect();
    }
    vec![body.clone()]
}

async fn receive(State(routes): State<Routes>, uri: Uri, body: Bytes) -> (StatusCode, String) {
    let targets: Vec<mpsc::Sender<Bodies>> = match routes.lock() {
        Ok(r) => r.get(uri.path()).map(|v| v.iter().map(|(_, s)| s.clone()).collect()).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    if targets.is_empty() {
        return (StatusCode::NOT_FOUND, format!("no stream reads {}", uri.path()));
    }
    let records = split(&body);
    let n = records.len();
    for t in targets {
        let _ = t.send(records.clone()).await;
    }
    (StatusCode::OK, format!("{{\"records\":{n}}}"))
}

struct Unroute {
    routes: Routes,
    path: String,
    id: u64,
}

impl Drop for Unroute {
    fn drop(&mut self) {
        if let Ok(mut r) = self.routes.lock()
            && let Some(v) = r.get_mut(&self.path)
        {
            v.retain(|(i, _)| *i != self.id);
            if v.is_empty() {
                r.remove(&self.path);
            }
        }
    }
}

/// Starts the source of one stream of a rule.
pub fn spawn(ctx: SourceContext) -> Result<tokio::task::JoinHandle<()>, ConnectorError> {
    let props = profile::load(&ctx.env.conf_dir.join("sources"), "httppush", ctx.stream.options.conf_key.as_deref())?;
    let server = props.get("server").and_then(|v| v.as_str()).unwrap_or(DEFAULT_SERVER);
    let server = if server.starts_with(':') { format!("0.0.0.0{server}") } else { server.to_string() };
    let addr: SocketAddr = server.parse().map_err(|_| ConnectorError::BadProperty {
        connector: "httppush".into(),
        property: "server".into(),
        message: format!("{server} is not host:port"),
    })?;
    let mut path = ctx.stream.options.datasource.clone();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let (routes, id, mut rx) = ctx.env.http_push.register(addr, &path, 64)?;
    let mut meta = Meta::new();
    meta.insert("path".into(), Value::from(path.as_str()));
    let meta = Arc::new(meta);
    Ok(tokio::spawn(async move {
        let _unroute = Unroute { routes, path, id };
        while let Some(payloads) = rx.recv().await {
            let now = ctx.clock.now_ms();
            let batch: Vec<SourceRecord> = payloads
                .into_iter()
                .map(|p| SourceRecord { payload: Payload::Bytes(p), meta: Some(meta.clone()), ts: now })
                .collect();
            if ctx.feed.send(batch).await.is_err() {
                break;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arrays() {
        assert_eq!(split(&Bytes::from_static(br#"[{"a":1}, {"a":2}]"#)).len(), 2);
        assert_eq!(split(&Bytes::from_static(br#"{"a":1}"#)).len(), 1);
        assert_eq!(split(&Bytes::from_static(b"not json")).len(), 1);
    }
}
