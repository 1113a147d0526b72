//! Alertmanager's v2 HTTP API (api/v2/openapi.yaml) plus `/-/healthy`, `/-/ready`,
//! `/-/reload`, `/metrics` and the status page at `/` ([`page`]), all under the
//! route prefix. It owns no state of its own: alerts live in the
//! provider, silences in the silence store, and everything that a reload replaces
//! (route tree, inhibitor, the config shown in `/api/v2/status`) sits in one
//! [`Runtime`] swapped as a whole, so a request sees one config, never half of two.

mod alerts;
mod error;
mod general;
pub mod models;
pub mod page;
mod params;
mod silences;

pub(crate) use alerts::{parse_alerts, to_alert};

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::config::Config;
use crate::labels::LabelSet;
use crate::metrics::Metrics;
use crate::mute::Muter;
use crate::provider::Alerts;
use crate::silence::Silences;
use crate::sync;

pub use error::ApiError;

/// Request bodies larger than this are refused with 413 (Prometheus batches at most
/// a few hundred alerts; 4 MiB is far above that and far below memory trouble).
pub const MAX_BODY: usize = 4 << 20;

/// The route tree as the API needs it, from the dispatcher of the current config.
pub trait RouteView: Send + Sync {
    /// Receiver names of every route the labels match, in tree order.
    fn receivers(&self, labels: &LabelSet) -> Vec<String>;
    /// The aggregation groups as the dispatcher holds them.
    fn groups(&self) -> Vec<GroupView>;
}

/// One aggregation group for `/api/v2/alerts/groups`.
#[derive(Clone, Debug)]
pub struct GroupView {
    pub receiver: String,
    pub labels: LabelSet,
    pub alerts: Vec<Arc<Alert>>,
}

/// Everything a config (re)load replaces.
pub struct Runtime {
    pub config: Config,
    /// The config as YAML with secrets replaced by `<secret>`.
    pub original: String,
    /// Hex SHA-256 of the config file's bytes.
    pub hash: String,
    pub resolve_timeout: chrono::Duration,
    pub routes: Arc<dyn RouteView>,
    pub inhibitor: Arc<dyn Muter>,
    /// Problems that do not stop the config from loading but will stop mail
    /// (e.g. a password file that is missing), shown in status and logs.
    pub warnings: Vec<String>,
    /// The compiled config, for the status page's receivers and "send test"
    /// (none in the placeholder before the first config is in service).
    pub compiled: Option<Arc<crate::config::Compiled>>,
}

impl Runtime {
    /// A runtime for a compiled config; `hash` is the file's SHA-256.
    pub fn new(
        config: Config,
        resolve_timeout: std::time::Duration,
        hash: String,
        routes: Arc<dyn RouteView>,
        inhibitor: Arc<dyn Muter>,
        warnings: Vec<String>,
    ) -> Runtime {
        Runtime {
            original: shown_config(&config),
            config,
            hash,
            resolve_timeout: chrono::Duration::from_std(resolve_timeout)
                .unwrap_or(chrono::Duration::MAX),
            routes,
            inhibitor,
            warnings,
            compiled: None,
        }
    }
}

/// The config as `/api/v2/status` shows it: YAML, every inline secret replaced by
/// `<secret>`, unset fields left out.
pub fn shown_config(cfg: &Config) -> String {
    // Every secret in the config is a `Secret`, which serializes as `<secret>`.
    let mut v = serde_yaml::to_value(cfg).unwrap_or(serde_yaml::Value::Null);
    prune(&mut v);
    serde_yaml::to_string(&v).unwrap_or_default()
}

/// Drops nulls and empty collections, recursively.
fn prune(v: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    };
    match v {
        Value::Mapping(m) => {
            for (_, x) in m.iter_mut() {
                prune(x);
            }
            m.retain(|_, x| !empty(x));
        }
        Value::Sequence(s) => s.iter_mut().for_each(prune),
        _ => {}
    }
}

/// The last reload attempt, shown in `/api/v2/status`.
#[derive(Clone, Debug)]
pub struct ReloadStatus {
    pub at: DateTime<Utc>,
    pub success: bool,
    pub error: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
}

/// Asks the server to reload; answered with the reason when the new config is bad.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Where storage error counts come from (the data-directory logs), per file.
pub type StorageErrors = Box<dyn Fn() -> Vec<(String, u64)> + Send + Sync>;

/// Shared by every handler.
pub struct Api {
    pub clock: Clock,
    pub alerts: Arc<Alerts>,
    pub silences: Arc<Silences>,
    pub runtime: RwLock<Arc<Runtime>>,
    pub reload_status: RwLock<ReloadStatus>,
    pub metrics: Arc<Metrics>,
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
    pub started: DateTime<Utc>,
    pub storage_errors: StorageErrors,
    /// The notify pipeline's record: which integrations are failing now.
    pub notify_stats: Arc<crate::notify::pipeline::PipelineStats>,
    /// What only the status page needs.
    pub page: page::PageState,
    /// The rule evaluator, once a config gives it rules or targets.
    pub ruler: std::sync::OnceLock<Arc<crate::ruler::Ruler>>,
}

impl Api {
    /// The current runtime (a cheap clone of an `Arc`).
    pub fn runtime(&self) -> Arc<Runtime> {
        sync::read(&self.runtime).clone()
    }

    pub fn set_runtime(&self, rt: Arc<Runtime>) {
        *sync::write(&self.runtime) = rt;
    }

    pub fn reload_status(&self) -> ReloadStatus {
        sync::read(&self.reload_status).clone()
    }

    pub fn set_reload_status(&self, s: ReloadStatus) {
        *sync::write(&self.reload_status) = s;
    }
}

/// The whole HTTP surface, served under `prefix` (`--web.route-prefix`: empty,
/// or a path such as `/alerter` without a trailing slash).
pub fn router(api: Arc<Api>, prefix: &str) -> Router {
    let at = |path: &str| format!("{prefix}{path}");
    let mut r = Router::new()
        .route(&at("/"), get(page::page))
        .route(&at("/status.css"), get(page::stylesheet))
        .route(&at("/silences/new"), post(page::create_silence))
        .route(&at("/silences/expire"), post(page::expire_silence))
        .route(&at("/receivers/test"), post(page::test_receiver))
        .route(
            &at("/api/v2/alerts"),
            get(alerts::get_alerts).post(alerts::post_alerts),
        )
        .route(&at("/api/v2/alerts/groups"), get(alerts::get_groups))
        .route(
            &at("/api/v2/silences"),
            get(silences::get_silences).post(silences::post_silences),
        )
        .route(
            &at("/api/v2/silence/{id}"),
            get(silences::get_silence).delete(silences::delete_silence),
        )
        .route(&at("/api/v2/status"), get(general::status))
        .route(&at("/api/v1/rules"), get(general::rules))
        .route(&at("/api/v1/alerts"), get(general::rule_alerts))
        .route(&at("/api/v2/receivers"), get(general::receivers))
        .route(&at("/-/healthy"), get(general::ok).head(general::ok))
        .route(&at("/-/ready"), get(general::ok).head(general::ok))
        // Alertmanager answers only POST here (ui/web.go); GET is 405.
        .route(&at("/-/reload"), post(general::reload))
        .route(&at("/metrics"), get(general::metrics));
    if !prefix.is_empty() {
        // `/prefix` alone goes to `/prefix/`, where the page's relative links resolve.
        let target = at("/");
        r = r.route(
            prefix,
            get(move || async move { axum::response::Redirect::permanent(&target) }),
        );
    }
    r.layer(DefaultBodyLimit::max(MAX_BODY)).with_state(api)
}

#[cfg(test)]
mod tests;
