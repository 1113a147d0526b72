//! A probe's TLS side: `tls_config` (Prometheus' common names) validated into the
//! roots, client certificate and verification name a probe uses, and the per-run rustls
//! config whose verifier records the chain the server sent, for
//! `probe_ssl_earliest_cert_expiry`.
//!
//! As blackbox_exporter: `ca_file` replaces the default roots (here Mozilla's, as
//! reqwest's rustls build uses); `insecure_skip_verify` skips chain and name checks but
//! not the handshake signature; `server_name` is the name the certificate is checked
//! against. It is not sent as SNI: reqwest sends the URL's host there.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use crate::setting::{Origin, Problems};

/// `tls_config:` of a probe, as written.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawTlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
}

/// Validated TLS material, loaded once at start.
pub struct TlsSettings {
    provider: Arc<CryptoProvider>,
    /// `None`: `insecure_skip_verify`.
    verifier: Option<Arc<WebPkiServerVerifier>>,
    server_name: Option<ServerName<'static>>,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("verify", &self.verifier.is_some())
            .field("server_name", &self.server_name)
            .field("client_cert", &self.client_auth.is_some())
            .finish_non_exhaustive()
    }
}

/// What one run's verifier saw: the earliest `notAfter` (Unix seconds) of the chain the
/// server sent in the last handshake.
pub type Seen = Arc<Mutex<Option<i64>>>;

impl TlsSettings {
    /// Loads the files `raw` names; a problem names `<prefix>.<key>` and its file.
    pub fn validate(
        raw: RawTlsConfig,
        prefix: &str,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Option<TlsSettings> {
        let key = |k: &str| Origin::file(path, format!("{prefix}.{k}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut ok = true;
        let roots = match &raw.ca_file {
            None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(file) => match read_certs(file) {
                Ok(certs) => {
                    let mut roots = RootCertStore::empty();
                    let (_, ignored) = roots.add_parsable_certificates(certs);
                    if roots.is_empty() || ignored > 0 {
                        problems.push(
                            &key("ca_file"),
                            format!("{}: not a valid CA certificate", file.display()),
                        );
                        ok = false;
                    }
                    roots
                }
                Err(e) => {
                    problems.push(&key("ca_file"), e);
                    ok = false;
                    RootCertStore::empty()
                }
            },
        };
        let verifier = if raw.insecure_skip_verify || !ok {
            None
        } else {
            match WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
            {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(&key("ca_file"), e);
                    ok = false;
                    None
                }
            }
        };
        let server_name = match raw.server_name {
            None => None,
            Some(n) => match ServerName::try_from(n.clone()) {
                Ok(s) => Some(s),
                Err(_) => {
                    problems.push(
                        &key("server_name"),
                        format!("{n:?} is not a DNS name or IP address"),
                    );
                    ok = false;
                    None
                }
            },
        };
        let client_auth = match (&raw.cert_file, &raw.key_file) {
            (None, None) => None,
            (Some(_), None) => {
                problems.push(&key("key_file"), "cert_file is set, key_file is missing");
                ok = false;
                None
            }
            (None, Some(_)) => {
                problems.push(&key("cert_file"), "key_file is set, cert_file is missing");
                ok = false;
                None
            }
            (Some(cert), Some(k)) => {
                let certs = read_certs(cert).map_err(|e| problems.push(&key("cert_file"), e));
                let pk = PrivateKeyDer::from_pem_file(k).map_err(|e| {
                    problems.push(
                        &key("key_file"),
                        format!("{}: no usable private key: {e}", k.display()),
                    );
                });
                match (certs, pk) {
                    (Ok(certs), Ok(pk)) => {
                        // The provider checks the key here, so a bad pair fails at start.
                        let check = rustls::ClientConfig::builder_with_provider(provider.clone())
                            .with_safe_default_protocol_versions()
                            .map(|b| {
                                b.with_root_certificates(RootCertStore::empty())
                                    .with_client_auth_cert(certs.clone(), pk.clone_key())
                            });
                        match check {
                            Ok(Ok(_)) => Some((certs, pk)),
                            Ok(Err(e)) | Err(e) => {
                                problems.push(&key("key_file"), e);
                                ok = false;
                                None
                            }
                        }
                    }
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
        };
        ok.then_some(TlsSettings {
            provider,
            verifier,
            server_name,
            client_auth,
        })
    }

    /// A fresh rustls config for one run (no session resumed from an earlier run, so
    /// every run does the full handshake and sees the chain) and the slot its verifier
    /// records into.
    pub fn client_config(&self) -> Result<(rustls::ClientConfig, Seen), rustls::Error> {
        let seen = Seen::default();
        let verifier = Recording {
            provider: self.provider.clone(),
            inner: self.verifier.clone(),
            server_name: self.server_name.clone(),
            seen: seen.clone(),
        };
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut cfg = match &self.client_auth {
            Some((certs, key)) => builder.with_client_auth_cert(certs.clone(), key.clone_key())?,
            None => builder.with_no_client_auth(),
        };
        // reqwest is built without HTTP/2 here; say so in ALPN.
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok((cfg, seen))
    }
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", file.display()));
    }
    Ok(certs)
}

/// The earliest `notAfter` of `certs`, in Unix seconds; certificates that do not parse
/// are left out (the handshake has judged them already).
pub fn earliest_expiry<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Option<i64> {
    certs
        .into_iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, c)| c.validity().not_after.timestamp())
        .min()
}

/// Checks as configured, after noting the chain's expiry.
#[derive(Debug)]
struct Recording {
    provider: Arc<CryptoProvider>,
    inner: Option<Arc<WebPkiServerVerifier>>,
    server_name: Option<ServerName<'static>>,
    seen: Seen,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let expiry = earliest_expiry(
            std::iter::once(end_entity.as_ref()).chain(intermediates.iter().map(AsRef::as_ref)),
        );
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = expiry;
        match &self.inner {
            Some(v) => v.verify_server_cert(
                end_entity,
                intermediates,
                self.server_name.as_ref().unwrap_or(server_name),
                ocsp_response,
                now,
            ),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
