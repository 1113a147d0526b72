//! The daemon: builds everything from a config and keeps it current. Owns the
//! process-lifetime state (the alert provider, silences and notification log in
//! `--storage.path`) and the per-config state (route tree, receivers, inhibitor),
//! which a reload rebuilds and swaps as a whole.
//!
//! A reload comes from SIGHUP, `POST /-/reload`, or the config file's content
//! changing on disk (its hash is polled). A config that fails to load never
//! replaces the running one, and the failure is loud: an error log line naming
//! file, line and field, `alertmanager_config_last_reload_successful 0`, and the reason
//! in `/api/v2/status` (Alertmanager only logs it; the users' alerting was broken
//! for 13 days that way).
//!
//! Split by job: [`source`] (where the config comes from, loading it, announcing
//! it), [`reload`] (SIGHUP, `/-/reload` and the file watch), [`readiness`] (the
//! connect-only check of email receivers), [`selfcheck`] (the self-monitoring loop
//! and heartbeat), [`run`] (the listener, signals and shutdown). This file owns the
//! process-lifetime state and puts a compiled config in service.

mod readiness;
mod reload;
mod run;
mod selfcheck;
mod source;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::api::{self, Api, GroupView, ReloadRequest, ReloadStatus, RouteView, Runtime};
use crate::clock::Clock;
use crate::dispatch::Dispatcher;
use crate::dispatch::route::Route;
use crate::inhibit::Inhibitor;
use crate::labels::LabelSet;
use crate::metrics::Metrics;
use crate::notify::nflog::Nflog;
use crate::notify::pipeline::{Pipeline, PipelineStats};
use crate::provider::{Alerts, Listener};
use crate::selfmon::SelfMonitor;
use crate::silence::Silences;
use crate::store::alerts::AlertLog;
use crate::sync::{read, write};

pub use run::{listen_addr, route_prefix, run};
use source::announce;
pub use source::{DEFAULT_CONFIG, Loaded, Source, load};

pub struct Options {
    pub source: Source,
    pub storage_path: PathBuf,
    /// `host:port`; `:port` means every interface.
    pub listen: String,
    pub external_url: Option<String>,
    /// `--web.route-prefix`: the path everything is served under ("" or "/x").
    /// Unset: the path of the external URL, as in Alertmanager.
    pub route_prefix: Option<String>,
    /// `--web.config.file`: TLS, basic auth and headers (exporter-toolkit's format).
    pub web_config_file: Option<PathBuf>,
    pub retention: Duration,
    /// How often the config file's hash is checked.
    pub watch_interval: Duration,
    /// Bounds on the alert store (`--alerts.max-count`, `--alerts.max-size-bytes`).
    pub alert_limits: crate::provider::Limits,
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
    last_seen: RwLock<Option<String>>,
    /// The file watch's last read error, logged once until the file reads again.
    watch_error: RwLock<Option<String>>,
    /// Hash of the rule files the config in service names (the file watch covers them).
    rules_seen: RwLock<Option<String>>,
    storage_path: PathBuf,
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
        check_writable(&opts.storage_path)?;
        let silences = Arc::new(Silences::open(&opts.storage_path, clock, opts.retention)?);
        let (nflog, nflog_rec) = Nflog::open(&opts.storage_path, opts.retention, now)?;
        let nflog = Arc::new(nflog);
        // Resolved alerts are kept as long as the provider's GC would have kept them.
        let (alert_log, restored, alerts_rec) =
            AlertLog::open(&opts.storage_path, now, ALERT_GC_INTERVAL)?;
        for (what, rec) in [
            ("silences", silences.recovery()),
            ("nflog", &nflog_rec),
            ("alerts", &alerts_rec),
        ] {
            if let Some(e) = &rec.write_error {
                tracing::error!(
                    file = what,
                    "cannot write to the data directory at start ({e}); running on what was read, changes are kept in memory until writes work again"
                );
            }
            if let (Some(aside), true) = (&rec.set_aside, rec.kept_rest) {
                tracing::error!(
                    file = what,
                    lines = rec.dropped_lines,
                    "dropped damaged lines in the middle of a data file and kept the rest; the damaged file is kept as {}",
                    aside.display()
                );
            } else if let Some(aside) = &rec.set_aside {
                tracing::error!(
                    file = what,
                    "unreadable data file set aside as {}; starting without it",
                    aside.display()
                );
            } else if rec.dropped_lines > 0 {
                tracing::warn!(
                    file = what,
                    lines = rec.dropped_lines,
                    "dropped unreadable lines (a torn tail from a crash during a write, or damage); kept the rest"
                );
            }
        }
        let alert_log = Arc::new(alert_log);
        let alerts = Arc::new(Alerts::with_limits(clock, opts.alert_limits));
        tracing::info!(
            alerts = restored.len(),
            "restored alerts from the data directory"
        );
        // Before the listeners: restored alerts are not written back.
        alerts.put(restored);
        let stats = Arc::new(PipelineStats::default());
        let metrics = Arc::new(
            Metrics::new(stats.clone()).with_stores(nflog.maintenance(), silences.maintenance()),
        );
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
            loaded.resolve_timeout,
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
            page: api::page::PageState::new(
                match &opts.source {
                    Source::File(p) => Some(p.clone()),
                    Source::Embedded => None,
                },
                Some(opts.storage_path.clone()),
                opts.external_url.as_deref(),
            ),
            ruler: std::sync::OnceLock::new(),
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
            watch_error: RwLock::new(None),
            rules_seen: RwLock::new(None),
            storage_path: opts.storage_path.clone(),
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
        let inhibitor = Arc::new(Inhibitor::from_rules(loaded.inhibit_rules.clone(), clock));
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
        let mut rt = Runtime::new(
            loaded.config.clone(),
            loaded.resolve_timeout,
            loaded.hash.clone(),
            Arc::new(TreeView {
                route: loaded.route.clone(),
                dispatcher: dispatcher.clone(),
                alerts: self.alerts.clone(),
            }),
            inhibitor.clone(),
            loaded.warnings.clone(),
        );
        rt.compiled = Some(loaded.clone());
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
        // Alertmanager's per-integration series exist before the first send.
        for i in loaded.receivers.values().flatten() {
            self.stats.register(i.notifier.integration());
        }
        let old = write(&self.active).replace(Active {
            loaded: loaded.clone(),
            dispatcher,
            inhibitor,
        });
        if let Some(old) = old {
            old.dispatcher.stop();
        }
        self.spawn_readiness(&loaded);
        self.update_ruler(&loaded)?;
        *write(&self.rules_seen) = self.rule_files_hash();
        Ok(())
    }

    /// Hash of the paths and bytes of the files the current config's `rule_files`
    /// match now; `None` without rule files.
    fn rule_files_hash(&self) -> Option<String> {
        let cfg = self.current()?;
        let patterns = &cfg.config.rule_files;
        let base = match &self.source {
            Source::File(p) => p
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
            Source::Embedded => PathBuf::from("."),
        };
        // file_sd_configs' target files are watched the same way: a change reloads.
        let sd = crate::ruler::scrape::all_sd_files(&cfg.config.scrape_configs, &base);
        if patterns.is_empty()
            && cfg
                .config
                .scrape_configs
                .iter()
                .all(|c| c.file_sd_configs.is_empty())
        {
            return None;
        }
        let mut bytes = Vec::new();
        let rule_files = patterns.iter().flat_map(|pat| {
            let p = base.join(pat);
            if pat.contains(['*', '?', '[']) {
                crate::rules::glob::glob_files(&p)
            } else {
                vec![p]
            }
        });
        for f in rule_files.chain(sd) {
            bytes.extend_from_slice(f.display().to_string().as_bytes());
            bytes.push(0);
            bytes.extend(std::fs::read(&f).unwrap_or_default());
            bytes.push(0);
        }
        Some(crate::config::hash(&bytes))
    }

    /// Hands the config's rules and targets to the evaluator, starting it the first
    /// time there is anything to evaluate (without any, nothing runs).
    fn update_ruler(&self, loaded: &Loaded) -> Result<(), String> {
        let settings = loaded.ruler.clone();
        if let Some(r) = self.api.ruler.get() {
            r.update(settings);
            return Ok(());
        }
        if settings.is_empty() {
            return Ok(());
        }
        let (alerts, metrics) = (self.alerts.clone(), self.metrics.clone());
        // The same ingest as `POST /api/v2/alerts`: counted, validated, merged.
        let sink: crate::ruler::Sink = Arc::new(move |batch: Vec<crate::alert::Alert>| {
            let now = alerts.clock().now();
            let mut valid = Vec::with_capacity(batch.len());
            for a in batch {
                metrics.alert_received(a.ends_at > now);
                match a.validate() {
                    Ok(()) => valid.push(a),
                    Err(e) => {
                        metrics.alert_invalid();
                        tracing::warn!("rule evaluator produced an invalid alert: {e}");
                    }
                }
            }
            alerts.put(valid);
        });
        let r = crate::ruler::Ruler::start(
            settings.clone(),
            sink,
            &self.storage_path,
            self.external_url.clone(),
            self.alerts.clock(),
        )?;
        tracing::info!(
            groups = settings.groups.len(),
            targets = settings.targets.len(),
            "rule evaluator started"
        );
        let _ = self.api.ruler.set(Arc::new(r));
        Ok(())
    }

    /// The config in service.
    fn current(&self) -> Option<Arc<Loaded>> {
        read(&self.active).as_ref().map(|a| a.loaded.clone())
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

/// The data directory must take new files (compaction writes one and renames it):
/// say so at start, naming the directory and the fix, rather than failing later
/// with a bare "Permission denied".
fn check_writable(dir: &std::path::Path) -> Result<(), String> {
    let probe = dir.join(format!(".write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "--storage.path {}: cannot write there ({e}): the alerter keeps silences, the notification log and alerts in this directory and needs read, write and execute access to it; make it writable by the user the alerter runs as (e.g. chown), or choose another --storage.path",
            dir.display()
        )),
    }
}

/// How often resolved alerts are dropped (Alertmanager's --alerts.gc-interval).
const ALERT_GC_INTERVAL: Duration = Duration::from_secs(30 * 60);

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
