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

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::{self, Api, GroupView, ReloadRequest, ReloadStatus, RouteView, Runtime};
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::dispatch::route::Route;
use crate::dispatch::{self, Dispatcher};
use crate::inhibit::Inhibitor;
use crate::labels::LabelSet;
use crate::metrics::Metrics;
use crate::notify::Notification;
use crate::notify::nflog::Nflog;
use crate::notify::pipeline::{Pipeline, PipelineStats, Receivers};
use crate::notify::template::Templates;
use crate::provider::{Alerts, Listener};
use crate::selfmon::{self, SelfMonitor, Settings};
use crate::silence::Silences;
use crate::store::alerts::AlertLog;
use crate::timeinterval::Intervals;

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
    pub receivers: Receivers,
    pub intervals: Intervals,
    pub templates: Templates,
    pub selfmon: Settings,
    pub warnings: Vec<String>,
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Reads, parses and validates a config and builds its receivers. Pure apart from
/// reading the config, template and secret files; nothing is started.
pub fn load(source: &Source) -> Result<Loaded, String> {
    let bytes = source.read()?;
    let origin = source.origin();
    let text = String::from_utf8(bytes.clone()).map_err(|e| format!("{origin}: not UTF-8: {e}"))?;
    let base_dir = match source {
        Source::File(p) => p
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
        Source::Embedded => PathBuf::from("."),
    };
    let (config, templates) = config::parse_with_templates(&text, &origin, &base_dir)?;
    let route = Route::from_config(&config).map_err(|e| format!("{origin}: {e}"))?;
    let intervals = Intervals::from_config(&config).map_err(|e| format!("{origin}: {e}"))?;
    let env = |k: &str| std::env::var(k).ok();
    let mut warnings = Vec::new();
    if matches!(source, Source::Embedded) {
        warnings.push(format!(
            "{EMBEDDED_NOTICE}: no --config.file given and ./alertmanager.yml does not exist"
        ));
    }
    let (receivers, warns) = dispatch::build_receivers(&config, &env, &templates);
    warnings.extend(warns);
    // A heartbeat URL that does not resolve must not stop alerting: warn, and run
    // without the heartbeat (its absence alarms on the other side).
    let sm = config.self_monitoring.clone().unwrap_or_default();
    let selfmon = match sm.resolve(&env) {
        Ok(s) => s,
        Err(e) => {
            warnings.push(format!("{e}; running without the heartbeat"));
            let mut no_url = sm;
            no_url.heartbeat_url = None;
            no_url.heartbeat_url_file = None;
            no_url.heartbeat_url_env = None;
            no_url
                .resolve(&|_| None)
                .map_err(|e| format!("{origin}: {e}"))?
        }
    };
    Ok(Loaded {
        config,
        hash: sha256_hex(&bytes),
        route: Arc::new(route),
        receivers,
        intervals,
        templates,
        selfmon,
        warnings,
    })
}

/// The API's view of the current config: receivers by matching the route tree,
/// and the dispatcher's aggregation groups.
struct TreeView {
    route: Arc<Route>,
    dispatcher: Arc<Dispatcher>,
    alerts: Arc<Alerts>,
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
        self.dispatcher
            .groups()
            .into_iter()
            .map(|g| GroupView {
                receiver: g.receiver,
                labels: g.labels,
                alerts: g
                    .alerts
                    .iter()
                    .filter_map(|fp| self.alerts.get(*fp))
                    .collect(),
            })
            .collect()
    }
}

/// What one config runs: replaced as a whole on reload.
struct Active {
    loaded: Arc<Loaded>,
    dispatcher: Arc<Dispatcher>,
    inhibitor: Arc<Inhibitor>,
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
    pub alert_log: Arc<AlertLog>,
    pub metrics: Arc<Metrics>,
    pub stats: Arc<PipelineStats>,
    pub selfmon: Arc<SelfMonitor>,
    source: Source,
    external_url: String,
    active: RwLock<Option<Active>>,
    /// Hash of the file content last tried (loaded or not), so the watcher reports
    /// a broken file once, not every poll.
    last_seen: RwLock<Option<String>>,
}

impl Server {
    /// Opens the data directory, restores the alerts, and puts the first config in
    /// service. A first config that does not load is fatal (Alertmanager refuses to
    /// start too). Must be called inside a tokio runtime.
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
        let (nflog, nflog_rec) = Nflog::open(&opts.storage_path, opts.retention, now)?;
        let nflog = Arc::new(nflog);
        // Resolved alerts are kept as long as the provider's GC would have kept them.
        let (alert_log, restored, alerts_rec) =
            AlertLog::open(&opts.storage_path, now, ALERT_GC_INTERVAL)?;
        for (what, rec) in [("nflog", &nflog_rec), ("alerts", &alerts_rec)] {
            if let Some(aside) = &rec.set_aside {
                tracing::error!(
                    file = what,
                    "unreadable data file set aside as {}; starting without it",
                    aside.display()
                );
            } else if rec.dropped_lines > 0 {
                tracing::warn!(
                    file = what,
                    lines = rec.dropped_lines,
                    "dropped a torn tail (crash during a write)"
                );
            }
        }
        let alert_log = Arc::new(alert_log);
        let alerts = Arc::new(Alerts::new(clock));
        tracing::info!(
            alerts = restored.len(),
            "restored alerts from the data directory"
        );
        // Before the listeners: restored alerts are not written back.
        alerts.put(restored);
        let stats = Arc::new(PipelineStats::default());
        let metrics = Arc::new(Metrics::new(stats.clone()));
        let loaded = Arc::new(load(&opts.source)?);
        let hash = loaded.hash.clone();
        let storage_errors: api::StorageErrors = {
            let (s, n, a) = (silences.clone(), nflog.clone(), alert_log.clone());
            Box::new(move || {
                vec![
                    ("silences".to_string(), s.errors()),
                    ("nflog".to_string(), n.errors()),
                    ("alerts".to_string(), a.errors()),
                ]
            })
        };
        let external_url = opts.external_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                listen_addr(&opts.listen).replace("0.0.0.0", "localhost")
            )
        });
        let selfmon = Arc::new(SelfMonitor::new(
            loaded.selfmon.clone(),
            external_url.clone(),
        ));
        // A placeholder until `activate` installs the real runtime below.
        let placeholder = Runtime::new(
            loaded.config.clone(),
            loaded.hash.clone(),
            Arc::new(NoRoutes),
            Arc::new(Inhibitor::from_rules(Vec::new(), clock)),
            loaded.warnings.clone(),
        );
        let api = Arc::new(Api {
            clock,
            alerts: alerts.clone(),
            silences: silences.clone(),
            runtime: RwLock::new(Arc::new(placeholder)),
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
            notify_stats: stats.clone(),
        });
        let server = Arc::new(Server {
            api,
            alerts,
            silences,
            nflog,
            alert_log,
            metrics,
            stats,
            selfmon,
            source: opts.source.clone(),
            external_url,
            active: RwLock::new(None),
            last_seen: RwLock::new(Some(hash.clone())),
        });
        server.activate(loaded.clone())?;
        server.metrics.config_loaded(true, Some(&hash), now);
        announce(&opts.source, &loaded);
        Ok(server)
    }

    /// Puts a loaded config in service: a new inhibitor, pipeline and dispatcher
    /// get every stored alert; the old dispatcher's timers stop, but a flush it
    /// has in flight finishes its sends (Alertmanager cancels them: #2146, #2417).
    fn activate(&self, loaded: Arc<Loaded>) -> Result<(), String> {
        let clock = self.api.clock;
        let inhibitor = Arc::new(Inhibitor::new(&loaded.config.inhibit_rules, clock)?);
        let pipeline = Pipeline::new(
            loaded.receivers.clone(),
            inhibitor.clone(),
            self.silences.clone(),
            loaded.intervals.clone(),
            self.nflog.clone(),
            self.external_url.clone(),
            clock,
        )
        .with_stats(self.stats.clone());
        let dispatcher = Arc::new(Dispatcher::new(
            (*loaded.route).clone(),
            Arc::new(pipeline),
            clock,
        ));
        let rt = Runtime::new(
            loaded.config.clone(),
            loaded.hash.clone(),
            Arc::new(TreeView {
                route: loaded.route.clone(),
                dispatcher: dispatcher.clone(),
                alerts: self.alerts.clone(),
            }),
            inhibitor.clone(),
            loaded.warnings.clone(),
        );
        // The inhibitor first: it must know the sources before the dispatcher's
        // first flush asks it.
        self.alerts.set_listeners(vec![
            inhibitor.clone() as Arc<dyn Listener>,
            dispatcher.clone() as Arc<dyn Listener>,
            self.alert_log.clone() as Arc<dyn Listener>,
        ]);
        self.api.set_runtime(Arc::new(rt));
        self.selfmon.set_settings(loaded.selfmon.clone());
        self.stats
            .retain_receivers(&loaded.receivers.keys().map(String::as_str).collect());
        let old = write(&self.active).replace(Active {
            loaded: loaded.clone(),
            dispatcher,
            inhibitor,
        });
        if let Some(old) = old {
            old.dispatcher.stop();
        }
        self.spawn_readiness(&loaded);
        Ok(())
    }

    /// The connect-only check of every email receiver, off the reload path: a slow
    /// or blocked mail server must not delay the reload answer.
    fn spawn_readiness(&self, loaded: &Arc<Loaded>) {
        let (loaded, metrics) = (loaded.clone(), self.metrics.clone());
        tokio::spawn(async move {
            let env = |k: &str| std::env::var(k).ok();
            let results =
                crate::selftest::check_receivers(&loaded.config, &loaded.templates, &env).await;
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

    /// The config in service.
    fn current(&self) -> Option<Arc<Loaded>> {
        read(&self.active).as_ref().map(|a| a.loaded.clone())
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

    /// Compacts the alert log when due (cheap otherwise), and runs the
    /// self-monitoring checks.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let s = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(60));
            t.tick().await;
            loop {
                t.tick().await;
                s.alert_log.maintain(&s.alerts);
            }
        });
        let s = self.clone();
        tokio::spawn(async move {
            let mut last_ping: Option<tokio::time::Instant> = None;
            loop {
                s.self_check(&mut last_ping).await;
                // Often enough to announce a failure soon after `failing_after`.
                let st = s.selfmon.settings();
                let every = SELFMON_INTERVAL
                    .min(st.failing_after / 2)
                    .min(st.heartbeat_interval)
                    .max(Duration::from_millis(200));
                tokio::time::sleep(every).await;
            }
        });
    }

    /// One self-monitoring round: alarms to the healthy receivers, the heartbeat.
    async fn self_check(&self, last_ping: &mut Option<tokio::time::Instant>) {
        let Some(loaded) = self.current() else {
            return;
        };
        let now = self.api.clock.now();
        let status = self.api.reload_status();
        let inputs = selfmon::Inputs {
            failing: self
                .stats
                .snapshot()
                .failing
                .into_iter()
                .map(|((receiver, integration), f)| selfmon::Failing {
                    receiver,
                    integration,
                    reason: f.reason.to_string(),
                    message: f.message,
                    since: f.since,
                })
                .collect(),
            config_error: (!status.success).then(|| (status.error.unwrap_or_default(), status.at)),
            receivers: loaded.receivers.keys().cloned().collect(),
        };
        let plan = self.selfmon.plan(now, &inputs);
        for alarm in plan.alarms {
            let n = Notification {
                group_key: alarm.group_key.clone(),
                data: alarm.data,
            };
            for integ in loaded.receivers.get(&alarm.to).into_iter().flatten() {
                let r =
                    tokio::time::timeout(Duration::from_secs(30), integ.notifier.notify(&n)).await;
                match r {
                    Ok(Ok(())) => tracing::warn!(
                        to = %alarm.to,
                        alarm = %alarm.group_key,
                        "self-monitoring alarm delivered"
                    ),
                    Ok(Err(e)) => tracing::error!(
                        to = %alarm.to,
                        alarm = %alarm.group_key,
                        reason = e.reason.as_str(),
                        "self-monitoring alarm failed: {}",
                        e.message
                    ),
                    Err(_) => tracing::error!(
                        to = %alarm.to,
                        alarm = %alarm.group_key,
                        "self-monitoring alarm timed out"
                    ),
                }
            }
        }
        let settings = self.selfmon.settings();
        let due = last_ping.is_none_or(|t| t.elapsed() >= settings.heartbeat_interval);
        if plan.ping_heartbeat
            && due
            && let Some(url) = &settings.heartbeat_url
        {
            *last_ping = Some(tokio::time::Instant::now());
            let client = match crate::notify::webhook::http_client() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("heartbeat: {}", e.message);
                    return;
                }
            };
            match client
                .get(url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => tracing::debug!("heartbeat sent"),
                // The URL carries a token: never log it.
                Ok(r) => tracing::error!(status = %r.status(), "heartbeat ping refused"),
                Err(e) => tracing::error!("heartbeat ping failed: {}", e.without_url()),
            }
        }
    }

    /// Stops the dispatcher and waits (bounded) for flushes in flight.
    pub async fn shutdown(&self) {
        let d = read(&self.active).as_ref().map(|a| a.dispatcher.clone());
        if let Some(d) = d {
            d.stop();
            if tokio::time::timeout(Duration::from_secs(10), d.wait())
                .await
                .is_err()
            {
                tracing::warn!("shutdown: notifications still in flight after 10s, leaving them");
            }
        }
        self.alert_log.maintain(&self.alerts);
    }

    /// Periodic maintenance, as Alertmanager's: resolved alerts every 30 minutes,
    /// silences and notification log every 15.
    pub fn spawn_gc(self: &Arc<Self>) {
        let s = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(ALERT_GC_INTERVAL);
            t.tick().await;
            loop {
                t.tick().await;
                let gone = s.alerts.gc();
                s.alert_log.after_gc(&gone, &s.alerts);
                if let Some(a) = read(&s.active).as_ref() {
                    a.inhibitor.gc();
                }
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

/// How the status warnings say that the built-in config is running.
const EMBEDDED_NOTICE: &str = "running the built-in default config";

/// How often resolved alerts are dropped (Alertmanager's --alerts.gc-interval).
const ALERT_GC_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// How often the self-monitoring conditions are checked, at most.
const SELFMON_INTERVAL: Duration = Duration::from_secs(15);

/// Routes nothing: the API's runtime for the instant before the first activation.
struct NoRoutes;

impl RouteView for NoRoutes {
    fn receivers(&self, _: &LabelSet) -> Vec<String> {
        Vec::new()
    }
    fn groups(&self) -> Vec<GroupView> {
        Vec::new()
    }
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
    // The built-in-config notice is in `warnings` for /api/v2/status; it was just
    // logged above at warn.
    for w in l
        .warnings
        .iter()
        .filter(|w| !w.starts_with(EMBEDDED_NOTICE))
    {
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
    server.spawn_maintenance();
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
