//! The process: bind the listener, serve the API, run the reload loop and the
//! periodic tasks, and shut down gracefully on SIGINT/SIGTERM.

use tokio::sync::mpsc;

use super::{Options, Server};
use crate::api::{self, ReloadRequest};

/// `:9093` → `0.0.0.0:9093`, as Go's listener reads it.
pub fn listen_addr(s: &str) -> String {
    if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    }
}

/// The path everything is served under: `--web.route-prefix` if given, else the
/// path of `--web.external-url` (Alertmanager's default); "" or "/x", never a
/// trailing slash.
pub fn route_prefix(flag: Option<&str>, external_url: Option<&str>) -> Result<String, String> {
    let raw = match (flag, external_url) {
        (Some(p), _) => p.to_string(),
        (None, Some(u)) => url::Url::parse(u)
            .map_err(|e| format!("--web.external-url {u:?}: not a URL: {e}"))?
            .path()
            .to_string(),
        (None, None) => String::new(),
    };
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed.contains(['?', '#', '{', '}', '*']) {
        return Err(format!(
            "--web.route-prefix {raw:?}: expected a plain path such as /alerter"
        ));
    }
    Ok(format!("/{trimmed}"))
}

/// Runs until SIGINT/SIGTERM: serves the API, reloads on SIGHUP, `/-/reload` and
/// file changes.
pub async fn run(opts: Options) -> Result<(), String> {
    let prefix = route_prefix(opts.route_prefix.as_deref(), opts.external_url.as_deref())?;
    // Checked before anything starts: a bad web config is a startup error.
    if let Some(p) = &opts.web_config_file {
        web_toolkit::WebConfig::load(p).map_err(|e| e.to_string())?;
    }
    let (tx, rx) = mpsc::channel::<ReloadRequest>(8);
    let server = Server::start(&opts, tx)?;
    server.spawn_gc();
    server.spawn_maintenance();
    let addr = listen_addr(&opts.listen);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("--web.listen-address {addr}: cannot listen: {e}"))?;
    tracing::info!(address = %addr, route_prefix = %prefix, "listening");

    super::reload::spawn_reloader(server.clone(), rx, opts.watch_interval);

    web_toolkit::serve(
        listener,
        api::router(server.api.clone(), &prefix),
        opts.web_config_file.as_deref(),
        web_toolkit::Limits::default(),
        shutdown_signal(),
    )
    .await
    .map_err(|e| format!("serving {addr}: {e}"))?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::route_prefix;

    #[test]
    fn route_prefix_from_flag_or_external_url() {
        let ok = |f: Option<&str>, u: Option<&str>| route_prefix(f, u).unwrap();
        assert_eq!(ok(None, None), "");
        assert_eq!(ok(None, Some("http://example.com")), "");
        assert_eq!(ok(None, Some("https://example.com/alerter/")), "/alerter");
        assert_eq!(ok(Some("/"), Some("https://example.com/x")), "");
        assert_eq!(ok(Some("am/"), None), "/am");
        assert_eq!(ok(Some("/a/b"), None), "/a/b");
        assert!(route_prefix(None, Some("not a url")).is_err());
        assert!(route_prefix(Some("/a?b"), None).is_err());
    }
}
