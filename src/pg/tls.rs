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
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

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
    let (roots, check_name) = match verify {
        Verify::Full(roots) => (Some(roots), true),
        Verify::Chain(roots) => (Some(roots), false),
        Verify::Nothing => (None, false),
    };
    let chain = match roots {
        Some(roots) => {
            let store = root_store(roots)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(store.certs.clone()),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsSetupError(format!("cannot set up certificate verification: {e}")))?;
            Some(Chain {
                webpki,
                pinned: store.pinned,
            })
        }
        None => None,
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libpq {
            chain,
            check_name,
            provider,
        }))
        .with_no_client_auth())
}

/// The trusted roots, and the certificates of the root file themselves: libpq (OpenSSL) trusts
/// a server certificate found in `sslrootcert` as it is, which is how a self-signed server
/// certificate is given (webpki alone refuses it: OpenSSL 3 marks it CA:TRUE).
struct Roots {
    certs: RootCertStore,
    pinned: Vec<CertificateDer<'static>>,
}

fn root_store(roots: &RootCerts) -> Result<Roots, TlsSetupError> {
    let mut store = RootCertStore::empty();
    let mut pinned = Vec::new();
    match roots {
        RootCerts::File(path) => {
            let certs = read_pem(path)?;
            pinned.clone_from(&certs);
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
    Ok(Roots {
        certs: store,
        pinned,
    })
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

/// The certificate checks of libpq's sslmodes: `prefer` and `require` accept any certificate
/// (`chain` is `None`), `verify-ca` checks the chain up to a root of `sslrootcert`, `verify-full`
/// the host name too, by libpq's rules (the subjectAltName entries, else the Common Name). All
/// still check that the server holds the certificate's key.
#[derive(Debug)]
struct Libpq {
    chain: Option<Chain>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
struct Chain {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of the root file, each trusted as a server certificate too.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Libpq {
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
        if chain
            .pinned
            .iter()
            .any(|root| root.as_ref() == end_entity.as_ref())
        {
            check_validity(end_entity, now)?;
        } else if self_issued(end_entity)? {
            // Another self-signed certificate: webpki would say only that it is a CA.
            return Err(CertificateError::UnknownIssuer.into());
        } else {
            // webpki checks the chain first and the name last, so a name error means the
            // chain was good; the name is checked below, as libpq checks it.
            match chain.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(_)
                | Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => {}
                Err(error) => return Err(error),
            }
        }
        if self.check_name && !names(end_entity)?.match_host(server_name) {
            return Err(CertificateError::NotValidForName.into());
        }
        Ok(ServerCertVerified::assertion())
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

fn parse(der: &CertificateDer<'_>) -> Result<Certificate, rustls::Error> {
    Certificate::from_der(der.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))
}

/// Whether a certificate names itself as its issuer (a self-signed certificate).
fn self_issued(der: &CertificateDer<'_>) -> Result<bool, rustls::Error> {
    let tbs = parse(der)?.tbs_certificate;
    Ok(tbs.issuer == tbs.subject)
}

/// The validity period of a certificate trusted as it is.
fn check_validity(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let validity = parse(der)?.tbs_certificate.validity;
    let now = now.as_secs();
    if now < validity.not_before.to_unix_duration().as_secs() {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > validity.not_after.to_unix_duration().as_secs() {
        return Err(CertificateError::Expired.into());
    }
    Ok(())
}

/// The names a certificate is valid for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Names {
    dns: Vec<String>,
    ips: Vec<std::net::IpAddr>,
    common_names: Vec<String>,
}

fn names(der: &CertificateDer<'_>) -> Result<Names, rustls::Error> {
    let cert = parse(der)?;
    let bad = |_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let mut names = Names::default();
    if let Some((_, san)) = cert.tbs_certificate.get::<SubjectAltName>().map_err(bad)? {
        for name in san.0 {
            match name {
                GeneralName::DnsName(dns) => names.dns.push(dns.as_str().to_string()),
                GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
                    4 => {
                        let octets: [u8; 4] = ip.as_bytes().try_into().map_err(|_| {
                            rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
                        })?;
                        names.ips.push(octets.into());
                    }
                    16 => {
                        let octets: [u8; 16] = ip.as_bytes().try_into().map_err(|_| {
                            rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
                        })?;
                        names.ips.push(octets.into());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for attribute in rdn.0.iter() {
            if attribute.oid == x509_cert::der::oid::db::rfc4519::CN {
                if let Ok(text) = std::str::from_utf8(attribute.value.value()) {
                    names.common_names.push(text.to_string());
                }
            }
        }
    }
    Ok(names)
}

impl Names {
    /// libpq's rule: the subjectAltName entries of the host's kind (dNSName for a name,
    /// iPAddress for an address, where a dNSName equal to the address also counts); the Common
    /// Name only when there is no entry of that kind.
    fn match_host(&self, host: &ServerName<'_>) -> bool {
        match host {
            ServerName::DnsName(name) => {
                let name = name.as_ref();
                if self.dns.is_empty() {
                    self.common_names.iter().any(|cn| name_matches(cn, name))
                } else {
                    self.dns.iter().any(|pattern| name_matches(pattern, name))
                }
            }
            ServerName::IpAddress(ip) => {
                let ip = std::net::IpAddr::from(*ip);
                let text = ip.to_string();
                if self.ips.contains(&ip) || self.dns.iter().any(|dns| dns == &text) {
                    return true;
                }
                self.ips.is_empty() && self.common_names.iter().any(|cn| cn == &text)
            }
            _ => false,
        }
    }
}

/// A certificate name against a host name, ignoring case; `*.example.com` stands for one
/// label, as libpq allows.
fn name_matches(pattern: &str, host: &str) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix('*') else {
        return false;
    };
    match host.find('.') {
        Some(dot) if dot > 0 && suffix.starts_with('.') => host[dot..].eq_ignore_ascii_case(suffix),
        _ => false,
    }
}

/// A sentence for a TLS failure, saying which check failed; never Rust's debug text.
pub fn describe(error: &rustls::Error) -> String {
    let rustls::Error::InvalidCertificate(cert) = error else {
        let what = match error {
            rustls::Error::AlertReceived(_) => {
                "the server ended the TLS handshake (it may require a client certificate or share no protocol version or cipher with dbsplit)"
            }
            rustls::Error::PeerIncompatible(_) => {
                "the server's TLS settings are incompatible with dbsplit's (TLS 1.2 or newer with modern ciphers is needed)"
            }
            rustls::Error::NoCertificatesPresented => "the server presented no certificate",
            _ => "the server's TLS messages were not understood",
        };
        return format!("TLS handshake failed: {what}");
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
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server certificate is not valid yet (check the clocks)"
        }
        CertificateError::Revoked => "the server certificate was revoked",
        CertificateError::BadEncoding => "the server certificate cannot be parsed",
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server certificate is not meant for TLS servers (its extended key usage)"
        }
        CertificateError::UnhandledCriticalExtension => {
            "the server certificate has a critical extension dbsplit does not know"
        }
        _ => {
            "the server certificate is not acceptable (its signature algorithm, extensions or key usage); check it with openssl verify"
        }
    };
    format!("certificate verification failed: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_libpq_matches_them() {
        assert!(name_matches("db.example.com", "DB.example.com"));
        assert!(name_matches("*.example.com", "db.example.com"));
        assert!(!name_matches("*.example.com", "a.db.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("db.example.com", "example.com"));
        let common_name_only = Names {
            common_names: vec!["db.example.com".into()],
            ..Names::default()
        };
        let host = |name: &str| ServerName::try_from(name.to_string()).unwrap();
        assert!(common_name_only.match_host(&host("db.example.com")));
        // A dNSName entry hides the Common Name.
        let both = Names {
            dns: vec!["other.example.com".into()],
            common_names: vec!["db.example.com".into()],
            ..Names::default()
        };
        assert!(!both.match_host(&host("db.example.com")));
        assert!(both.match_host(&host("other.example.com")));
        let address = Names {
            ips: vec![[127, 0, 0, 1].into()],
            ..Names::default()
        };
        assert!(address.match_host(&host("127.0.0.1")));
        assert!(!address.match_host(&host("127.0.0.2")));
    }

    #[test]
    fn no_sentence_is_debug_text() {
        let errors = [
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(std::io::Error::other("CaUsedAsEndEntity")),
            ))),
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
            rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
            rustls::Error::InvalidCertificate(CertificateError::UnknownRevocationStatus),
        ];
        for error in errors {
            let text = describe(&error);
            assert!(
                !text.contains("CaUsedAsEndEntity")
                    && !text.contains("HandshakeFailure")
                    && !text.contains("Tls12NotOffered")
                    && !text.contains("UnknownRevocationStatus"),
                "{text}"
            );
        }
    }
}
