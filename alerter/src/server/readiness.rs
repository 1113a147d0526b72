//! Readiness: after each (re)load, every email receiver is checked with a
//! connect-only session (connect, TLS, EHLO, AUTH, no mail), off the reload path so
//! a slow or blocked mail server does not delay the reload answer.

use std::sync::Arc;

use super::{Loaded, Server};

impl Server {
    /// The connect-only check of every email receiver, off the reload path: a slow
    /// or blocked mail server must not delay the reload answer.
    pub(super) fn spawn_readiness(&self, loaded: &Arc<Loaded>) {
        let (loaded, metrics) = (loaded.clone(), self.metrics.clone());
        tokio::spawn(async move {
            let results = crate::selftest::check_receivers(&loaded).await;
            let mut ready = Vec::new();
            for (receiver, r) in results {
                match &r {
                    Ok(()) => tracing::info!(
                        receiver = %receiver,
                        "receiver ready: connected, TLS, EHLO and AUTH ok"
                    ),
                    Err(e) => tracing::error!(receiver = %receiver, "receiver NOT ready: {e}"),
                }
                ready.push((receiver, r.is_ok()));
            }
            metrics.set_receivers_ready(&ready);
        });
    }
}
