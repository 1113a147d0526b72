//! `celery_*`: Celery queue metrics read straight from a Redis broker (kombu's Redis
//! transport), no Python and no `inspect()` broadcasts on the scrape path.
//!
//! Queues are found from kombu's bindings (`_kombu.binding.<exchange>` sets, members
//! `routing_key<sep>pattern<sep>queue`) plus the queues named in config. A queue's
//! length is the sum of `LLEN` over its priority lists (`Q`, `Q<sep>3`, `Q<sep>6`,
//! `Q<sep>9` with kombu's defaults) — messages are never scanned. Messages delivered
//! but not acked are kombu's `unacked` hash; the oldest one's age comes from the
//! `unacked_index` zset score. When the broker cannot be reached, `celery_broker_up`
//! is 0 and no queue gauge is reported (nothing stale).

pub mod events;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::collector::redis::conn::{Client, Target};
use crate::collector::redis::{Credentials, DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::{Origin, Problems, pick};

/// kombu's `sep`.
pub const DEFAULT_SEP: &str = "\x06\x16";
/// kombu's `PRIORITY_STEPS`.
pub const DEFAULT_PRIORITY_STEPS: [u8; 4] = [0, 3, 6, 9];
/// Upper bound on discovered queues, so a broker full of bindings cannot blow up a scrape.
pub const MAX_QUEUES: usize = 10_000;

#[derive(clap::Args, Debug, Default, Clone)]
#[group(id = "celery_flags")]
pub struct Flags {
    /// Celery broker URL (redis://host:port/db). No URL: the celery collector exports nothing.
    #[arg(
        long = "celery.broker-url",
        env = "CELERY_BROKER_URL",
        value_name = "URL"
    )]
    pub broker_url: Option<String>,
    /// Queues to report even before kombu has bound them, comma separated.
    #[arg(long = "celery.queues", value_name = "NAMES", value_delimiter = ',')]
    pub queues: Vec<String>,
    /// File holding the broker's password (the password may also come from
    /// $CELERY_BROKER_PASSWORD); never put it in the URL.
    #[arg(
        long = "celery.broker-password-file",
        env = "CELERY_BROKER_PASSWORD_FILE",
        value_name = "PATH"
    )]
    pub broker_password_file: Option<std::path::PathBuf>,
    /// Drop a worker and every series with its hostname after this long without an
    /// event from it (default 10m, as celery-exporter; 0s: never).
    #[arg(long = "celery.purge-offline-workers-after", value_name = "DURATION")]
    pub purge_offline_workers_after: Option<String>,
}

/// `celery:` in the config file. `sep`, `priority_steps` and `global_keyprefix` are
/// kombu's `broker_transport_options` of the same names.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub broker_url: Option<String>,
    pub password_file: Option<std::path::PathBuf>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    pub queues: Vec<String>,
    pub sep: Option<String>,
    pub priority_steps: Option<Vec<u8>>,
    pub global_keyprefix: Option<String>,
    pub purge_offline_workers_after: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The broker, for the queue reads and the event subscription alike; its password
    /// lives in the target's credentials, never in a URL.
    pub broker: Option<Target>,
    /// `{global_keyprefix}/{db}.celeryev/*`
    pub events_pattern: String,
    pub queues: Vec<String>,
    pub sep: String,
    pub priority_steps: Vec<u8>,
    pub global_keyprefix: String,
    /// `None`: workers are never dropped.
    pub purge_offline_workers_after: Option<std::time::Duration>,
}

impl Config {
    pub fn validate(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Config {
        let file = |key: &str| Origin::file(path, key);
        let (url, origin) = match (&flags.broker_url, raw.broker_url) {
            (Some(u), _) => (Some(u.clone()), Origin::Flag("celery.broker-url")),
            (None, u) => (u, file("celery.broker_url")),
        };
        let password_file = pick(
            flags.broker_password_file.clone(),
            "celery.broker-password-file",
            raw.password_file,
            "celery.password_file",
            path,
        );
        let env_var = raw
            .password_env
            .unwrap_or_else(|| "CELERY_BROKER_PASSWORD".into());
        let creds = Credentials {
            user: None,
            password: crate::setting::secret(password_file, &env_var, problems),
        };
        // kombu's event channels carry the broker's db number: `/{db}.celeryev/...`.
        let db: u32 = url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.path().trim_start_matches('/').parse().ok())
            .unwrap_or(0);
        let broker = url.filter(|u| !u.is_empty()).and_then(|u| {
            match Target::parse(&u, Default::default(), creds) {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(&origin, e);
                    None
                }
            }
        });
        let mut queues = if flags.queues.is_empty() {
            raw.queues
        } else {
            flags.queues.clone()
        };
        queues.retain(|q| !q.is_empty());
        let priority_steps = raw
            .priority_steps
            .unwrap_or_else(|| DEFAULT_PRIORITY_STEPS.to_vec());
        if priority_steps.is_empty() || priority_steps.iter().any(|s| *s > 9) {
            problems.push(
                &file("celery.priority_steps"),
                "expected a non-empty list of priorities 0-9, e.g. [0, 3, 6, 9]".to_string(),
            );
        }
        let global_keyprefix = raw.global_keyprefix.unwrap_or_default();
        let purge_offline_workers_after = match pick(
            flags.purge_offline_workers_after.clone(),
            "celery.purge-offline-workers-after",
            raw.purge_offline_workers_after,
            "celery.purge_offline_workers_after",
            path,
        ) {
            Some((text, origin)) => match crate::setting::duration(&text, &origin, problems) {
                Some(d) => Some(d).filter(|d| !d.is_zero()),
                None => Some(events::PURGE_OFFLINE_WORKERS_AFTER),
            },
            None => Some(events::PURGE_OFFLINE_WORKERS_AFTER),
        };
        Config {
            broker,
            events_pattern: format!("{global_keyprefix}/{db}.celeryev/*"),
            queues,
            sep: raw.sep.unwrap_or_else(|| DEFAULT_SEP.into()),
            priority_steps,
            global_keyprefix,
            purge_offline_workers_after,
        }
    }
}

/// kombu's `_q_for_pri`: the list holding `queue`'s messages of priority step `pri`.
pub fn priority_key(prefix: &str, queue: &str, sep: &str, pri: u8) -> String {
    if pri == 0 {
        format!("{prefix}{queue}")
    } else {
        format!("{prefix}{queue}{sep}{pri}")
    }
}

/// The queue named by one `_kombu.binding.*` member, or `None` for Celery's own
/// plumbing (remote control, reply and event queues).
pub fn queue_of_binding(member: &str, sep: &str) -> Option<String> {
    let queue = member.splitn(3, sep).nth(2)?;
    if queue.is_empty()
        || queue.ends_with(".pidbox")
        || queue.starts_with("celeryev.")
        || queue.ends_with(".reply.celery.pidbox")
    {
        return None;
    }
    Some(queue.to_string())
}

pub struct Celery {
    cfg: Config,
    client: Option<Arc<Client>>,
    events: Arc<events::Shared>,
    /// The last broker error logged, so a broker that stays down is logged once.
    last_logged: std::sync::Mutex<Option<String>>,
}

pub fn build(cfg: &Config) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Celery::new(cfg.clone())))
}

impl Celery {
    /// Also starts the event subscriber (a thread of its own) when there is a broker.
    pub fn new(cfg: Config) -> Self {
        let client = cfg.broker.clone().map(|t| {
            Arc::new(Client::new(
                t,
                DEFAULT_CONNECT_TIMEOUT,
                DEFAULT_COMMAND_TIMEOUT,
            ))
        });
        let events = Arc::new(events::Shared::default());
        if let Some(client) = &client
            && let Err(e) =
                events::spawn(client.clone(), cfg.events_pattern.clone(), events.clone())
        {
            tracing::error!(error = %e, "celery events: cannot start the subscriber thread");
        }
        Self {
            cfg,
            client,
            events,
            last_logged: std::sync::Mutex::new(None),
        }
    }

    async fn read(&self, client: &Client) -> Result<Vec<Family>, String> {
        let (mut conn, _) = client.connection().await.map_err(|e| e.to_string())?;
        let prefix = &self.cfg.global_keyprefix;
        let sep = &self.cfg.sep;
        // Discover bindings.
        let mut binding_keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}_kombu.binding.*"))
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = client
                .query(&mut conn, &cmd)
                .await
                .map_err(|e| e.to_string())?;
            binding_keys.extend(keys);
            cursor = next;
            if cursor == 0 || binding_keys.len() > MAX_QUEUES {
                break;
            }
        }
        let mut queues: std::collections::BTreeSet<String> =
            self.cfg.queues.iter().cloned().collect();
        if !binding_keys.is_empty() {
            let mut pipe = redis::pipe();
            for k in &binding_keys {
                pipe.cmd("SMEMBERS").arg(k);
            }
            let members: Vec<Vec<String>> = client
                .run_pipeline(&mut conn, &pipe)
                .await
                .map_err(|e| e.to_string())?;
            for m in members.iter().flatten() {
                if queues.len() >= MAX_QUEUES {
                    break;
                }
                if let Some(q) = queue_of_binding(m, sep) {
                    queues.insert(q);
                }
            }
        }
        // One pipeline: LLEN per priority list, then the unacked hash and oldest entry.
        let steps = &self.cfg.priority_steps;
        let mut pipe = redis::pipe();
        for q in &queues {
            for p in steps {
                pipe.cmd("LLEN").arg(priority_key(prefix, q, sep, *p));
            }
        }
        pipe.cmd("HLEN").arg(format!("{prefix}unacked"));
        pipe.cmd("ZRANGE")
            .arg(format!("{prefix}unacked_index"))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES");
        let replies: Vec<redis::Value> = client
            .run_pipeline(&mut conn, &pipe)
            .await
            .map_err(|e| e.to_string())?;
        let n = queues.len() * steps.len();
        if replies.len() != n + 2 {
            return Err(format!("expected {} replies, got {}", n + 2, replies.len()));
        }
        let num = |v: &redis::Value| -> f64 {
            redis::from_redis_value::<i64>(v.clone()).map_or(0.0, |x| x as f64)
        };
        let mut len = Family::gauge(
            "celery_queue_length",
            "Messages waiting in the queue, summed over its priority lists.",
        );
        for (i, q) in queues.iter().enumerate() {
            let total: f64 = replies[i * steps.len()..(i + 1) * steps.len()]
                .iter()
                .map(num)
                .sum();
            len.push([("queue_name", q.as_str())], total);
        }
        let unacked = Family::gauge(
            "celery_queue_unacked",
            "Messages delivered to a worker but not acknowledged (kombu's unacked hash).",
        )
        .single(num(&replies[n]));
        let oldest: Vec<(String, f64)> =
            redis::from_redis_value(replies[n + 1].clone()).unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let age = oldest.first().map_or(0.0, |(_, t)| (now - t).max(0.0));
        let age = Family::gauge(
            "celery_queue_unacked_oldest_age_seconds",
            "Age of the oldest unacknowledged message (0 when there is none).",
        )
        .single(age);
        Ok(vec![len, unacked, age])
    }
}

impl Collector for Celery {
    fn name(&self) -> &'static str {
        "celery"
    }

    fn scrape_prefix(&self) -> &'static str {
        "celery"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(async move {
            let Some(client) = &self.client else {
                return Ok(Vec::new());
            };
            let result = self.read(client).await;
            {
                let mut last = self
                    .last_logged
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match &result {
                    Ok(_) => {
                        if last.take().is_some() {
                            tracing::info!(broker = %client.target.display, "celery broker reachable again");
                        }
                    }
                    Err(e) if last.as_deref() != Some(e.as_str()) => {
                        tracing::warn!(broker = %client.target.display, error = %e, "celery broker unreachable");
                        *last = Some(e.clone());
                    }
                    Err(_) => {}
                }
            }
            let mut out = result.unwrap_or_default();
            let up = !out.is_empty();
            out.push(
                Family::gauge(
                    "celery_broker_up",
                    "1 when the Celery broker answered this scrape, 0 when it did not.",
                )
                .single(if up { 1.0 } else { 0.0 }),
            );
            {
                let mut st = self.events.state();
                let now = std::time::Instant::now();
                if let Some(after) = self.cfg.purge_offline_workers_after {
                    for host in st.purge_offline_workers(now, after) {
                        tracing::info!(
                            hostname = %host,
                            after = ?after,
                            "celery events: no event from this worker for that long; its series are dropped"
                        );
                    }
                }
                out.extend(st.families(now));
                out.push(
                    Family::counter("celery_events_total", "Celery events received.")
                        .single(st.events as f64),
                );
                drop(st);
            }
            out.push(
                Family::gauge(
                    "celery_events_subscribed",
                    "1 while subscribed to the broker's event channels.",
                )
                .single(f64::from(u8::from(
                    self.events.subscribed.load(Ordering::Relaxed),
                ))),
            );
            out.push(
                Family::counter(
                    "celery_events_resubscriptions_total",
                    "Times the event subscription was re-established (e.g. Redis restarted).",
                )
                .single(self.events.resubscriptions.load(Ordering::Relaxed) as f64),
            );
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_keys_as_kombu() {
        assert_eq!(priority_key("", "celery", DEFAULT_SEP, 0), "celery");
        assert_eq!(
            priority_key("", "celery", DEFAULT_SEP, 3),
            "celery\x06\x163"
        );
        assert_eq!(priority_key("p:", "q", ":", 9), "p:q:9");
    }

    #[test]
    fn bindings_skip_plumbing() {
        let s = DEFAULT_SEP;
        assert_eq!(
            queue_of_binding(&format!("celery{s}{s}celery"), s).as_deref(),
            Some("celery")
        );
        assert_eq!(
            queue_of_binding(&format!("{s}{s}w1.celery.pidbox"), s),
            None
        );
        assert_eq!(
            queue_of_binding(&format!("worker.#{s}{s}celeryev.abc"), s),
            None
        );
        assert_eq!(queue_of_binding("garbage", s), None);
    }
}
