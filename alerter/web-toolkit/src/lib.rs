//! The HTTP listener both binaries use: `--web.config.file` in exporter-toolkit's
//! format (TLS, basic auth, security headers) and the limits every connection
//! gets (header size and count, a deadline to send the request headers, a cap on
//! open connections); plus what their `/metrics` share ([`exposition`], [`process`]).
//! Depends on nothing of either binary.
//!
//! As the toolkit does, the file is re-read for every connection (TLS) and every
//! request (users, headers), so editing it or rotating a certificate takes effect
//! without a restart; whether TLS is on is decided at start. A file that stops
//! loading fails closed (500, handshake refused) and is logged.

mod auth;
mod config;
pub mod exposition;
pub mod healthcheck;
pub mod process;

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

pub use auth::BasicAuth;
pub use config::{Error, WebConfig};

/// Limits on every connection, whatever the web config says.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A connection that has not sent a whole request head by then is closed
    /// (slowloris); also the TLS handshake's deadline.
    pub header_read_timeout: Duration,
    /// Request head size (HTTP/1 read buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Open connections; more wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_connections: 512,
        }
    }
}

/// File identity used to notice a change without re-parsing: length and mtime.
type Stamp = Option<(u64, SystemTime)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.len(), m.modified().ok()?))
}

struct Cached {
    bytes: Vec<u8>,
    stamps: Vec<Stamp>,
    config: Arc<WebConfig>,
}

/// A `--web.config.file`, re-read on use and re-parsed when it or a file it names
/// changed.
pub struct WebConfigFile {
    path: PathBuf,
    cache: Mutex<Option<Cached>>,
    /// The last load error logged, so a broken file is logged once, not per request.
    last_error: Mutex<Option<String>>,
}

impl WebConfigFile {
    /// Loads `path` once: an error here is a startup error.
    pub fn open(path: &Path) -> Result<WebConfigFile, Error> {
        let f = WebConfigFile {
            path: path.to_path_buf(),
            cache: Mutex::new(None),
            last_error: Mutex::new(None),
        };
        f.current()?;
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The config as the file says now.
    pub fn current(&self) -> Result<Arc<WebConfig>, Error> {
        let bytes = std::fs::read(&self.path).map_err(|e| Error {
            path: self.path.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.as_ref()
            && c.bytes == bytes
            && c.stamps == c.config.files.iter().map(|p| stamp(p)).collect::<Vec<_>>()
        {
            return Ok(c.config.clone());
        }
        let config = Arc::new(WebConfig::parse(&self.path, &bytes)?);
        *cache = Some(Cached {
            bytes,
            stamps: config.files.iter().map(|p| stamp(p)).collect(),
            config: config.clone(),
        });
        Ok(config)
    }

    /// [`Self::current`], logging a failure once per distinct error.
    fn current_logged(&self) -> Option<Arc<WebConfig>> {
        let r = self.current();
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match r {
            Ok(c) => {
                if last.take().is_some() {
                    tracing::info!(file = %self.path.display(), "web config loads again");
                }
                Some(c)
            }
            Err(e) => {
                let text = e.to_string();
                if last.as_deref() != Some(&text) {
                    tracing::error!("{text}; refusing requests until it is fixed");
                    *last = Some(text);
                }
                None
            }
        }
    }
}

/// What stands between a connection and the app: the web config and basic auth.
struct Gate {
    web: Option<WebConfigFile>,
    auth: BasicAuth,
}

fn plain(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::from(format!(
        "{}\n",
        status.canonical_reason().unwrap_or("")
    )));
    *r.status_mut() = status;
    r
}

impl Gate {
    async fn handle<B>(&self, req: Request<B>, app: Router) -> Response<Body>
    where
        B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let Some(web) = &self.web else {
            return app
                .oneshot(req)
                .await
                .unwrap_or_else(|e: Infallible| match e {});
        };
        let Some(cfg) = web.current_logged() else {
            return plain(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let mut resp = if cfg.users.is_empty() || self.auth.allows(&cfg.users, req.headers()).await
        {
            app.oneshot(req)
                .await
                .unwrap_or_else(|e: Infallible| match e {})
        } else {
            let mut r = plain(StatusCode::UNAUTHORIZED);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic"),
            );
            r
        };
        for (k, v) in &cfg.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests
/// finish (10 s at most). With `web_config`, the file is loaded first: a bad file
/// is an error before anything is served.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web_config: Option<&Path>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let web = web_config.map(WebConfigFile::open).transpose()?;
    let start = web.as_ref().map(WebConfigFile::current).transpose()?;
    let tls = start.as_ref().is_some_and(|c| c.tls.is_some());
    let http2 = tls && start.as_ref().is_some_and(|c| c.http2);
    let addr = listener.local_addr().ok();
    tracing::info!(
        address = ?addr,
        tls,
        http2,
        basic_auth = start.as_ref().is_some_and(|c| !c.users.is_empty()),
        "web server starting"
    );
    let gate = Arc::new(Gate {
        web,
        auth: BasicAuth::default(),
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(100);
    let builder = if http2 { builder } else { builder.http1_only() };
    let builder = Arc::new(builder);

    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (gate, app, builder) = (gate.clone(), app.clone(), builder.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let svc_gate = gate.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (gate, app) = (svc_gate.clone(), app.clone());
                async move { Ok::<_, Infallible>(gate.handle(req, app).await) }
            });
            if tls {
                let Some(cfg) = gate.web.as_ref().and_then(WebConfigFile::current_logged) else {
                    return;
                };
                let Some(tls_cfg) = cfg.tls.clone() else {
                    tracing::error!(
                        "web config no longer has tls_server_config; restart to serve plain HTTP"
                    );
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(tls_cfg);
                let stream =
                    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake: {e}");
                            return;
                        }
                        Err(_) => return,
                    };
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let _ = watcher.watch(conn.into_owned()).await;
            } else {
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let _ = watcher.watch(conn.into_owned()).await;
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: requests still open after 10s, closing them");
    }
    Ok(())
}
