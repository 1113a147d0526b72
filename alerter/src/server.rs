//! The daemon: builds everything from a config and keeps it current. Owns the
//! process-lifetime state (the alert provider, silences and notification log in
//! `--storage.path`) and the per-config state (route tree, receivers, inhibitor),
//! which a reload rebuilds and swaps as a whole.
//!
//! A reload comes from SIGHUP, `POST /-/reload`, or the config file's content
//! changing on disk (its hash is polled). A config that fails to load never
//! replaces the running one, and the failure is loud: an error log line naming
//! file, line and field, `alerter_config_last_reload_successful 0`, and the reason
//! in `/api/v2/status` (Alertmanager only logs it; the users' alerting was broken
//! for 13 days that way).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::{self, Api, GroupView, ReloadRequest, ReloadStatus, RouteView, Runtime};
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::dispatch::route::Route;
use crate::labels::LabelSet;
use crate::metrics::Metrics;
use crate::mute::Muter;
use crate::notify::email::{self, EmailNotifier};
use crate::notify::nflog::Nflog;
use crate::notify::{Notification, Notifier, NotifyError};
use crate::provider::Alerts;
use crate::silence::Silences;

/// The built-in config: the users' routing policy (MISSION.md), used when no
/// `--config.file` is given and the default file does not exist.
pub const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// Where the config comes from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Embedded,
}

impl Source {
    fn origin(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Embedded => "<built-in default config>".into(),
        }
    }

    fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Source::File(p) => {
                std::fs::read(p).map_err(|e| format!("{}: cannot read: {e}", p.display()))
            }
            Source::Embedded => Ok(DEFAULT_CONFIG.as_bytes().to_vec()),
        }
    }
}

pub struct Options {
    pub source: Source,
    pub storage_path: PathBuf,
    /// `host:port`; `:port` means every interface.
    pub listen: String,
    pub external_url: Option<String>,
    pub retention: Duration,
    /// How often the config file's hash is checked.
    pub watch_interval: Duration,
}

/// A loaded config, before it is put in service.
pub struct Loaded {
    pub config: Config,
    pub hash: String,
    pub route: Arc<Route>,
    pub receivers: BTreeMap<String, Vec<Arc<dyn Notifier>>>,
    pub warnings: Vec<String>,
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// An email integration whose settings do not resolve (e.g. the password file is
/// missing): the config still loads, and every delivery fails with the reason, so
/// it shows up in metrics and logs instead of stopping the whole alerter.
struct Unusable {
    integration: &'static str,
    reason: String,
}

impl Notifier for Unusable {
    fn integration(&self) -> &'static str {
        self.integration
    }

    fn notify<'a>(&'a self, _: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            tracing::error!(
                integration = self.integration,
                "cannot deliver: {}",
                self.reason
            );
            Err(NotifyError {
                retryable: false,
                reason: "config",
                message: self.reason.clone(),
            })
        })
    }
}

/// Reads, parses and validates a config and builds its receivers. Pure apart from
/// reading the config and password files; nothing is started.
pub fn load(source: &Source) -> Result<Loaded, String> {
    let bytes = source.read()?;
    let origin = source.origin();
    let text = String::from_utf8(bytes.clone()).map_err(|e| format!("{origin}: not UTF-8: {e}"))?;
    let config = config::parse(&text, &origin)?;
    let route = Route::from_config(&config).map_err(|e| format!("{origin}: {e}"))?;
    let env = |k: &str| std::env::var(k).ok();
    let smtp = config.global.smtp();
    let mut receivers = BTreeMap::new();
    let mut warnings = Vec::new();
    if matches!(source, Source::Embedded) {
        warnings.push("running the built-in default config: no --config.file given and ./alertmanager.yml does not exist".to_string());
    }
    for r in &config.receivers {
        let mut list: Vec<Arc<dyn Notifier>> = Vec::new();
        for (i, e) in r.email_configs.iter().enumerate() {
            match email::resolve(e, &smtp, &env) {
                Ok((cfg, warns)) => {
                    warnings.extend(
                        warns
                            .into_iter()
                            .map(|w| format!("receiver {:?} email_configs[{i}]: {w}", r.name)),
                    );
                    list.push(Arc::new(EmailNotifier { cfg }));
                }
                Err(errs) => {
                    let reason = format!(
                        "receiver {:?} email_configs[{i}] cannot send: {}",
                        r.name,
                        errs.join("; ")
                    );
                    warnings.push(reason.clone());
                    list.push(Arc::new(Unusable {
                        integration: "email",
                        reason,
                    }));
                }
            }
        }
        receivers.insert(r.name.clone(), list);
    }
    Ok(Loaded {
        config,
        hash: sha256_hex(&bytes),
        route: Arc::new(route),
        receivers,
        warnings,
    })
}

/// The API's view of the route tree: receivers by matching, and the groups the
/// dispatcher would hold for the stored alerts (route id + group labels).
struct TreeView {
    route: Arc<Route>,
    alerts: Arc<Alerts>,
    clock: Clock,
}

impl RouteView for TreeView {
    fn receivers(&self, labels: &LabelSet) -> Vec<String> {
        self.route
            .matches(labels)
            .iter()
            .map(|r| r.receiver.clone())
            .collect()
    }

    fn groups(&self) -> Vec<GroupView> {
        let now = self.clock.now();
        let mut groups: BTreeMap<(String, LabelSet), GroupView> = BTreeMap::new();
        for a in self.alerts.list() {
            if a.resolved_at(now) {
                continue;
            }
            for r in self.route.matches(&a.labels) {
                let labels = r.group_labels(&a.labels);
                groups
                    .entry((r.id().to_string(), labels.clone()))
                    .or_insert_with(|| GroupView {
                        receiver: r.receiver.clone(),
                        labels,
                        alerts: Vec::new(),
                    })
                    .alerts
                    .push(a.clone());
            }
        }
        groups.into_values().collect()
    }
}

/// Until the inhibitor is wired in: mutes nothing.
struct NoInhibitor;

impl Muter for NoInhibitor {
    fn muted_by(&self, _: &LabelSet, _: chrono::DateTime<Utc>) -> Vec<String> {
        Vec::new()
    }
}

/// `:9093` → `0.0.0.0:9093`, as Go's listener reads it.
pub fn listen_addr(s: &str) -> String {
    if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    }
}

/// The running process: what the reload loop and shutdown need.
pub struct Server {
    pub api: Arc<Api>,
    pub alerts: Arc<Alerts>,
    pub silences: Arc<Silences>,
    pub nflog: Arc<Nflog>,
    pub metrics: Arc<Metrics>,
    source: Source,
    /// Hash of the file content last tried (loaded or not), so the watcher reports
    /// a broken file once, not every poll.
    last_seen: RwLock<Option<String>>,
    loaded: RwLock<Option<Arc<Loaded>>>,
}

impl Server {
    /// Opens the data directory and loads the first config. A first config that
    /// does not load is fatal (Alertmanager refuses to start too).
    pub fn start(
        opts: &Options,
        reload: mpsc::Sender<ReloadRequest>,
    ) -> Result<Arc<Server>, String> {
        let clock = Clock::system();
        let now = clock.now();
        std::fs::create_dir_all(&opts.storage_path).map_err(|e| {
            format!(
                "--storage.path {}: cannot create: {e}",
                opts.storage_path.display()
            )
        })?;
        let silences = Arc::new(Silences::open(&opts.storage_path, clock, opts.retention)?);
        let (nflog, _) = Nflog::open(&opts.storage_path, opts.retention, now)?;
        let nflog = Arc::new(nflog);
        let alerts = Arc::new(Alerts::new(clock));
        let metrics = Arc::new(Metrics::new());
        let loaded = load(&opts.source)?;
        let hash = loaded.hash.clone();
        let storage_errors: api::StorageErrors = {
            let (s, n) = (silences.clone(), nflog.clone());
            Box::new(move || {
                vec![
                    ("silences".to_string(), s.errors()),
                    ("nflog".to_string(), n.errors()),
                ]
            })
        };
        let loaded = Arc::new(loaded);
        let rt = runtime_for(&loaded, &alerts, clock);
        let api = Arc::new(Api {
            clock,
            alerts: alerts.clone(),
            silences: silences.clone(),
            runtime: RwLock::new(Arc::new(rt)),
            reload_status: RwLock::new(ReloadStatus {
                at: now,
                success: true,
                error: None,
                last_success: Some(now),
            }),
            metrics: metrics.clone(),
            reload: Some(reload),
            started: now,
            storage_errors,
        });
        metrics.config_loaded(true, Some(&hash), now);
        announce(&opts.source, &loaded);
        Ok(Arc::new(Server {
            api,
            alerts,
            silences,
            nflog,
            metrics,
            source: opts.source.clone(),
            last_seen: RwLock::new(Some(hash)),
            loaded: RwLock::new(Some(loaded)),
        }))
    }

    /// Loads the config again and puts it in service; on failure keeps the old one
    /// and reports the reason everywhere.
    pub fn reload(&self) -> Result<(), String> {
        let now = self.api.clock.now();
        let result = load(&self.source);
        let prev = self.api.reload_status();
        match result {
            Ok(loaded) => {
                *write(&self.last_seen) = Some(loaded.hash.clone());
                let loaded = Arc::new(loaded);
                let rt = runtime_for(&loaded, &self.alerts, self.api.clock);
                self.api.set_runtime(Arc::new(rt));
                *write(&self.loaded) = Some(loaded.clone());
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
        let seen = match self.source.read() {
            Ok(b) => sha256_hex(&b),
            Err(e) => sha256_hex(e.as_bytes()),
        };
        if read(&self.last_seen).as_deref() == Some(seen.as_str()) {
            return;
        }
        *write(&self.last_seen) = Some(seen);
        tracing::info!(file = %self.source.origin(), "configuration file changed on disk; reloading");
        let _ = self.reload();
    }

    /// Periodic maintenance, as Alertmanager's: resolved alerts every 30 minutes,
    /// silences and notification log every 15.
    pub fn spawn_gc(self: &Arc<Self>) {
        let s = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(30 * 60));
            t.tick().await;
            loop {
                t.tick().await;
                let gone = s.alerts.gc();
                tracing::debug!(count = gone.len(), "alert gc");
            }
        });
        let s = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(15 * 60));
            t.tick().await;
            loop {
                t.tick().await;
                let sil = s.silences.gc();
                let nf = s.nflog.gc(s.api.clock.now());
                tracing::debug!(silences = sil, nflog = nf, "maintenance");
            }
        });
    }
}

fn runtime_for(l: &Arc<Loaded>, alerts: &Arc<Alerts>, clock: Clock) -> Runtime {
    Runtime::new(
        l.config.clone(),
        l.hash.clone(),
        Arc::new(TreeView {
            route: l.route.clone(),
            alerts: alerts.clone(),
            clock,
        }),
        Arc::new(NoInhibitor),
        l.warnings.clone(),
    )
}

/// Logs what is now running, and every warning at error level: a receiver that
/// cannot send is an outage in waiting.
fn announce(source: &Source, l: &Loaded) {
    tracing::info!(
        file = %source.origin(),
        hash = %l.hash,
        receivers = l.receivers.len(),
        "configuration loaded"
    );
    if matches!(source, Source::Embedded) {
        tracing::warn!(
            "no --config.file given and ./alertmanager.yml does not exist: running the built-in default config (set ALERTER_SMTP_PASSWORD and edit addresses, or pass --config.file)"
        );
    }
    for w in &l.warnings {
        tracing::error!(file = %source.origin(), "{w}");
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs until SIGINT/SIGTERM: serves the API, reloads on SIGHUP, `/-/reload` and
/// file changes.
pub async fn run(opts: Options) -> Result<(), String> {
    let (tx, mut rx) = mpsc::channel::<ReloadRequest>(8);
    let server = Server::start(&opts, tx)?;
    server.spawn_gc();
    let addr = listen_addr(&opts.listen);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("--web.listen-address {addr}: cannot listen: {e}"))?;
    tracing::info!(address = %addr, "listening");

    let reloader = server.clone();
    let watch_interval = opts.watch_interval;
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
                    let _ = done.send(reloader.reload());
                }
                _ = hup_recv => {
                    tracing::info!("SIGHUP: reloading configuration");
                    let _ = reloader.reload();
                }
                _ = poll.tick() => reloader.reload_if_changed(),
            }
        }
    });

    axum::serve(listener, api::router(server.api.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("serving {addr}: {e}"))?;
    tracing::info!("shutting down");
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
