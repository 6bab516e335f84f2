//! The TLS client configuration of an MQTT connection (rustls 0.22, the
//! version rumqttc speaks), from eKuiper's profile keys: `rootCaPath` (PEM
//! CA certificates that sign the broker; the system's roots when absent),
//! `certificationPath` + `privateKeyPath` (PEM client certificate and key,
//! for brokers that require mutual TLS) and `insecureSkipVerify` (accept
//! any broker certificate and name: the connection is encrypted but the
//! broker is not authenticated; handshake signatures are still checked).

use super::super::ConnectorError;
use super::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

fn open_err(message: String) -> ConnectorError {
    ConnectorError::Open { connector: "mqtt".into(), message }
}

fn bad(property: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::BadProperty { connector: "mqtt".into(), property: property.into(), message: message.into() }
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, ConnectorError> {
    std::fs::read(path).map_err(|e| open_err(format!("{what} {path}: {e}")))
}

fn certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, ConnectorError> {
    let pem = read(path, what)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(what, format!("{path}: {e}")))?;
    if certs.is_empty() {
        return Err(bad(what, format!("{path} holds no PEM certificate")));
    }
    Ok(certs)
}

fn key(path: &str) -> Result<PrivateKeyDer<'static>, ConnectorError> {
    let pem = read(path, "privateKeyPath")?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| bad("privateKeyPath", format!("{path}: {e}")))?
        .ok_or_else(|| bad("privateKeyPath", format!("{path} holds no PEM private key")))
}

/// The rustls client configuration of `cfg`.
pub fn client_config(cfg: &ClientConfig) -> Result<rustls::ClientConfig, ConnectorError> {
    let builder = rustls::ClientConfig::builder();
    let builder = if cfg.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServer::new()))
    } else {
        let mut roots = RootCertStore::empty();
        match &cfg.root_ca_path {
            Some(p) => {
                for c in certs(p, "rootCaPath")? {
                    roots.add(c).map_err(|e| bad("rootCaPath", format!("{p}: {e}")))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs()
                    .map_err(|e| open_err(format!("system CA certificates: {e}; set rootCaPath")))?;
                let (added, _) = roots.add_parsable_certificates(native);
                if added == 0 {
                    return Err(bad("rootCaPath", "no system CA certificates found; set rootCaPath"));
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    match (&cfg.certification_path, &cfg.private_key_path) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(certs(c, "certificationPath")?, key(k)?)
            .map_err(|e| bad("certificationPath", e.to_string())),
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(bad("certificationPath", "certificationPath and privateKeyPath go together")),
    }
}

/// `insecureSkipVerify`: any certificate and name pass; signatures are
/// still verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyServer {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl AcceptAnyServer {
    fn new() -> Self {
        Self { algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms }
    }
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
