//! The embedded MQTT broker (rumqttd, MQTT 3.1.1) that `oort serve` runs when
//! `mqtt.embedded_broker` is on, so MQTT streams and sinks work with no
//! external service; tests start one on a free port. rumqttd runs on its own
//! threads (router and listener); it lives as long as the process.
//!
//! rumqttd only logs a failed bind from its listener thread, so the port is
//! checked first and a taken port is reported with the setting to change.

use std::net::{SocketAddr, TcpListener};

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The port is in use (another broker, often).
    #[error(
        "the embedded MQTT broker cannot listen on {addr}: {source}. Another MQTT broker may run there; \
         set `mqtt.port` in oort.yaml to a free port (and `server` of the default profile in \
         sources/mqtt.yaml to match), or set `mqtt.embedded_broker: false` to use that broker"
    )]
    PortTaken {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The broker could not be configured or started.
    #[error("the embedded MQTT broker did not start: {0}")]
    Start(String),
}

/// Starts a broker listening on `addr` (loopback in practice).
pub fn start(addr: SocketAddr) -> Result<(), BrokerError> {
    drop(TcpListener::bind(addr).map_err(|source| BrokerError::PortTaken { addr, source })?);
    let config: rumqttd::Config = serde_json::from_value(serde_json::json!({
        "id": 0,
        "router": {
            "id": 0,
            "max_connections": 10010,
            "max_outgoing_packet_count": 1000,
            "max_segment_size": 16 << 20,
            "max_segment_count": 4
        },
        "v4": {
            "1": {
                "name": "oort-embedded-v4",
                "listen": addr.to_string(),
                "next_connection_delay_ms": 1,
                "connections": {
                    "connection_timeout_ms": 60000,
                    "max_payload_size": 16 << 20,
                    "max_inflight_count": 500,
                    "dynamic_filters": true
                }
            }
        }
    }))
    .map_err(|e| BrokerError::Start(e.to_string()))?;
    std::thread::Builder::new()
        .name("oort-mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    // Wait until the listener accepts connections.
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            tracing::info!(%addr, "embedded MQTT broker listening");
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(BrokerError::Start(format!("not listening on {addr} after 2 s")))
}

/// Starts the broker of `oort serve` on loopback `port`; a failure is logged
/// (naming the setting to change) and the server goes on without it.
pub fn start_embedded(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = start(addr) {
        tracing::error!("{e}");
    }
}
