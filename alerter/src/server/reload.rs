//! Reloading: a config that fails to load never replaces the running one, and the
//! failure is reported in the log, the metric and the API. Triggers: SIGHUP,
//! `POST /-/reload` (through a channel), and the file's content changing on disk.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Server;
use super::source::{Source, announce, load};
use crate::api::{ReloadRequest, ReloadStatus};
use crate::config;
use crate::sync::{read, write};

impl Server {
    /// Loads the config again and puts it in service; on failure keeps the old one
    /// and reports the reason everywhere.
    pub fn reload(&self) -> Result<(), String> {
        let now = self.api.clock.now();
        // A secret file that cannot be read is refused like broken YAML: at a
        // reload there is a working config to keep, unlike at start-up.
        let result = load(&self.source).and_then(|l| {
            if l.unreadable_secrets.is_empty() {
                Ok(l)
            } else {
                Err(format!(
                    "{}: {}",
                    self.source.origin(),
                    l.unreadable_secrets.join("; ")
                ))
            }
        });
        let prev = self.api.reload_status();
        match result {
            Ok(loaded) => {
                *write(&self.last_seen) = Some(loaded.hash.clone());
                let loaded = Arc::new(loaded);
                self.activate(loaded.clone())?;
                self.metrics.config_loaded(true, Some(&loaded.hash), now);
                self.api.set_reload_status(ReloadStatus {
                    at: now,
                    success: true,
                    error: None,
                    last_success: Some(now),
                });
                tracing::info!(file = %self.source.origin(), hash = %loaded.hash, "configuration reloaded");
                announce(&self.source, &loaded);
                Ok(())
            }
            Err(reason) => {
                self.metrics.config_loaded(false, None, now);
                self.api.set_reload_status(ReloadStatus {
                    at: now,
                    success: false,
                    error: Some(reason.clone()),
                    last_success: prev.last_success,
                });
                tracing::error!(
                    file = %self.source.origin(),
                    "configuration reload FAILED, still running the previous configuration: {reason}"
                );
                Err(reason)
            }
        }
    }

    /// Reloads when the file's bytes differ from the last ones tried.
    pub fn reload_if_changed(&self) {
        let Source::File(_) = &self.source else {
            return;
        };
        // An I/O error (out of file descriptors, the file being replaced) says
        // nothing about the config: keep running it, warn once, look again later.
        let seen = match self.source.read() {
            Ok(b) => {
                write(&self.watch_error).take();
                config::hash(&b)
            }
            Err(e) => {
                let mut last = write(&self.watch_error);
                if last.as_deref() != Some(e.as_str()) {
                    tracing::warn!(
                        "configuration file watch: {e}; still running the current configuration, will look again"
                    );
                    *last = Some(e);
                }
                return;
            }
        };
        if read(&self.last_seen).as_deref() == Some(seen.as_str()) {
            // The config is the same; a rule file it names may not be.
            let rules = self.rule_files_hash();
            if rules.is_some() && *read(&self.rules_seen) != rules {
                *write(&self.rules_seen) = rules;
                tracing::info!("a rule file changed on disk; reloading");
                let _ = self.reload();
            }
            return;
        }
        *write(&self.last_seen) = Some(seen);
        tracing::info!(file = %self.source.origin(), "configuration file changed on disk; reloading");
        let _ = self.reload();
    }
}

/// Serves reload requests until the channel closes: from the API, SIGHUP, and a
/// poll of the file's hash every `watch_interval`.
pub(super) fn spawn_reloader(
    server: Arc<Server>,
    mut rx: mpsc::Receiver<ReloadRequest>,
    watch_interval: Duration,
) {
    tokio::spawn(async move {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("cannot listen for SIGHUP: {e}");
                None
            }
        };
        let mut poll = tokio::time::interval(watch_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hup_recv = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                req = rx.recv() => {
                    let Some(done) = req else { break };
                    let _ = done.send(server.reload());
                }
                _ = hup_recv => {
                    tracing::info!("SIGHUP: reloading configuration");
                    let _ = server.reload();
                }
                _ = poll.tick() => server.reload_if_changed(),
            }
        }
    });
}
