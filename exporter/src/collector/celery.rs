//! `celery_*`: Celery queues read straight from the Redis broker (kombu's Redis
//! transport), no Python and no remote-control broadcasts on the scrape path.
//!
//! Queues are found from kombu's bindings (`_kombu.binding.<exchange>` sets, written
//! when a producer first publishes) plus the configured ones. A queue's length is the
//! sum of `LLEN` over its priority lists (`Q`, `Q<sep>3`, `Q<sep>6`, `Q<sep>9`), as
//! kombu's own `_size` counts it: celery-exporter counts only the bare list and misses
//! priority tasks (its issue #272). Messages delivered but not acked sit in the
//! `unacked` hash and `unacked_index` zset.
//!
//! Not yet: the event stream (workers, task counters, runtimes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::collector::redis::conn::{Client, Credentials, Target};
use crate::collector::{CollectResult, Collector};
use crate::config::{Origin, Problems};
use crate::metrics::Family;

/// kombu's defaults (kombu/transport/redis.py).
pub const DEFAULT_PRIORITY_STEPS: [u32; 4] = [0, 3, 6, 9];
pub const DEFAULT_SEP: &str = "\x06\x16";

#[derive(clap::Args, Debug, Default, Clone)]
#[group(id = "celery_flags")]
pub struct Flags {
    /// Celery's Redis broker (redis://host:port/db). No URL: the celery collector exports nothing.
    #[arg(
        long = "celery.broker-url",
        env = "CELERY_BROKER_URL",
        value_name = "URL"
    )]
    pub broker_url: Option<String>,
    /// Queues to report even before anything was published to them (comma separated).
    #[arg(long = "celery.queues", value_name = "NAMES", value_delimiter = ',')]
    pub queues: Vec<String>,
}

/// `celery:` in the config file; `priority_steps`, `sep` and `global_keyprefix` are
/// kombu's `broker_transport_options` of the same names.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub broker_url: Option<String>,
    pub queues: Vec<String>,
    pub priority_steps: Option<Vec<u32>>,
    pub sep: Option<String>,
    pub global_keyprefix: Option<String>,
    pub password_file: Option<std::path::PathBuf>,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub broker: Option<Target>,
    pub queues: Vec<String>,
    pub priority_steps: Vec<u32>,
    pub sep: String,
    pub prefix: String,
}

impl Config {
    pub fn validate(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Config {
        let file =
            |key: &str| Origin::File(path.unwrap_or(Path::new("?")).to_path_buf(), key.into());
        let password_file = raw
            .password_file
            .clone()
            .map(|p| (p, file("celery.password_file")));
        let password = crate::config::secret(password_file, "CELERY_BROKER_PASSWORD", problems);
        let creds = Credentials {
            user: None,
            password,
        };
        let (url, origin) = match (&flags.broker_url, raw.broker_url) {
            (Some(u), _) => (Some(u.clone()), Origin::Flag("celery.broker-url")),
            (None, u) => (u, file("celery.broker_url")),
        };
        let broker = url.filter(|u| !u.is_empty()).and_then(|u| {
            Target::parse(&u, BTreeMap::new(), creds)
                .map_err(|e| problems.push(&origin, e))
                .ok()
        });
        let steps = raw
            .priority_steps
            .unwrap_or_else(|| DEFAULT_PRIORITY_STEPS.to_vec());
        if !steps.contains(&0) {
            problems.push(
                &file("celery.priority_steps"),
                "must contain 0 (the bare queue list)",
            );
        }
        Config {
            broker,
            queues: if flags.queues.is_empty() {
                raw.queues
            } else {
                flags.queues.clone()
            },
            priority_steps: steps,
            sep: raw.sep.unwrap_or_else(|| DEFAULT_SEP.into()),
            prefix: raw.global_keyprefix.unwrap_or_default(),
        }
    }
}

pub struct Celery {
    client: Option<Client>,
    cfg: Config,
}

pub fn build(cfg: &crate::config::Config) -> anyhow::Result<Arc<dyn Collector>> {
    let c = &cfg.celery;
    Ok(Arc::new(Celery {
        client: c.broker.clone().map(|t| {
            Client::new(
                t,
                crate::collector::redis::DEFAULT_CONNECT_TIMEOUT,
                crate::collector::redis::DEFAULT_COMMAND_TIMEOUT,
            )
        }),
        cfg: c.clone(),
    }))
}

/// The key of a queue's list for a priority step (kombu's `_q_for_pri`).
pub fn priority_key(prefix: &str, queue: &str, sep: &str, step: u32) -> String {
    if step == 0 {
        format!("{prefix}{queue}")
    } else {
        format!("{prefix}{queue}{sep}{step}")
    }
}

/// Queue names from one binding set's members (`routing_key<sep>pattern<sep>queue`),
/// without Celery's internal queues (remote control replies, event queues).
pub fn queues_from_bindings<'a>(
    members: impl IntoIterator<Item = &'a str>,
    sep: &str,
) -> BTreeSet<String> {
    members
        .into_iter()
        .filter_map(|m| m.split(sep).nth(2))
        .filter(|q| !q.is_empty() && !q.ends_with(".pidbox") && !q.starts_with("celeryev."))
        .map(str::to_string)
        .collect()
}

struct Reading {
    lengths: BTreeMap<String, Vec<(u32, f64)>>,
    unacked: f64,
    oldest_unacked: Option<f64>,
}

impl Celery {
    async fn read(&self, client: &Client) -> Result<Reading, crate::collector::redis::conn::Error> {
        let (mut conn, _) = client.connection().await?;
        let prefix = &self.cfg.prefix;
        // Discover bindings with SCAN (never KEYS on a production broker).
        let pattern = format!("{prefix}_kombu.binding.*");
        let mut binding_keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = client
                .query(
                    &mut conn,
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            binding_keys.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut queues: BTreeSet<String> = self.cfg.queues.iter().cloned().collect();
        for key in &binding_keys {
            let members: Vec<String> = client
                .query(&mut conn, redis::cmd("SMEMBERS").arg(key))
                .await?;
            queues.extend(queues_from_bindings(
                members.iter().map(String::as_str),
                &self.cfg.sep,
            ));
        }
        // One pipeline: LLEN of every priority list of every queue, then the unacked set.
        let mut pipe = redis::pipe();
        for q in &queues {
            for &step in &self.cfg.priority_steps {
                pipe.cmd("LLEN")
                    .arg(priority_key(prefix, q, &self.cfg.sep, step));
            }
        }
        pipe.cmd("HLEN").arg(format!("{prefix}unacked"));
        pipe.cmd("ZRANGE")
            .arg(format!("{prefix}unacked_index"))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES");
        let mut values: Vec<redis::Value> = client.run_pipeline(&mut conn, &pipe).await?;
        let oldest = values.pop();
        let unacked = values
            .pop()
            .and_then(|v| redis::from_redis_value::<f64>(v).ok())
            .unwrap_or(0.0);
        let oldest_unacked = oldest
            .and_then(|v| redis::from_redis_value::<Vec<(String, f64)>>(v).ok())
            .and_then(|v| v.first().map(|(_, score)| *score));
        let mut lengths = BTreeMap::new();
        let mut it = values.into_iter();
        for q in queues {
            let mut per = Vec::new();
            for &step in &self.cfg.priority_steps {
                let n = it
                    .next()
                    .and_then(|v| redis::from_redis_value::<f64>(v).ok())
                    .unwrap_or(0.0);
                per.push((step, n));
            }
            lengths.insert(q, per);
        }
        Ok(Reading {
            lengths,
            unacked,
            oldest_unacked,
        })
    }
}

impl Collector for Celery {
    fn name(&self) -> &'static str {
        "celery"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(async move {
            let Some(client) = &self.client else {
                return Ok(Vec::new());
            };
            let mut up = Family::gauge(
                "celery_broker_up",
                "Whether the Celery broker answered the last scrape (1) or not (0)",
            );
            let reading = match self.read(client).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(broker = %client.target.display, reason = e.kind.as_str(), "celery broker: {e}");
                    // No stale queue gauges while the broker is down: only the failure.
                    up.push(std::iter::empty::<(String, String)>(), 0.0);
                    return Ok(vec![up]);
                }
            };
            up.push(std::iter::empty::<(String, String)>(), 1.0);
            let mut length = Family::gauge(
                "celery_queue_length",
                "Messages waiting in the queue, all priorities",
            );
            let mut by_priority = Family::gauge(
                "celery_queue_length_by_priority",
                "Messages waiting in the queue's list for one priority step",
            );
            for (q, per) in &reading.lengths {
                length.push(
                    [("queue_name", q.as_str())],
                    per.iter().map(|(_, n)| n).sum(),
                );
                for (step, n) in per {
                    by_priority.push(
                        [("queue_name", q.clone()), ("priority", step.to_string())],
                        *n,
                    );
                }
            }
            let unacked = Family::gauge(
                "celery_unacked_messages",
                "Messages delivered to workers and not yet acknowledged",
            )
            .single(reading.unacked);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64();
            let age = Family::gauge(
                "celery_unacked_oldest_age_seconds",
                "Age of the oldest unacknowledged message (0 when there is none)",
            )
            .single(reading.oldest_unacked.map_or(0.0, |t| (now - t).max(0.0)));
            Ok(vec![up, length, by_priority, unacked, age])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_keys_and_bindings() {
        assert_eq!(priority_key("", "celery", DEFAULT_SEP, 0), "celery");
        assert_eq!(
            priority_key("p:", "celery", DEFAULT_SEP, 3),
            "p:celery\x06\x163"
        );
        let members = [
            "celery\x06\x16\x06\x16celery",
            "\x06\x16\x06\x16w1@host.celery.pidbox",
            "reports\x06\x16\x06\x16reports",
        ];
        let q = queues_from_bindings(members, DEFAULT_SEP);
        assert_eq!(q.into_iter().collect::<Vec<_>>(), ["celery", "reports"]);
    }
}
