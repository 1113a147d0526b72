//! The alarm path that does not depend on the broken path (issue: 13 days without
//! an alert because the only alarm went through the failing mail server). When a
//! receiver keeps failing, or the config will not load, every *other* receiver is
//! told directly (not through routing, which may lead back to the broken one), and
//! an optional heartbeat URL (a dead man's switch such as healthchecks.io) is
//! pinged only while everything is healthy, so its silence is an alarm too.
//!
//! Owns: which conditions were announced and when (re-announced every
//! `repeat_interval`, resolved once when they clear). Decisions are pure
//! ([`SelfMonitor::plan`]); the loop in `server/selfcheck.rs` only gathers inputs and sends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use config_values::Secret;

use crate::labels::LabelSet;
use crate::notify::{AlertData, Data, Reason, Status, zero_time};
use crate::sync;

/// `self_monitoring:` (ours; Alertmanager has no such block).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfMonitoringConfig {
    /// Pinged (HTTP GET) every `heartbeat_interval` while nothing fails. Such URLs
    /// carry a token: prefer `heartbeat_url_file` or `heartbeat_url_env`.
    #[serde(default)]
    pub heartbeat_url: Option<Secret>,
    #[serde(default)]
    pub heartbeat_url_file: Option<String>,
    #[serde(default)]
    pub heartbeat_url_env: Option<String>,
    /// Default 1m.
    #[serde(default)]
    pub heartbeat_interval: Option<config_values::Duration>,
    /// How long a receiver must keep failing before the others are told. Default 5m.
    #[serde(default)]
    pub failing_after: Option<config_values::Duration>,
    /// How often an ongoing condition is announced again. Default 1h.
    #[serde(default)]
    pub repeat_interval: Option<config_values::Duration>,
}

/// The validated settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub heartbeat_url: Option<Secret>,
    pub heartbeat_interval: Duration,
    pub failing_after: Duration,
    pub repeat_interval: Duration,
}

impl SelfMonitoringConfig {
    /// The checks that need no file or variable (config validation).
    pub fn check(&self) -> Result<(), String> {
        let sources = [
            self.heartbeat_url.is_some(),
            self.heartbeat_url_file.is_some(),
            self.heartbeat_url_env.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err("self_monitoring: at most one of heartbeat_url, heartbeat_url_file, heartbeat_url_env".into());
        }
        Ok(())
    }

    fn durations(&self) -> (Duration, Duration, Duration) {
        let dur = |v: Option<config_values::Duration>, default: u64| {
            v.map_or(
                Duration::from_secs(default),
                config_values::Duration::as_std,
            )
        };
        (
            dur(self.heartbeat_interval, 60),
            dur(self.failing_after, 300),
            dur(self.repeat_interval, 3600),
        )
    }

    /// Validates, and resolves the heartbeat URL from its file or variable.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
        self.check()?;
        let (heartbeat_interval, failing_after, repeat_interval) = self.durations();
        let url = if let Some(u) = &self.heartbeat_url {
            Some(u.clone())
        } else if let Some(f) = &self.heartbeat_url_file {
            Some(
                Secret::read_file(std::path::Path::new(f))
                    .map_err(|e| format!("self_monitoring.heartbeat_url_file: {e}"))?,
            )
        } else if let Some(v) = &self.heartbeat_url_env {
            Some(
                Secret::from_env(v, env)
                    .map_err(|e| format!("self_monitoring.heartbeat_url_env: {e}"))?,
            )
        } else {
            None
        };
        if let Some(u) = &url {
            let parsed = url::Url::parse(u.expose())
                .map_err(|e| format!("self_monitoring: heartbeat URL is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("self_monitoring: heartbeat URL must be http or https".into());
            }
        }
        Ok(Settings {
            heartbeat_url: url,
            heartbeat_interval,
            failing_after,
            repeat_interval,
        })
    }
}

/// One integration that is failing now (its last delivery attempt failed).
#[derive(Clone, Debug, PartialEq)]
pub struct Failing {
    pub receiver: String,
    pub integration: String,
    /// Why its last attempt failed, as the pipeline classified it.
    pub reason: Reason,
    pub message: String,
    pub since: DateTime<Utc>,
}

/// What one check found.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub failing: Vec<Failing>,
    /// The error of the last config (re)load, when it failed.
    pub config_error: Option<(String, DateTime<Utc>)>,
    pub receivers: Vec<String>,
}

/// One message to send: `data` to every integration of `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    pub to: String,
    pub group_key: String,
    pub data: Data,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub alarms: Vec<Alarm>,
    pub ping_heartbeat: bool,
}

#[derive(Clone, Debug)]
struct Announced {
    last_sent: DateTime<Utc>,
    /// Who was told, so the resolution reaches the same receivers.
    told: Vec<String>,
    labels: LabelSet,
    annotations: LabelSet,
    since: DateTime<Utc>,
}

pub struct SelfMonitor {
    /// Replaced on every config reload; what was announced is kept.
    settings: Mutex<Settings>,
    external_url: String,
    announced: Mutex<HashMap<String, Announced>>,
}

impl SelfMonitor {
    pub fn new(settings: Settings, external_url: String) -> SelfMonitor {
        SelfMonitor {
            settings: Mutex::new(settings),
            external_url,
            announced: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> Settings {
        sync::lock(&self.settings).clone()
    }

    pub fn set_settings(&self, s: Settings) {
        *sync::lock(&self.settings) = s;
    }

    /// Decides what to send at `now`. Records what it decided as sent: the caller
    /// sends each alarm once (a failed alarm is logged; it is re-sent at repeat).
    pub fn plan(&self, now: DateTime<Utc>, inputs: &Inputs) -> Plan {
        let settings = self.settings();
        let mut conditions: BTreeMap<String, (LabelSet, LabelSet, DateTime<Utc>, Option<String>)> =
            BTreeMap::new();
        let after = chrono::Duration::from_std(settings.failing_after).unwrap_or_default();
        for f in &inputs.failing {
            if now - f.since < after {
                continue;
            }
            let labels = LabelSet::from([
                ("alertname".into(), "AlerterReceiverFailing".into()),
                ("receiver".into(), f.receiver.clone()),
                ("integration".into(), f.integration.clone()),
                ("severity".into(), "critical".into()),
            ]);
            let annotations = LabelSet::from([
                (
                    "summary".into(),
                    format!(
                        "Notifications to receiver {} ({}) have failed since {} ({}).",
                        f.receiver,
                        f.integration,
                        f.since.format("%Y-%m-%d %H:%M:%S UTC"),
                        f.reason.as_str()
                    ),
                ),
                ("description".into(), f.message.clone()),
            ]);
            conditions.insert(
                format!("receiver/{}/{}", f.receiver, f.integration),
                (labels, annotations, f.since, Some(f.receiver.clone())),
            );
        }
        if let Some((err, since)) = &inputs.config_error {
            let labels = LabelSet::from([
                ("alertname".into(), "AlerterConfigReloadFailed".into()),
                ("severity".into(), "critical".into()),
            ]);
            let annotations = LabelSet::from([
                (
                    "summary".into(),
                    "The alerter's config file does not load; the previous config is still running."
                        .into(),
                ),
                ("description".into(), err.clone()),
            ]);
            conditions.insert("config".into(), (labels, annotations, *since, None));
        }

        let repeat = chrono::Duration::from_std(settings.repeat_interval).unwrap_or_default();
        let mut plan = Plan {
            alarms: Vec::new(),
            ping_heartbeat: settings.heartbeat_url.is_some()
                && inputs.failing.is_empty()
                && inputs.config_error.is_none(),
        };
        let mut announced = sync::lock(&self.announced);
        for (key, (labels, annotations, since, broken)) in &conditions {
            let due = announced
                .get(key)
                .is_none_or(|a| now - a.last_sent >= repeat);
            if !due {
                continue;
            }
            let told: Vec<String> = inputs
                .receivers
                .iter()
                .filter(|r| Some(*r) != broken.as_ref())
                .cloned()
                .collect();
            for to in &told {
                plan.alarms.push(self.alarm(
                    key,
                    to,
                    Status::Firing,
                    labels,
                    annotations,
                    *since,
                    None,
                ));
            }
            announced.insert(
                key.clone(),
                Announced {
                    last_sent: now,
                    told,
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    since: *since,
                },
            );
        }
        let cleared: Vec<String> = announced
            .keys()
            .filter(|k| !conditions.contains_key(*k))
            .cloned()
            .collect();
        for key in cleared {
            if let Some(a) = announced.remove(&key) {
                for to in &a.told {
                    plan.alarms.push(self.alarm(
                        &key,
                        to,
                        Status::Resolved,
                        &a.labels,
                        &a.annotations,
                        a.since,
                        Some(now),
                    ));
                }
            }
        }
        plan
    }

    #[allow(clippy::too_many_arguments)]
    fn alarm(
        &self,
        key: &str,
        to: &str,
        status: Status,
        labels: &LabelSet,
        annotations: &LabelSet,
        since: DateTime<Utc>,
        ended: Option<DateTime<Utc>>,
    ) -> Alarm {
        let alertname = labels.get("alertname").cloned().unwrap_or_default();
        let group_labels = LabelSet::from([("alertname".to_string(), alertname)]);
        Alarm {
            to: to.to_string(),
            group_key: format!("alerter-self/{key}"),
            data: Data {
                receiver: to.to_string(),
                status,
                alerts: vec![AlertData {
                    status,
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    starts_at: since,
                    ends_at: ended.unwrap_or_else(zero_time),
                    generator_url: self.external_url.clone(),
                    fingerprint: crate::labels::Fingerprint::of(labels).to_string(),
                }],
                group_labels,
                common_labels: labels.clone(),
                common_annotations: annotations.clone(),
                external_url: self.external_url.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        crate::clock::test_epoch() + chrono::TimeDelta::seconds(s)
    }

    fn mon(heartbeat: bool) -> SelfMonitor {
        SelfMonitor::new(
            Settings {
                heartbeat_url: heartbeat.then(|| Secret::new("http://127.0.0.1:1/ping")),
                heartbeat_interval: Duration::from_secs(60),
                failing_after: Duration::from_secs(300),
                repeat_interval: Duration::from_secs(3600),
            },
            "http://alerter".into(),
        )
    }

    fn failing(since: i64) -> Failing {
        Failing {
            receiver: "email".into(),
            integration: "email".into(),
            reason: Reason::ConnectTimeout,
            message: "connecting to port 465 timed out".into(),
            since: t(since),
        }
    }

    #[test]
    fn a_failing_receiver_is_told_to_the_others_after_failing_after() {
        let m = mon(true);
        let inputs = Inputs {
            failing: vec![failing(0)],
            config_error: None,
            receivers: vec!["email".into(), "pager".into(), "chat".into()],
        };
        let p = m.plan(t(299), &inputs);
        assert!(p.alarms.is_empty());
        assert!(!p.ping_heartbeat, "no heartbeat while something fails");
        let p = m.plan(t(300), &inputs);
        let to: Vec<&str> = p.alarms.iter().map(|a| a.to.as_str()).collect();
        assert_eq!(to, ["pager", "chat"], "never the broken receiver itself");
        assert_eq!(
            p.alarms[0].data.alerts[0].labels["alertname"],
            "AlerterReceiverFailing"
        );
        assert!(p.alarms[0].data.alerts[0].annotations["summary"].contains("connect_timeout"));
        // Not again until repeat_interval.
        assert!(m.plan(t(3899), &inputs).alarms.is_empty());
        assert_eq!(m.plan(t(3900), &inputs).alarms.len(), 2);
        // Recovered: resolved once, to the same receivers; heartbeat resumes.
        let healthy = Inputs {
            receivers: inputs.receivers.clone(),
            ..Default::default()
        };
        let p = m.plan(t(4000), &healthy);
        assert_eq!(p.alarms.len(), 2);
        assert!(p.alarms.iter().all(|a| a.data.status == Status::Resolved));
        assert!(p.ping_heartbeat);
        assert!(m.plan(t(4100), &healthy).alarms.is_empty());
    }

    #[test]
    fn a_config_that_will_not_load_is_told_to_every_receiver_at_once() {
        let m = mon(false);
        let inputs = Inputs {
            failing: vec![],
            config_error: Some(("alerter.yml:3: unknown field `bogus`".into(), t(10))),
            receivers: vec!["email".into(), "pager".into()],
        };
        let p = m.plan(t(10), &inputs);
        assert_eq!(p.alarms.len(), 2);
        assert!(p.alarms[0].data.alerts[0].annotations["description"].contains("bogus"));
        assert!(!p.ping_heartbeat);
    }

    #[test]
    fn heartbeat_url_from_env_and_validation() {
        let c = SelfMonitoringConfig {
            heartbeat_url_env: Some("HB".into()),
            failing_after: Some("2m".parse().unwrap()),
            ..Default::default()
        };
        let s = c
            .resolve(&|k| (k == "HB").then(|| "https://hc.example/ping/abc".to_string()))
            .unwrap();
        assert_eq!(
            s.heartbeat_url.as_ref().map(Secret::expose),
            Some("https://hc.example/ping/abc")
        );
        assert_eq!(s.failing_after, Duration::from_secs(120));
        let err = c.resolve(&|_| None).unwrap_err();
        assert!(err.contains("HB is not set"), "{err}");
        let bad = SelfMonitoringConfig {
            heartbeat_url: Some(Secret::new("ftp://x")),
            ..Default::default()
        };
        assert!(bad.resolve(&|_| None).is_err());
    }
}
