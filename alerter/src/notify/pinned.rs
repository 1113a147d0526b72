//! Server certificate check for a user-given CA file (`tls_config.ca`/`ca_file`).
//! A server certificate byte-equal to one of the given certificates is trusted
//! as pinned, its name and validity dates still checked; anything else goes
//! through the ordinary webpki chain check against those certificates. webpki
//! alone refuses a self-signed CA:TRUE certificate as an end entity
//! (`CaUsedAsEndEntity`), which is what `openssl req -x509` makes and what Go's
//! crypto/tls, and so Alertmanager, accepts when it is in `RootCAs`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

#[derive(Debug)]
pub struct PinnedVerifier {
    pinned: Vec<CertificateDer<'static>>,
    inner: Arc<WebPkiServerVerifier>,
}

impl PinnedVerifier {
    /// From the PEM bundle of `ca`/`ca_file`; an error when it holds no certificate.
    pub fn from_pem(pem: &[u8], provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let pinned = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("no CA certificate in ca/ca_file: {e}"))?;
        if pinned.is_empty() {
            return Err("no CA certificate in ca/ca_file".into());
        }
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(pinned.iter().cloned());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("ca/ca_file: {e}"))?;
        Ok(Self { pinned, inner })
    }

    /// A rustls client config trusting exactly these certificates.
    pub fn client_config(
        self,
        provider: Arc<CryptoProvider>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, String>
    {
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| format!("tls_config: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self)))
    }

    /// Checks a chain already received (lettre accepts no custom verifier: the
    /// email notifier checks right after the handshake, before anything is sent).
    pub fn check_chain(&self, chain: &[Vec<u8>], server_name: &str) -> Result<(), Error> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| Error::General(format!("invalid server name {server_name:?}")))?;
        let (end, rest) = chain.split_first().ok_or(Error::NoCertificatesPresented)?;
        let end = CertificateDer::from(end.clone());
        let rest: Vec<_> = rest.iter().cloned().map(CertificateDer::from).collect();
        self.verify_server_cert(&end, &rest, &name, &[], UnixTime::now())
            .map(|_| ())
    }
}

/// The validity dates, checked as webpki does for a chain (notBefore <= now <= notAfter).
fn check_dates(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
    let (_, c) = x509_parser::parse_x509_certificate(cert)
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let v = c.validity();
    if now < v.not_before.timestamp() {
        return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > v.not_after.timestamp() {
        return Err(Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            check_dates(end_entity, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
