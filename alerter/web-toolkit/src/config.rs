//! The `--web.config.file` format of Prometheus's exporter-toolkit
//! (`tls_server_config`, `http_server_config`, `basic_auth_users`), read into a
//! rustls server config, a user table and response headers. Every key the toolkit
//! documents is either honoured or refused with the reason; unknown keys are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;

/// A `--web.config.file` that did not load: the file and what is wrong in it.
#[derive(Debug, thiserror::Error)]
#[error("--web.config.file {}: {msg}", path.display())]
pub struct Error {
    pub path: PathBuf,
    pub msg: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    /// Refused below with the reason (a key we accept must take effect).
    #[serde(default)]
    rate_limit: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    cert_file: Option<String>,
    key: Option<serde_yaml::Value>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca: Option<String>,
    client_ca_file: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A loaded web config: what the listener and every request use.
pub struct WebConfig {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name → bcrypt hash. Empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Added to every response (a fixed list of security headers, as the toolkit).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Offer HTTP/2 over TLS (the toolkit's default); plain HTTP is HTTP/1 only.
    pub http2: bool,
    /// The certificate files read, so a change to one reloads the config.
    pub files: Vec<PathBuf>,
}

/// The response headers the toolkit lets a user set, and their allowed values
/// (empty: any value). Mirrors exporter-toolkit's web/handler.go.
const HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl WebConfig {
    /// Reads and validates `path`; relative certificate paths are relative to it.
    pub fn load(path: &Path) -> Result<WebConfig, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error {
            path: path.to_path_buf(),
            msg: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &bytes)
    }

    /// Validates the content of `path` (already read).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<WebConfig, Error> {
        let err = |msg: String| Error {
            path: path.to_path_buf(),
            msg,
        };
        // An empty file is a valid, empty config (as YAML's null document).
        let raw: Raw = if bytes.iter().all(u8::is_ascii_whitespace) {
            Raw::default()
        } else {
            serde_yaml::from_slice::<Option<Raw>>(bytes)
                .map_err(|e| err(e.to_string()))?
                .unwrap_or_default()
        };
        if raw.rate_limit.is_some() {
            return Err(err(
                "rate_limit: not supported here; put a rate limit in the reverse proxy".into(),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let users = raw.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            if user.contains(':') {
                return Err(err(format!(
                    "basic_auth_users: user name {user:?} contains ':', which basic auth cannot carry"
                )));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(err(format!(
                    "basic_auth_users.{user}: expected a bcrypt hash ($2y$…, as `htpasswd -nB` makes)"
                )));
            }
        }
        let http = raw.http_server_config.unwrap_or_default();
        let mut headers = Vec::new();
        for (name, value) in &http.headers {
            let Some((_, allowed)) = HEADERS.iter().find(|(n, _)| n == name) else {
                let names: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
                return Err(err(format!(
                    "http_server_config.headers: {name:?} cannot be configured (one of {names:?})"
                )));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(err(format!(
                    "http_server_config.headers.{name}: {value:?} is not one of {allowed:?}"
                )));
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                err(format!(
                    "http_server_config.headers.{name}: not a valid header value"
                ))
            })?;
            headers.push((
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| err(e.to_string()))?,
                value,
            ));
        }
        let mut files = Vec::new();
        let tls = match raw.tls_server_config {
            Some(t) if tls_enabled(&t) => Some(Arc::new(
                build_tls(&t, dir, &mut files, http.http2.unwrap_or(true))
                    .map_err(|m| err(format!("tls_server_config.{m}")))?,
            )),
            _ => None,
        };
        Ok(WebConfig {
            tls,
            users,
            headers,
            http2: http.http2.unwrap_or(true),
            files,
        })
    }
}

/// The toolkit turns TLS on when any certificate or client-auth key is set.
fn tls_enabled(t: &RawTls) -> bool {
    t.cert.is_some()
        || t.cert_file.is_some()
        || t.key.is_some()
        || t.key_file.is_some()
        || t.client_ca.is_some()
        || t.client_ca_file.is_some()
        || t.client_auth_type.is_some()
}

/// `config_util.JoinDir`: a relative path is relative to the config file.
fn join(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

fn read(dir: &Path, key: &str, p: &str, files: &mut Vec<PathBuf>) -> Result<Vec<u8>, String> {
    let path = join(dir, p);
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))?;
    files.push(path);
    Ok(bytes)
}

fn version(
    key: &str,
    v: Option<&str>,
    default: &'static rustls::SupportedProtocolVersion,
) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match v {
        None => Ok(default),
        Some("TLS12") => Ok(&rustls::version::TLS12),
        Some("TLS13") => Ok(&rustls::version::TLS13),
        Some(v @ ("TLS10" | "TLS11")) => Err(format!(
            "{key}: {v} is not supported (TLS 1.0 and 1.1 are obsolete); use TLS12 or TLS13"
        )),
        Some(v) => Err(format!("{key}: {v:?} is not one of TLS12, TLS13")),
    }
}

fn build_tls(
    t: &RawTls,
    dir: &Path,
    files: &mut Vec<PathBuf>,
    http2: bool,
) -> Result<rustls::ServerConfig, String> {
    if t.key.is_some() {
        return Err(
            "key: a private key inline in the file is not accepted; put it in key_file".into(),
        );
    }
    if t.client_allowed_sans.is_some() {
        return Err("client_allowed_sans: not supported; issue client certificates from a dedicated client_ca_file instead".into());
    }
    let cert_pem = match (&t.cert, &t.cert_file) {
        (Some(_), Some(_)) => return Err("cert and cert_file: set only one".into()),
        (Some(c), None) => c.as_bytes().to_vec(),
        (None, Some(f)) => read(dir, "cert_file", f, files)?,
        (None, None) => {
            return Err(
                "cert_file: missing (TLS is on because a tls_server_config key is set)".into(),
            );
        }
    };
    let Some(key_file) = &t.key_file else {
        return Err("key_file: missing".into());
    };
    let key_pem = read(dir, "key_file", key_file, files)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cert_file: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("cert_file: no PEM certificate in it".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("key_file: not a PEM private key: {e}"))?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        // Go applies cipher_suites to TLS 1.2 only; TLS 1.3's suites are always on.
        let names: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        for n in &t.cipher_suites {
            let tls13 = n.starts_with("TLS_AES_") || n.starts_with("TLS_CHACHA20_");
            if !tls13 && !names.contains(n) {
                return Err(format!("cipher_suites: {n:?} is not one of {names:?}"));
            }
        }
        provider.cipher_suites.retain(|s| {
            s.tls13().is_some() || t.cipher_suites.contains(&format!("{:?}", s.suite()))
        });
    }
    if !t.curve_preferences.is_empty() {
        let all = provider.kx_groups.clone();
        let mut chosen = Vec::new();
        for c in &t.curve_preferences {
            let group = match c.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                "CurveP521" => return Err("curve_preferences: CurveP521 is not supported; use X25519, CurveP256 or CurveP384".into()),
                other => return Err(format!("curve_preferences: {other:?} is not one of X25519, CurveP256, CurveP384")),
            };
            if let Some(g) = all.iter().find(|g| g.name() == group) {
                chosen.push(*g);
            }
        }
        provider.kx_groups = chosen;
    }
    let provider: Arc<CryptoProvider> = Arc::new(provider);

    let min = version(
        "min_version",
        t.min_version.as_deref(),
        &rustls::version::TLS12,
    )?;
    let max = version(
        "max_version",
        t.max_version.as_deref(),
        &rustls::version::TLS13,
    )?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| {
                u16::from(v.version) >= u16::from(min.version)
                    && u16::from(v.version) <= u16::from(max.version)
            })
            .collect();
    if versions.is_empty() {
        return Err("min_version is above max_version".into());
    }

    let client_ca = match (&t.client_ca, &t.client_ca_file) {
        (Some(_), Some(_)) => return Err("client_ca and client_ca_file: set only one".into()),
        (Some(c), None) => Some(c.as_bytes().to_vec()),
        (None, Some(f)) => Some(read(dir, "client_ca_file", f, files)?),
        (None, None) => None,
    };
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("cipher_suites/min_version: {e}"))?;
    let builder = match (auth, client_ca) {
        ("NoClientCert", None) => builder.with_no_client_auth(),
        ("NoClientCert", Some(_)) => {
            return Err("client_ca_file is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert".into());
        }
        ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert", None) => {
            return Err(format!(
                "client_ca_file: missing, and client_auth_type {auth} needs it"
            ));
        }
        (mode @ ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert"), Some(pem)) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| format!("client_ca_file: not PEM certificates: {e}"))?;
                roots.add(c).map_err(|e| format!("client_ca_file: {e}"))?;
            }
            if roots.is_empty() {
                return Err("client_ca_file: no PEM certificate in it".into());
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if mode == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder
                .with_client_cert_verifier(v.build().map_err(|e| format!("client_ca_file: {e}"))?)
        }
        ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert", _) => {
            return Err(format!(
                "client_auth_type: {auth} (a client certificate that is not verified) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
            ));
        }
        (other, _) => {
            return Err(format!(
                "client_auth_type: {other:?} is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ));
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("cert_file/key_file: {e}"))?;
    // Go's PreferServerCipherSuites, on by default in the toolkit.
    cfg.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}
