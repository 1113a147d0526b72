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

/// Runs until SIGINT/SIGTERM: serves the API, reloads on SIGHUP, `/-/reload` and
/// file changes.
pub async fn run(opts: Options) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<ReloadRequest>(8);
    let server = Server::start(&opts, tx)?;
    server.spawn_gc();
    server.spawn_maintenance();
    let addr = listen_addr(&opts.listen);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("--web.listen-address {addr}: cannot listen: {e}"))?;
    tracing::info!(address = %addr, "listening");

    super::reload::spawn_reloader(server.clone(), rx, opts.watch_interval);

    axum::serve(listener, api::router(server.api.clone()))
        .with_graceful_shutdown(shutdown_signal())
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
