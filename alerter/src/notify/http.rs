//! Prometheus's common HTTP client settings (`http_config`): authentication, proxy,
//! TLS, redirects and HTTP/2, checked with the rules and messages of Prometheus's
//! common/config (what amtool runs), and built into one client per integration.
//!
//! Credentials given as files are read at each request, as Prometheus does, so a
//! rotated token is used without a reload. Paths are relative to the config file.
//! An `oauth2` token is fetched with the client-credentials grant as Go's
//! `x/oauth2/clientcredentials` fetches it, and kept until shortly before it expires.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use config_values::Secret;
use serde::{Deserialize, Serialize};

use super::pinned::PinnedVerifier;
use super::{NotifyError, Reason};

/// An `http_config` block as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "show_proxy_url"
    )]
    pub proxy_url: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_from_environment: Option<bool>,
    /// Known to Prometheus, not implemented here (see `oauth2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_connect_header: Option<serde_yaml::Value>,
    /// Known to Prometheus, not implemented here (see `oauth2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers: Option<serde_yaml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_http2: Option<bool>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
}

/// `oauth2`: the client-credentials grant, with the keys of Prometheus's common
/// config v0.38 (the one of Alertmanager 0.25).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    /// For the token request only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "show_proxy_url"
    )]
    pub proxy_url: Option<Secret>,
    /// For the token request only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Known to Prometheus; not implemented (the HTTP client cannot verify against
    /// another name than the URL's), refused by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// Where a credential comes from: inline, or a file read at each request.
#[derive(Clone, Debug)]
enum Source {
    Inline(Secret),
    File(PathBuf),
}

impl Source {
    fn pick(inline: Option<&Secret>, file: Option<&str>, base: &Path) -> Option<Source> {
        match (inline, file) {
            (Some(s), _) => Some(Source::Inline(s.clone())),
            (None, Some(f)) => Some(Source::File(base.join(f))),
            (None, None) => None,
        }
    }

    fn read(&self) -> Result<Secret, String> {
        match self {
            Source::Inline(s) => Ok(s.clone()),
            Source::File(p) => Secret::read_file(p).map_err(|e| e.to_string()),
        }
    }
}

#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic {
        username: Option<Source>,
        password: Option<Source>,
    },
    /// `Authorization: <kind> <credentials>`; `bearer_token` is `Bearer`.
    Scheme {
        kind: String,
        credentials: Source,
    },
    OAuth2(Arc<TokenSource>),
}

/// Where an `oauth2` token comes from, and the one in hand.
#[derive(Debug)]
struct TokenSource {
    client_id: String,
    secret: Source,
    /// The form of the token request without the client's credentials.
    form: BTreeMap<String, String>,
    token_url: String,
    /// Without credentials; with `oauth2`'s own proxy and TLS settings.
    client: reqwest::Client,
    /// The token, with the secret it was fetched with: a changed secret file
    /// fetches anew, as Prometheus's round tripper does.
    cache: tokio::sync::Mutex<Option<Token>>,
    /// How the server takes the client's credentials, learnt from the first
    /// answer as x/oauth2 learns it: [`STYLE_UNKNOWN`], [`STYLE_HEADER`], [`STYLE_PARAMS`].
    style: AtomicU8,
}

const STYLE_UNKNOWN: u8 = 0;
const STYLE_HEADER: u8 = 1;
const STYLE_PARAMS: u8 = 2;

/// x/oauth2 takes a token for expired this long before its `expires_in` ends.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Token {
    secret: String,
    /// The `Authorization` value.
    header: String,
    /// `None`: the server gave no `expires_in`; kept until the secret changes.
    expires: Option<tokio::time::Instant>,
}

impl Token {
    fn fresh(&self, secret: &str, now: tokio::time::Instant) -> bool {
        self.secret == secret && self.expires.is_none_or(|e| now + EXPIRY_DELTA < e)
    }
}

/// What the token endpoint answers (RFC 6749 5.1); `expires_in` also as a string,
/// as some servers send it.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// x/oauth2's `Token.Type`: the scheme of the `Authorization` header.
fn token_scheme(token_type: &str) -> String {
    for known in ["Bearer", "MAC", "Basic"] {
        if token_type.eq_ignore_ascii_case(known) {
            return known.into();
        }
    }
    if token_type.is_empty() {
        "Bearer".into()
    } else {
        token_type.into()
    }
}

/// Go's `url.QueryEscape`, which x/oauth2 applies to the client id and secret
/// of the Basic header.
fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl TokenSource {
    /// The `Authorization` value: the cached token while fresh, else a new one.
    async fn header(&self) -> Result<String, String> {
        let secret = self.secret.read()?;
        let mut cache = self.cache.lock().await;
        let now = tokio::time::Instant::now();
        if let Some(t) = cache.as_ref()
            && t.fresh(secret.expose(), now)
        {
            return Ok(t.header.clone());
        }
        let style = self.style.load(Ordering::Relaxed);
        let (answer, style) = match style {
            STYLE_UNKNOWN => match self.fetch(secret.expose(), STYLE_HEADER).await {
                Ok(a) => (a, STYLE_HEADER),
                // x/oauth2 tries the credentials in the body once the header failed.
                Err(_) => (
                    self.fetch(secret.expose(), STYLE_PARAMS).await?,
                    STYLE_PARAMS,
                ),
            },
            s => (self.fetch(secret.expose(), s).await?, s),
        };
        self.style.store(style, Ordering::Relaxed);
        let expires = match &answer.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .filter(|s| *s > 0)
        .map(|s| now + Duration::from_secs(s));
        let header = format!(
            "{} {}",
            token_scheme(&answer.token_type),
            answer.access_token
        );
        *cache = Some(Token {
            secret: secret.expose().to_string(),
            header: header.clone(),
            expires,
        });
        Ok(header)
    }

    async fn fetch(&self, secret: &str, style: u8) -> Result<TokenAnswer, String> {
        let mut form = self.form.clone();
        if style == STYLE_PARAMS {
            if !self.client_id.is_empty() {
                form.insert("client_id".into(), self.client_id.clone());
            }
            if !secret.is_empty() {
                form.insert("client_secret".into(), secret.to_string());
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let mut req = self
            .client
            .post(&self.token_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        if style == STYLE_HEADER {
            req = req.basic_auth(query_escape(&self.client_id), Some(query_escape(secret)));
        }
        let super::answer::Answer {
            content_type,
            body: text,
        } = super::answer::execute(req, "oauth2: cannot fetch token", &[])
            .await
            .map_err(|e| e.message)?;
        // x/oauth2 reads a form answer from servers that send one (GitHub's old API).
        let answer = if content_type.starts_with("application/x-www-form-urlencoded")
            || content_type.starts_with("text/plain")
        {
            let mut a = TokenAnswer {
                access_token: String::new(),
                token_type: String::new(),
                expires_in: None,
            };
            for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
                match &*k {
                    "access_token" => a.access_token = v.into_owned(),
                    "token_type" => a.token_type = v.into_owned(),
                    "expires_in" => a.expires_in = Some(serde_json::Value::String(v.into_owned())),
                    _ => {}
                }
            }
            a
        } else {
            serde_json::from_str::<TokenAnswer>(&text)
                .map_err(|e| format!("oauth2: cannot parse the token answer: {e}"))?
        };
        if answer.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".into());
        }
        Ok(answer)
    }
}

/// A built `http_config`: the client (proxy, TLS, redirects, HTTP/2) and the
/// credentials each request carries.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Auth,
}

/// A proxy URL as shown (status API, check-config): only its password hidden,
/// as Go's `url.URL.Redacted`, which Alertmanager's config uses, shows it.
pub fn redact_url_password(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..end].rfind('@').map(|i| start + i) else {
        return url.to_string();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}xxxxx{}", &url[..=start + colon], &url[at..]),
        None => url.to_string(),
    }
}

fn show_proxy_url<S: serde::Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(u) => s.serialize_str(&redact_url_password(u.expose())),
        None => s.serialize_none(),
    }
}

fn tls_version(v: &str) -> Result<reqwest::tls::Version, String> {
    match v {
        "TLS10" => Ok(reqwest::tls::Version::TLS_1_0),
        "TLS11" => Ok(reqwest::tls::Version::TLS_1_1),
        "TLS12" => Ok(reqwest::tls::Version::TLS_1_2),
        "TLS13" => Ok(reqwest::tls::Version::TLS_1_3),
        _ => Err(format!(
            "unknown TLS version: {v} (expected TLS10, TLS11, TLS12 or TLS13)"
        )),
    }
}

/// Go's `url.Parse`, which Prometheus's `URL` unmarshalling uses, takes a string
/// without a scheme ("foo") as a relative reference, so amtool accepts it as a
/// proxy_url; it refuses a leading ':' (missing scheme), a colon in the first
/// path segment, control characters and bad percent escapes.
fn go_accepts_relative(s: &str, e: url::ParseError) -> bool {
    if e != url::ParseError::RelativeUrlWithoutBase || s.starts_with(':') {
        return false;
    }
    let first = s.split(['/', '?', '#']).next().unwrap_or("");
    let b = s.as_bytes();
    let escapes_ok = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    !first.contains(':') && !s.chars().any(char::is_control) && escapes_ok
}

fn both<T, U>(a: Option<&T>, b: Option<&U>) -> bool {
    a.is_some() && b.is_some()
}

impl HttpConfig {
    /// Checks the block as Prometheus's `HTTPClientConfig.Validate` does, with its
    /// messages, plus the keys this build does not implement. All problems at once.
    pub fn check(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if both(self.bearer_token.as_ref(), self.bearer_token_file.as_ref()) {
            errs.push("at most one of bearer_token & bearer_token_file must be configured".into());
        }
        if [self.basic_auth.is_some(), self.oauth2.is_some(), bearer]
            .iter()
            .filter(|x| **x)
            .count()
            > 1
        {
            errs.push(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(b) = &self.basic_auth {
            if both(b.username.as_ref(), b.username_file.as_ref()) {
                errs.push(
                    "at most one of basic_auth username & username_file must be configured".into(),
                );
            }
            if both(b.password.as_ref(), b.password_file.as_ref()) {
                errs.push(
                    "at most one of basic_auth password & password_file must be configured".into(),
                );
            }
        }
        if let Some(a) = &self.authorization {
            if bearer {
                errs.push(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if both(a.credentials.as_ref(), a.credentials_file.as_ref()) {
                errs.push(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            if a.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("basic"))
            {
                errs.push(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                );
            }
        }
        if [
            self.basic_auth.is_some(),
            self.oauth2.is_some(),
            self.authorization.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
            > 1
        {
            errs.push(
                "at most one of basic_auth, oauth2 & authorization must be configured".into(),
            );
        }
        if self.proxy_from_environment == Some(true) {
            if self.proxy_url.is_some() {
                errs.push(
                    "if proxy_from_environment is configured, proxy_url must not be configured"
                        .into(),
                );
            }
            if self.no_proxy.is_some() {
                errs.push(
                    "if proxy_from_environment is configured, no_proxy must not be configured"
                        .into(),
                );
            }
        }
        if self.no_proxy.is_some() && self.proxy_url.is_none() {
            errs.push("if no_proxy is configured, proxy_url must also be configured".into());
        }
        if let Some(p) = &self.proxy_url
            && let Err(e) = url::Url::parse(p.expose())
            && !go_accepts_relative(p.expose(), e)
        {
            errs.push(format!("proxy_url: invalid URL: {e}"));
        }
        if let Some(o) = &self.oauth2 {
            errs.extend(o.check());
        }
        if let Some(t) = &self.tls_config {
            errs.extend(t.check());
        }
        for (set, key, instead) in [
            (
                self.proxy_connect_header.is_some(),
                "proxy_connect_header",
                "put the credentials in proxy_url",
            ),
            (
                self.http_headers.is_some(),
                "http_headers",
                "use authorization for credentials",
            ),
        ] {
            if set {
                errs.push(format!("{key}: not supported by this alerter ({instead})"));
            }
        }
        errs
    }

    /// Inline secrets to move out of the config file (said as load warnings).
    /// The secret `*_file` keys set, as (key, path relative to the config): each is
    /// read at every request, and must be readable when a reload puts it in service.
    pub fn secret_files(&self) -> Vec<(&'static str, &str)> {
        let b = self.basic_auth.as_ref();
        let a = self.authorization.as_ref();
        [
            (
                "basic_auth.username_file",
                b.and_then(|b| b.username_file.as_deref()),
            ),
            (
                "basic_auth.password_file",
                b.and_then(|b| b.password_file.as_deref()),
            ),
            (
                "authorization.credentials_file",
                a.and_then(|a| a.credentials_file.as_deref()),
            ),
            ("bearer_token_file", self.bearer_token_file.as_deref()),
            (
                "oauth2.client_secret_file",
                self.oauth2
                    .as_ref()
                    .and_then(|o| o.client_secret_file.as_deref()),
            ),
        ]
        .into_iter()
        .filter_map(|(key, f)| Some((key, f?)))
        .collect()
    }

    pub fn inline_secrets(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self
            .basic_auth
            .as_ref()
            .is_some_and(|b| b.password.is_some())
        {
            v.push("basic_auth.password");
        }
        if self
            .authorization
            .as_ref()
            .is_some_and(|a| a.credentials.is_some())
        {
            v.push("authorization.credentials");
        }
        if self.bearer_token.is_some() {
            v.push("bearer_token");
        }
        v
    }

    /// The client for this block; `base` is the config file's directory. Files of
    /// the TLS setup are read here; credential files at each request.
    pub fn build(&self, base: &Path) -> Result<HttpClient, String> {
        let errs = self.check();
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("alerter/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10));
        // reqwest follows HTTP_PROXY by default; Prometheus only when asked.
        if self.proxy_from_environment != Some(true) {
            b = b.no_proxy();
        }
        if let Some(p) = &self.proxy_url {
            // Alertmanager loads such a proxy_url and then fails every request
            // through it (no host to dial); the integration is unusable, said at load.
            if url::Url::parse(p.expose()).is_err() {
                return Err(
                    "proxy_url has no scheme and host (Alertmanager accepts it, then every request through it fails)"
                        .into(),
                );
            }
            let proxy = reqwest::Proxy::all(p.expose())
                .map_err(|e| format!("proxy_url: {e}"))?
                .no_proxy(
                    self.no_proxy
                        .as_deref()
                        .and_then(reqwest::NoProxy::from_string),
                );
            b = b.proxy(proxy);
        }
        if self.follow_redirects == Some(false) {
            b = b.redirect(reqwest::redirect::Policy::none());
        }
        if self.enable_http2 == Some(false) {
            b = b.http1_only();
        }
        if let Some(t) = &self.tls_config {
            b = t.apply(b, base, self.enable_http2 != Some(false))?;
        }
        let client = b
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let auth = if let Some(o) = &self.oauth2 {
            Auth::OAuth2(Arc::new(o.build(base)?))
        } else if let Some(ba) = &self.basic_auth {
            Auth::Basic {
                username: ba
                    .username
                    .as_ref()
                    .map(|u| Source::Inline(Secret::new(u.clone())))
                    .or_else(|| {
                        ba.username_file
                            .as_ref()
                            .map(|f| Source::File(base.join(f)))
                    }),
                password: Source::pick(ba.password.as_ref(), ba.password_file.as_deref(), base),
            }
        } else if let Some(a) = &self.authorization {
            match Source::pick(a.credentials.as_ref(), a.credentials_file.as_deref(), base) {
                Some(credentials) => Auth::Scheme {
                    kind: a.kind.clone().unwrap_or_else(|| "Bearer".into()),
                    credentials,
                },
                None => Auth::None,
            }
        } else if let Some(credentials) = Source::pick(
            self.bearer_token.as_ref(),
            self.bearer_token_file.as_deref(),
            base,
        ) {
            Auth::Scheme {
                kind: "Bearer".into(),
                credentials,
            }
        } else {
            Auth::None
        };
        Ok(HttpClient { client, auth })
    }
}

impl OAuth2 {
    /// Prometheus's rules for `oauth2`, with its messages, plus what x/oauth2
    /// would refuse only at the first send.
    fn check(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.client_id.is_empty() {
            errs.push("oauth2 client_id must be configured".into());
        }
        if self.client_secret.is_none() && self.client_secret_file.is_none() {
            errs.push(
                "either oauth2 client_secret or client_secret_file must be configured".into(),
            );
        }
        if self.token_url.is_empty() {
            errs.push("oauth2 token_url must be configured".into());
        } else if let Err(e) = url::Url::parse(&self.token_url) {
            errs.push(format!("oauth2.token_url: invalid URL: {e}"));
        }
        if self.client_secret.is_some() && self.client_secret_file.is_some() {
            errs.push(
                "at most one of oauth2 client_secret & client_secret_file must be configured"
                    .into(),
            );
        }
        for k in ["scope", "client_id", "client_secret"] {
            if self.endpoint_params.contains_key(k) {
                errs.push(format!(
                    "oauth2.endpoint_params: cannot overwrite parameter {k:?}"
                ));
            }
        }
        if let Some(p) = &self.proxy_url
            && let Err(e) = url::Url::parse(p.expose())
        {
            errs.push(format!("oauth2.proxy_url: invalid URL: {e}"));
        }
        if let Some(t) = &self.tls_config {
            errs.extend(t.check().into_iter().map(|e| format!("oauth2: {e}")));
        }
        errs
    }

    /// The token source; `base` is the config file's directory.
    fn build(&self, base: &Path) -> Result<TokenSource, String> {
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("alerter/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .no_proxy();
        if let Some(p) = &self.proxy_url {
            b = b.proxy(
                reqwest::Proxy::all(p.expose()).map_err(|e| format!("oauth2.proxy_url: {e}"))?,
            );
        }
        if let Some(t) = &self.tls_config {
            b = t.apply(b, base, true).map_err(|e| format!("oauth2: {e}"))?;
        }
        let client = b
            .build()
            .map_err(|e| format!("oauth2: cannot build the HTTP client: {e}"))?;
        let mut form =
            BTreeMap::from([("grant_type".to_string(), "client_credentials".to_string())]);
        if !self.scopes.is_empty() {
            form.insert("scope".into(), self.scopes.join(" "));
        }
        // grant_type may be overridden, as x/oauth2 allows for odd servers.
        form.extend(self.endpoint_params.clone());
        Ok(TokenSource {
            client_id: self.client_id.clone(),
            secret: Source::pick(
                self.client_secret.as_ref(),
                self.client_secret_file.as_deref(),
                base,
            )
            .ok_or("either oauth2 client_secret or client_secret_file must be configured")?,
            form,
            token_url: self.token_url.clone(),
            client,
            cache: tokio::sync::Mutex::new(None),
            style: AtomicU8::new(STYLE_UNKNOWN),
        })
    }
}

impl TlsConfig {
    fn check(&self) -> Vec<String> {
        let t = self;
        let mut errs = Vec::new();
        for (a, b, what) in [
            (t.ca.is_some(), t.ca_file.is_some(), "ca and ca_file"),
            (
                t.cert.is_some(),
                t.cert_file.is_some(),
                "cert and cert_file",
            ),
            (t.key.is_some(), t.key_file.is_some(), "key and key_file"),
        ] {
            if a && b {
                errs.push(format!("at most one of {what} must be configured"));
            }
        }
        let cert = t.cert.is_some() || t.cert_file.is_some();
        let key = t.key.is_some() || t.key_file.is_some();
        if cert && !key {
            errs.push(
                    "exactly one of key or key_file must be configured when a client certificate is configured"
                        .into(),
                );
        }
        if key && !cert {
            errs.push(
                    "exactly one of cert or cert_file must be configured when a client key is configured"
                        .into(),
                );
        }
        for v in [&t.min_version, &t.max_version].into_iter().flatten() {
            if let Err(e) = tls_version(v) {
                errs.push(format!("tls_config: {e}"));
            }
        }
        if t.server_name.is_some() {
            errs.push("tls_config.server_name: not supported by this alerter".into());
        }
        errs
    }

    /// A rustls config of our own, the only way to give reqwest a verifier:
    /// versions, client certificate and ALPN are then set here, not on `b`.
    fn pinned_config(
        &self,
        b: reqwest::ClientBuilder,
        ca: &[u8],
        cert: Option<&[u8]>,
        key: Option<&[u8]>,
        http2: bool,
    ) -> Result<reqwest::ClientBuilder, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinnedVerifier::from_pem(ca, provider.clone())
            .map_err(|e| format!("tls_config: {e}"))?;
        // rustls speaks TLS 1.2 and 1.3 only.
        let rank = |v: &str| match v {
            "TLS13" => 13,
            "TLS12" => 12,
            _ => 11,
        };
        let min = self.min_version.as_deref().map_or(12, rank);
        let max = self.max_version.as_deref().map_or(13, rank);
        let versions: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(n, _)| (min..=max).contains(n))
            .map(|(_, v)| v)
            .collect();
        let builder = verifier.client_config(provider, &versions)?;
        let mut config = match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("tls_config: client certificate: {e}"))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| format!("tls_config: client key: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("tls_config: client certificate and key: {e}"))?
            }
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(b.use_preconfigured_tls(config))
    }

    fn apply(
        &self,
        mut b: reqwest::ClientBuilder,
        base: &Path,
        http2: bool,
    ) -> Result<reqwest::ClientBuilder, String> {
        let read = |inline: Option<&str>, file: Option<&String>, what: &str| match (inline, file) {
            (Some(s), _) => Ok(Some(s.as_bytes().to_vec())),
            (None, Some(f)) => std::fs::read(base.join(f))
                .map(Some)
                .map_err(|e| format!("tls_config.{what}_file: cannot read {f}: {e}")),
            (None, None) => Ok(None),
        };
        let ca = read(self.ca.as_deref(), self.ca_file.as_ref(), "ca")?;
        let cert = read(self.cert.as_deref(), self.cert_file.as_ref(), "cert")?;
        let key = read(
            self.key.as_ref().map(Secret::expose),
            self.key_file.as_ref(),
            "key",
        )?;
        if let (Some(ca), false) = (&ca, self.insecure_skip_verify == Some(true)) {
            // As Go's tls.Config.RootCAs: the given CAs replace the system's, and
            // a server certificate equal to one of them is trusted as pinned.
            return self.pinned_config(b, ca, cert.as_deref(), key.as_deref(), http2);
        }
        if let (Some(mut cert), Some(key)) = (cert, key) {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            let id = reqwest::Identity::from_pem(&cert)
                .map_err(|e| format!("tls_config: client certificate and key: {e}"))?;
            b = b.identity(id);
        }
        if self.insecure_skip_verify == Some(true) {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(v) = &self.min_version {
            b = b.min_tls_version(tls_version(v)?);
        }
        if let Some(v) = &self.max_version {
            b = b.max_tls_version(tls_version(v)?);
        }
        Ok(b)
    }
}

/// The client of every integration without an `http_config`, and of the heartbeat:
/// one, built on first use, so an alerter without HTTP receivers pays nothing for the
/// TLS setup and they all share one connection pool.
pub fn shared() -> Result<HttpClient, String> {
    static SHARED: std::sync::OnceLock<Result<HttpClient, String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| HttpConfig::default().build(Path::new(".")))
        .clone()
}

impl HttpClient {
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A POST carrying this config's credentials; a credential file that cannot be
    /// read, or an `oauth2` token that cannot be had, is the error.
    pub async fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, NotifyError> {
        self.request(reqwest::Method::POST, url).await
    }

    /// A request of any method carrying this config's credentials.
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, NotifyError> {
        let req = self.client.request(method, url);
        if let Auth::OAuth2(t) = &self.auth {
            let header = t.header().await.map_err(|message| NotifyError {
                retryable: true,
                reason: Reason::OAuth2Token,
                message,
            })?;
            return Ok(req.header(reqwest::header::AUTHORIZATION, header));
        }
        self.static_auth(req).map_err(|e| NotifyError {
            retryable: true,
            reason: Reason::CredentialsFile,
            message: format!("http_config: {e}"),
        })
    }

    fn static_auth(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> {
        Ok(match &self.auth {
            Auth::None | Auth::OAuth2(_) => req,
            Auth::Basic { username, password } => {
                let user = username.as_ref().map(Source::read).transpose()?;
                let pass = password.as_ref().map(Source::read).transpose()?;
                req.basic_auth(
                    user.as_ref().map_or("", Secret::expose),
                    pass.as_ref().map(Secret::expose),
                )
            }
            Auth::Scheme { kind, credentials } => {
                let c = credentials.read()?;
                req.header(
                    reqwest::header::AUTHORIZATION,
                    format!("{kind} {}", c.expose()),
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> HttpConfig {
        serde_yaml::from_str(y).unwrap()
    }

    #[test]
    fn prometheus_exclusivity_rules_with_its_messages() {
        for (y, want) in [
            (
                "basic_auth: {username: u, password_file: p}\nauthorization: {credentials_file: c}",
                "at most one of basic_auth, oauth2 & authorization must be configured",
            ),
            (
                "bearer_token: a\nbearer_token_file: b",
                "at most one of bearer_token & bearer_token_file must be configured",
            ),
            (
                "basic_auth: {username: u}\nbearer_token_file: b",
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ),
            (
                "authorization: {credentials: a}\nbearer_token_file: b",
                "authorization is not compatible with bearer_token & bearer_token_file",
            ),
            (
                "basic_auth: {username: u, password: p, password_file: f}",
                "at most one of basic_auth password & password_file must be configured",
            ),
            (
                "basic_auth: {username: u, username_file: f}",
                "at most one of basic_auth username & username_file must be configured",
            ),
            (
                "authorization: {credentials: a, credentials_file: f}",
                "at most one of authorization credentials & credentials_file must be configured",
            ),
            (
                "authorization: {type: Basic, credentials: a}",
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ),
            (
                "proxy_from_environment: true\nproxy_url: http://p:3128",
                "if proxy_from_environment is configured, proxy_url must not be configured",
            ),
            (
                "no_proxy: localhost",
                "if no_proxy is configured, proxy_url must also be configured",
            ),
            (
                "tls_config: {ca: x, ca_file: y}",
                "at most one of ca and ca_file must be configured",
            ),
            (
                "tls_config: {cert_file: c}",
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ),
            (
                "tls_config: {min_version: TLS9}",
                "unknown TLS version: TLS9",
            ),
            (
                "oauth2: {client_secret: s, token_url: 'http://t/'}",
                "oauth2 client_id must be configured",
            ),
            (
                "oauth2: {client_id: x, token_url: 'http://t/'}",
                "either oauth2 client_secret or client_secret_file must be configured",
            ),
            (
                "oauth2: {client_id: x, client_secret: s}",
                "oauth2 token_url must be configured",
            ),
            (
                "oauth2: {client_id: x, client_secret: s, client_secret_file: f, token_url: 'http://t/'}",
                "at most one of oauth2 client_secret & client_secret_file must be configured",
            ),
            (
                "oauth2: {client_id: x, client_secret: s, token_url: 'http://t/', endpoint_params: {scope: a}}",
                "oauth2.endpoint_params: cannot overwrite parameter \"scope\"",
            ),
            (
                "oauth2: {client_id: x, client_secret: s, token_url: 'http://t/'}\nbasic_auth: {username: u}",
                "at most one of basic_auth, oauth2 & authorization must be configured",
            ),
            ("proxy_url: '://x'", "proxy_url: invalid URL"),
            ("proxy_url: 'a%zz'", "proxy_url: invalid URL"),
        ] {
            let errs = parse(y).check();
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{y}: want {want:?}, got {errs:?}"
            );
        }
        let fine = parse(
            "basic_auth: {username: u, password_file: p}\nproxy_url: http://p:3128\nno_proxy: localhost\nfollow_redirects: false\nenable_http2: false\ntls_config: {insecure_skip_verify: true, min_version: TLS12}",
        );
        assert_eq!(fine.check(), Vec::<String>::new());
        assert!(fine.build(Path::new(".")).is_ok());
        // amtool 0.25 accepts these (config/testdata/conf.http-config.good.yml);
        // Alertmanager then fails every request, so the integration is unusable.
        for relative in ["proxy_url: foo", "proxy_url: 'not a url'"] {
            let c = parse(relative);
            assert_eq!(c.check(), Vec::<String>::new(), "{relative}");
            let err = c.build(Path::new(".")).err().unwrap();
            assert!(err.contains("no scheme and host"), "{err}");
        }
    }

    #[test]
    fn secrets_are_redacted_when_shown() {
        let c = parse(
            "basic_auth: {username: u, password: hunter2}\nproxy_url: http://user:pw@p:3128\ntls_config: {key: KEYDATA, cert: CERT}",
        );
        let shown = serde_yaml::to_string(&c).unwrap();
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw@") && !shown.contains("KEYDATA"),
            "{shown}"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.inline_secrets(), ["basic_auth.password"]);
        assert!(
            shown.contains("proxy_url: http://user:xxxxx@p:3128\n"),
            "{shown}"
        );
    }

    #[test]
    fn only_the_password_of_a_proxy_url_is_hidden() {
        for (url, shown) in [
            ("http://u:pw@h:3128", "http://u:xxxxx@h:3128"),
            ("http://u:p@w@h/x?a=b@c", "http://u:xxxxx@h/x?a=b@c"),
            ("http://u@h:3128", "http://u@h:3128"),
            ("http://h:3128/a:b@c", "http://h:3128/a:b@c"),
            ("socks5://u:@h", "socks5://u:xxxxx@h"),
        ] {
            assert_eq!(redact_url_password(url), shown, "{url}");
        }
    }

    #[test]
    fn a_token_is_kept_until_ten_seconds_before_it_expires() {
        let now = tokio::time::Instant::now();
        let t = Token {
            secret: "s".into(),
            header: "Bearer x".into(),
            expires: Some(now + Duration::from_secs(60)),
        };
        assert!(t.fresh("s", now));
        assert!(t.fresh("s", now + Duration::from_secs(49)));
        assert!(!t.fresh("s", now + Duration::from_secs(50)));
        assert!(!t.fresh("rotated", now), "a new secret fetches anew");
        let forever = Token { expires: None, ..t };
        assert!(forever.fresh("s", now + Duration::from_secs(1 << 30)));
        assert_eq!(token_scheme("bearer"), "Bearer");
        assert_eq!(token_scheme(""), "Bearer");
        assert_eq!(token_scheme("mac"), "MAC");
        assert_eq!(token_scheme("DPoP"), "DPoP");
        assert_eq!(query_escape("a b/c"), "a+b%2Fc");
    }

    #[tokio::test]
    async fn credential_files_are_read_relative_to_the_config_and_at_each_request() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "first\n").unwrap();
        let c = parse("authorization: {credentials_file: token}")
            .build(dir.path())
            .unwrap();
        async fn header(c: &HttpClient) -> String {
            c.post("http://127.0.0.1:1/")
                .await
                .unwrap()
                .build()
                .unwrap()
                .headers()
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        }
        assert_eq!(header(&c).await, "Bearer first");
        std::fs::write(dir.path().join("token"), "rotated\n").unwrap();
        assert_eq!(header(&c).await, "Bearer rotated");
        std::fs::remove_file(dir.path().join("token")).unwrap();
        let err = c.post("http://127.0.0.1:1/").await.unwrap_err();
        assert_eq!(err.reason, Reason::CredentialsFile);
        assert!(err.message.contains("token"), "{err}");

        std::fs::write(dir.path().join("pw"), "s3cret").unwrap();
        let basic = parse("basic_auth: {username: alice, password_file: pw}")
            .build(dir.path())
            .unwrap();
        // base64("alice:s3cret")
        assert_eq!(header(&basic).await, "Basic YWxpY2U6czNjcmV0");
    }
}
