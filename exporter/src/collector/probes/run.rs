//! One run of one probe: a fresh reqwest client (a new connection and full TLS handshake
//! every time, as blackbox_exporter makes), the whole exchange under the probe's
//! timeout, and the [`Outcome`] blackbox_exporter's metrics are made from.
//!
//! Phases are measured where reqwest lets us see them: `resolve` around our DNS
//! resolver, connection set-up around reqwest's connector (resolve + TCP connect + TLS
//! handshake in one step), `processing` up to the response headers and `transfer` for
//! the body. So `connect` is exported for plain-HTTP runs only; with TLS the connect and
//! handshake cannot be told apart, and neither `connect` nor `tls` is exported rather
//! than a made-up split.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::Probe;

/// At most this much of a body is kept for `body_regex`; the rest is read and counted.
pub const BODY_REGEX_LIMIT: usize = 16 << 20;
/// Go's http.Client, which blackbox_exporter uses, stops after 10 redirects.
pub const MAX_REDIRECTS: usize = 10;

/// What a run found. Fields a run did not reach stay at their zero values, as
/// blackbox_exporter reports them (`probe_http_status_code 0` without a response).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub success: bool,
    /// Wall time of the run; a run that hits its timeout reports exactly the timeout.
    pub duration: Duration,
    pub status_code: u16,
    /// The `Content-Length` header; `None` (exported as -1) without one.
    pub content_length: Option<u64>,
    pub body_length: u64,
    pub redirects: u32,
    /// The final response came over TLS.
    pub ssl: bool,
    pub http_version: f64,
    pub failed_due_to_regex: bool,
    /// Earliest `notAfter` of the chain of the last TLS handshake (Unix seconds).
    pub earliest_cert_expiry: Option<i64>,
    pub phases: Phases,
    /// Why the run failed, for the log; `None` on success.
    pub error: Option<String>,
}

/// Phase durations, summed over redirects.
#[derive(Clone, Debug, Default)]
pub struct Phases {
    pub resolve: Duration,
    /// TCP connect; `None` when any connection of the run used TLS (see the module doc).
    pub connect: Option<Duration>,
    pub processing: Duration,
    pub transfer: Duration,
}

impl Phases {
    /// The phases measured, with blackbox_exporter's `phase` label values.
    pub fn measured(&self) -> Vec<(&'static str, Duration)> {
        let mut out = vec![("resolve", self.resolve)];
        if let Some(c) = self.connect {
            out.push(("connect", c));
        }
        out.push(("processing", self.processing));
        out.push(("transfer", self.transfer));
        out
    }
}

/// What the parts of reqwest we hook into have seen so far; read after the run, also
/// when it timed out.
#[derive(Default)]
struct Progress {
    resolve: Duration,
    /// Time inside reqwest's connector (resolve + connect + TLS).
    connecting: Duration,
    any_tls: bool,
    redirects: u32,
}

type Shared = Arc<Mutex<Progress>>;

fn lock(p: &Shared) -> MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `probe` once, ending at `timeout` at the latest.
pub async fn probe(probe: &Probe, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let progress = Shared::default();
    lock(&progress).any_tls = probe.url.scheme() == "https";
    let mut out = Outcome::default();
    let client = probe
        .tls
        .client_config()
        .map_err(|e| format!("TLS setup: {e}"))
        .and_then(|(tls, seen)| {
            client(tls, &progress)
                .map(|c| (c, seen))
                .map_err(|e| format!("HTTP client setup: {}", error_chain(&e)))
        });
    let (client, seen) = match client {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(e);
            out.duration = start.elapsed();
            return out;
        }
    };
    let mut exchange = Exchange::default();
    let result = tokio::time::timeout(timeout, exchange.run(probe, &client, &mut out)).await;
    let elapsed = start.elapsed();
    out.error = match result {
        Err(_) => Some(format!("timed out after {}", super::fmt_duration(timeout))),
        Ok(Err(e)) => Some(error_chain(&e)),
        Ok(Ok(body)) => judge(probe, &mut out, body.as_deref()),
    };
    out.success = out.error.is_none();
    out.duration = elapsed.min(timeout);

    let p = lock(&progress);
    out.phases.resolve = p.resolve;
    if !p.any_tls {
        out.phases.connect = Some(p.connecting.saturating_sub(p.resolve));
    }
    if let Some(headers) = exchange.headers {
        out.phases.processing = headers
            .saturating_duration_since(start)
            .saturating_sub(p.connecting);
        if let Some(end) = exchange.body_end {
            out.phases.transfer = end.saturating_duration_since(headers);
        }
    }
    out.redirects = p.redirects;
    if out.ssl {
        out.earliest_cert_expiry = *seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    out
}

/// blackbox_exporter's verdict on a response that arrived: status first, then (only for
/// a valid status) the body regex. `Some(reason)` when the probe failed.
fn judge(probe: &Probe, out: &mut Outcome, body: Option<&[u8]>) -> Option<String> {
    if !probe.status_ok(out.status_code) {
        return Some(format!("status code {} is not valid", out.status_code));
    }
    if let Some(re) = &probe.body_regex {
        let text = String::from_utf8_lossy(body.unwrap_or_default());
        if !re.is_match(&text) {
            out.failed_due_to_regex = true;
            return Some(format!("body does not match body_regex {:?}", re.as_str()));
        }
    }
    None
}

/// The instants of one exchange, kept outside its future so a timeout still leaves them.
#[derive(Default)]
struct Exchange {
    headers: Option<Instant>,
    body_end: Option<Instant>,
}

impl Exchange {
    /// Sends the request and reads the whole body; returns the body kept for the regex.
    async fn run(
        &mut self,
        probe: &Probe,
        client: &reqwest::Client,
        out: &mut Outcome,
    ) -> Result<Option<Vec<u8>>, reqwest::Error> {
        let mut resp = client
            .request(probe.method.clone(), probe.url.clone())
            .headers(probe.headers.clone())
            .send()
            .await?;
        self.headers = Some(Instant::now());
        out.status_code = resp.status().as_u16();
        out.http_version = http_version(resp.version());
        out.ssl = resp.url().scheme() == "https";
        out.content_length = resp
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let mut kept = probe.body_regex.as_ref().map(|_| Vec::new());
        while let Some(chunk) = resp.chunk().await? {
            out.body_length += chunk.len() as u64;
            if let Some(buf) = kept.as_mut() {
                let room = BODY_REGEX_LIMIT.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        self.body_end = Some(Instant::now());
        Ok(kept)
    }
}

fn http_version(v: reqwest::Version) -> f64 {
    match v {
        reqwest::Version::HTTP_09 => 0.9,
        reqwest::Version::HTTP_10 => 1.0,
        reqwest::Version::HTTP_2 => 2.0,
        reqwest::Version::HTTP_3 => 3.0,
        _ => 1.1,
    }
}

/// `e` and its causes on one line: reqwest's own message alone says "error sending
/// request", the cause says "Connection refused".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = c.source();
    }
    text
}

fn client(tls: rustls::ClientConfig, progress: &Shared) -> reqwest::Result<reqwest::Client> {
    let redirects = progress.clone();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"));
        }
        let mut p = lock(&redirects);
        p.redirects += 1;
        p.any_tls |= attempt.url().scheme() == "https";
        drop(p);
        attempt.follow()
    });
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        // No connection is reused: each run measures a new connect, as blackbox does.
        .pool_max_idle_per_host(0)
        // blackbox_exporter uses a proxy only when its config names one.
        .no_proxy()
        .redirect(policy)
        .user_agent(concat!("exporter/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(TimedResolver(progress.clone())))
        .connector_layer(TimedLayer(progress.clone()))
        .build()
}

/// The system resolver (as reqwest's default), timed.
struct TimedResolver(Shared);

impl reqwest::dns::Resolve for TimedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let progress = self.0.clone();
        Box::pin(async move {
            let start = Instant::now();
            let found = tokio::net::lookup_host((name.as_str(), 0)).await;
            lock(&progress).resolve += start.elapsed();
            let addrs: Vec<_> = found?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Times every connection reqwest's connector sets up.
#[derive(Clone)]
struct TimedLayer(Shared);

impl<S> tower::Layer<S> for TimedLayer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed {
            inner,
            progress: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Timed<S> {
    inner: S,
    progress: Shared,
}

impl<S, R> tower::Service<R> for Timed<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let start = Instant::now();
        let fut = self.inner.call(req);
        let progress = self.progress.clone();
        Box::pin(async move {
            let result = fut.await;
            lock(&progress).connecting += start.elapsed();
            result
        })
    }
}
