//! The embedded MQTT broker (rumqttd) that `oort serve` runs when
//! `mqtt.embedded_broker` is on, so MQTT streams and sinks work with no
//! external service; tests start one on a free port. rumqttd serves MQTT
//! 3.1.1 on one listener and, optionally, MQTT 5 on another
//! (`mqtt.v5_port`); both share one router, so a message published over
//! one protocol reaches subscribers of the other. rumqttd runs on its own
//! threads (router and listeners); it lives as long as the process.
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

/// Starts a broker listening on `addr` (MQTT 3.1.1; loopback in practice).
pub fn start(addr: SocketAddr) -> Result<(), BrokerError> {
    start_with(addr, None)
}

fn listener(name: &str, addr: SocketAddr) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "listen": addr.to_string(),
        "next_connection_delay_ms": 1,
        "connections": {
            "connection_timeout_ms": 60000,
            "max_payload_size": 16 << 20,
            "max_inflight_count": 500,
            "dynamic_filters": true
        }
    })
}

/// Starts a broker with an MQTT 3.1.1 listener on `v4` and, when given, an
/// MQTT 5 listener on `v5`.
pub fn start_with(v4: SocketAddr, v5: Option<SocketAddr>) -> Result<(), BrokerError> {
    for addr in std::iter::once(v4).chain(v5) {
        drop(TcpListener::bind(addr).map_err(|source| BrokerError::PortTaken { addr, source })?);
    }
    let mut json = serde_json::json!({
        "id": 0,
        "router": {
            "id": 0,
            "max_connections": 10010,
            "max_outgoing_packet_count": 1000,
            "max_segment_size": 16 << 20,
            "max_segment_count": 4
        },
        "v4": { "1": listener("oort-embedded-v4", v4) }
    });
    if let Some(v5) = v5 {
        json["v5"] = serde_json::json!({ "1": listener("oort-embedded-v5", v5) });
    }
    let config: rumqttd::Config = serde_json::from_value(json).map_err(|e| BrokerError::Start(e.to_string()))?;
    std::thread::Builder::new()
        .name("oort-mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    // Wait until the listeners accept connections.
    for addr in std::iter::once(v4).chain(v5) {
        let mut up = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(addr).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if !up {
            return Err(BrokerError::Start(format!("not listening on {addr} after 2 s")));
        }
        tracing::info!(%addr, "embedded MQTT broker listening");
    }
    Ok(())
}

/// Starts the broker of `oort serve` on loopback `port` (and `v5_port` for
/// MQTT 5 clients); a failure is logged (naming the setting to change) and
/// the server goes on without it.
pub fn start_embedded(port: u16, v5_port: Option<u16>) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let v5 = v5_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    if let Err(e) = start_with(addr, v5) {
        tracing::error!("{e}");
    }
}
