//! The self-monitoring loop: alarms to the receivers that still work when another
//! keeps failing or the config will not load, and the heartbeat ping while all is
//! well (decisions in `crate::selfmon`; this only gathers inputs and sends).

use std::sync::Arc;
use std::time::Duration;

use super::Server;
use crate::notify::Notification;
use crate::selfmon;

/// How often the self-monitoring conditions are checked, at most.
const SELFMON_INTERVAL: Duration = Duration::from_secs(15);

impl Server {
    /// Compacts the alert log when due (cheap otherwise), and runs the
    /// self-monitoring checks.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let s = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(60));
            t.tick().await;
            let due = s.alert_log.compaction_due();
            loop {
                tokio::select! {
                    _ = t.tick() => {}
                    () = due.notified() => {}
                }
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
                    reason: f.reason,
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
                .get(url.expose())
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
}
