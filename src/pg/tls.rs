//! TLS client configurations for libpq's `sslmode`s, on rustls with the ring provider.
//!
//! libpq's modes check different things, and each maps to one certificate verifier here:
//! `prefer` and `require` encrypt without checking the certificate (unless `require` has a root
//! certificate, when it checks like `verify-ca`), `verify-ca` checks the chain up to a trusted
//! root but not the host name, and `verify-full` checks both. This module builds configurations;
//! it never opens a connection.
//! See <https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION>.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// A PEM file (`sslrootcert=/path`).
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`, and verify-* without a file).
    System,
}

/// How much of the server's certificate to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt, check nothing (`prefer`, `require`).
    Nothing,
    /// The chain up to a trusted root, not the host name (`verify-ca`).
    Chain(RootCerts),
    /// The chain and the host name (`verify-full`).
    Full(RootCerts),
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

/// A client configuration that verifies as `verify` says.
pub fn client_config(verify: &Verify) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError(format!("cannot set up TLS: {e}")))?;
    let chain = match verify {
        Verify::Full(roots) => {
            let full = webpki_verifier(roots, provider)?;
            return Ok(builder.with_webpki_verifier(full).with_no_client_auth());
        }
        Verify::Chain(roots) => Some(webpki_verifier(roots, provider.clone())?),
        Verify::Nothing => None,
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Lenient { chain, provider }))
        .with_no_client_auth())
}

fn webpki_verifier(
    roots: &RootCerts,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsSetupError> {
    let store = root_store(roots)?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .map_err(|e| TlsSetupError(format!("cannot set up certificate verification: {e}")))
}

fn root_store(roots: &RootCerts) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::File(path) => {
            let certs = read_pem(path)?;
            let (_, unusable) = store.add_parsable_certificates(certs);
            if store.is_empty() {
                return Err(TlsSetupError(format!(
                    "root certificate file {} holds no usable certificate ({unusable} unusable)",
                    path.display()
                )));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), ToString::to_string);
                return Err(TlsSetupError(format!(
                    "cannot load the system's trusted root certificates ({why}); install ca-certificates or set sslrootcert"
                )));
            }
        }
    }
    Ok(store)
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = std::fs::read(path).map_err(|e| {
        TlsSetupError(format!(
            "cannot read root certificate file {}: {e}",
            path.display()
        ))
    })?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsSetupError(format!(
                "root certificate file {} is not valid PEM: {e}",
                path.display()
            ))
        })
}

/// The verifier of the modes that check less than webpki: `prefer` and `require` accept any
/// certificate (`chain` is `None`), `verify-ca` checks the chain but not the host name. Both
/// still check that the server holds the certificate's key.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // webpki checks the chain first and the name last, so a name error means the chain
        // was good.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A sentence for a TLS failure, saying which check failed.
pub fn describe(error: &rustls::Error) -> String {
    let rustls::Error::InvalidCertificate(cert) = error else {
        return format!("tls handshake failed: {error}");
    };
    let what = match cert {
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the server certificate is not valid for this host name (connect with a name the certificate names, or use sslmode=verify-ca)"
        }
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            "the server certificate is not signed by a trusted root certificate (check sslrootcert)"
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server certificate has expired"
        }
        _ => return format!("certificate verification failed: {error}"),
    };
    format!("certificate verification failed: {what}")
}
