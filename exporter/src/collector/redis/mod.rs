//! `redis_*`: Redis metrics under redis_exporter's names, from `INFO ALL`, the
//! keyspace, the slow log and configured keys. One reused connection per target with
//! a deadline on connect and on every command; a failure drops the connection, so the
//! next scrape reconnects (Redis restarted, failed over, or back from an outage).
//!
//! Credentials come from a file or the environment, never from the address, and are
//! only ever sent to the targets they are configured for (redis_exporter #1104).

pub mod conn;
pub mod info;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::{Origin, Problems, pick};

pub use conn::{Credentials, ErrorKind, Target};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(clap::Args, Debug, Default, Clone)]
#[group(id = "redis_flags")]
pub struct Flags {
    /// Redis address to watch (redis://host:port, rediss:// for TLS, unix:///path);
    /// repeat for several. No address: the redis collector exports nothing.
    #[arg(
        long = "redis.addr",
        env = "REDIS_ADDR",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub addr: Vec<String>,
    /// Redis ACL user name.
    #[arg(long = "redis.user", env = "REDIS_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// File holding the Redis password (the password may also come from $REDIS_PASSWORD).
    #[arg(
        long = "redis.password-file",
        env = "REDIS_PASSWORD_FILE",
        value_name = "PATH"
    )]
    pub password_file: Option<PathBuf>,
    /// Keys whose length to export as redis_key_size: `key` (db0) or `dbN=key`, comma separated.
    #[arg(long = "check-single-keys", value_name = "KEYS", value_delimiter = ',')]
    pub check_single_keys: Vec<String>,
    /// Deadline for connecting to Redis [default: 2s].
    #[arg(long = "redis.connect-timeout", value_name = "DURATION", value_parser = clap::value_parser!(config_values::Duration))]
    pub connect_timeout: Option<config_values::Duration>,
    /// Deadline for each command [default: 2s].
    #[arg(long = "redis.command-timeout", value_name = "DURATION", value_parser = clap::value_parser!(config_values::Duration))]
    pub command_timeout: Option<config_values::Duration>,
    /// Let `/scrape?target=` reach addresses that are not configured (scraped without
    /// credentials). Off: only configured targets, so the exporter cannot be used to
    /// probe other hosts or sockets.
    #[arg(long = "redis.scrape-any-target")]
    pub scrape_any_target: bool,
}

/// `redis:` in the config file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub targets: Vec<RawTarget>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    pub check_single_keys: Vec<String>,
    /// e.g. `2s`.
    pub connect_timeout: Option<String>,
    pub command_timeout: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawTarget {
    pub addr: String,
    /// Extra labels on every series of this target.
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub targets: Vec<Target>,
    pub check_keys: Vec<(u32, String)>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// `--redis.scrape-any-target`.
    pub scrape_any_target: bool,
}

impl Config {
    pub fn validate(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Config {
        let file = |key: &str| Origin::file(path, key);
        let user = pick(
            flags.user.clone(),
            "redis.user",
            raw.user,
            "redis.user",
            path,
        )
        .map(|(u, _)| u);
        let password_file = pick(
            flags.password_file.clone(),
            "redis.password-file",
            raw.password_file,
            "redis.password_file",
            path,
        );
        let env_var = raw.password_env.unwrap_or_else(|| "REDIS_PASSWORD".into());
        let password = crate::setting::secret(password_file, &env_var, problems);
        let creds = Credentials { user, password };
        let mut targets = Vec::new();
        let flag_targets = flags
            .addr
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| (a.clone(), BTreeMap::new(), Origin::Flag("redis.addr")));
        let file_targets: Vec<_> = raw
            .targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t.addr, t.labels, file(&format!("redis.targets[{i}].addr"))))
            .collect();
        let chosen: Vec<_> = if flags.addr.is_empty() {
            file_targets
        } else {
            flag_targets.collect()
        };
        for (addr, labels, origin) in chosen {
            match Target::parse(&addr, labels, creds.clone()) {
                Ok(t) => targets.push(t),
                Err(e) => problems.push(&origin, e),
            }
        }
        let keys = if flags.check_single_keys.is_empty() {
            raw.check_single_keys
        } else {
            flags.check_single_keys.clone()
        };
        let mut check_keys = Vec::new();
        for k in keys.iter().filter(|k| !k.is_empty()) {
            match k.split_once('=') {
                Some((db, key)) => match db.strip_prefix("db").and_then(|n| n.parse().ok()) {
                    Some(n) => check_keys.push((n, key.to_string())),
                    None => problems.push(
                        &Origin::Flag("check-single-keys"),
                        format!("{k:?}: expected `key` or `dbN=key`"),
                    ),
                },
                None => check_keys.push((0, k.clone())),
            }
        }
        let mut duration = |flag: Option<config_values::Duration>,
                            raw: Option<String>,
                            key: &str,
                            default| {
            flag.map(config_values::Duration::as_std)
                .or_else(|| raw.and_then(|t| crate::setting::duration(&t, &file(key), problems)))
                .unwrap_or(default)
        };
        let connect_timeout = duration(
            flags.connect_timeout,
            raw.connect_timeout,
            "redis.connect_timeout",
            DEFAULT_CONNECT_TIMEOUT,
        );
        let command_timeout = duration(
            flags.command_timeout,
            raw.command_timeout,
            "redis.command_timeout",
            DEFAULT_COMMAND_TIMEOUT,
        );
        Config {
            targets,
            check_keys,
            connect_timeout,
            command_timeout,
            scrape_any_target: flags.scrape_any_target,
        }
    }
}

/// The collector: every configured target, scraped concurrently.
pub struct Redis {
    targets: Vec<Arc<conn::Client>>,
    check_keys: Vec<(u32, String)>,
    /// A `/scrape?target=` address that is not configured: its errors are reduced to
    /// "could not scrape target", so a caller learns nothing of what answered there.
    foreign: bool,
}

pub fn build(cfg: &Config) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Redis::new(cfg)))
}

impl Redis {
    pub fn new(cfg: &Config) -> Self {
        Self {
            targets: cfg
                .targets
                .iter()
                .map(|t| {
                    Arc::new(conn::Client::new(
                        t.clone(),
                        cfg.connect_timeout,
                        cfg.command_timeout,
                    ))
                })
                .collect(),
            check_keys: cfg.check_keys.clone(),
            foreign: false,
        }
    }

    /// The client for a configured target, matched by address (for `/scrape?target=`).
    pub fn client_for(&self, addr: &str) -> Option<Arc<conn::Client>> {
        let wanted = Target::normalize(addr)?;
        self.targets
            .iter()
            .find(|c| c.target.key == wanted)
            .cloned()
    }

    /// A collector for one target: configured ones keep their credentials and labels;
    /// any other address is scraped without credentials.
    pub fn for_target(&self, addr: &str, cfg: &Config) -> Result<Redis, String> {
        let (client, foreign) = match self.client_for(addr) {
            Some(c) => (c, false),
            None => (
                Arc::new(conn::Client::new(
                    Target::parse(addr, BTreeMap::new(), Credentials::default())
                        .map_err(|_| "could not scrape target".to_string())?,
                    cfg.connect_timeout,
                    cfg.command_timeout,
                )),
                true,
            ),
        };
        Ok(Redis {
            targets: vec![client],
            check_keys: self.check_keys.clone(),
            foreign,
        })
    }
}

impl Collector for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(async move {
            let scrapes = self
                .targets
                .iter()
                .map(|c| scrape_target(c, &self.check_keys));
            let mut out = Vec::new();
            for fams in futures::future::join_all(scrapes).await {
                out.extend(fams);
            }
            let mut fams = merge(out);
            if self.foreign {
                for f in fams
                    .iter_mut()
                    .filter(|f| f.name == "redis_exporter_last_scrape_error")
                {
                    for sample in &mut f.samples {
                        for (k, v) in &mut sample.labels {
                            if k == "err" && !v.is_empty() {
                                *v = "could not scrape target".into();
                            }
                        }
                    }
                }
            }
            Ok(fams)
        })
    }
}

/// Families of several targets share names: merge them so each name appears once.
fn merge(fams: Vec<Family>) -> Vec<Family> {
    let mut by_name: BTreeMap<String, Family> = BTreeMap::new();
    for f in fams {
        match by_name.get_mut(&f.name) {
            Some(existing) => existing.samples.extend(f.samples),
            None => {
                by_name.insert(f.name.clone(), f);
            }
        }
    }
    by_name.into_values().collect()
}

/// One target's families; a failure gives `redis_up 0` and the error, never `Err`.
async fn scrape_target(client: &conn::Client, check_keys: &[(u32, String)]) -> Vec<Family> {
    let start = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let result = client.scrape(check_keys).await;
    let mut fams = Vec::new();
    let up = match &result {
        Ok(s) => {
            let parsed = info::parse_info(&s.info);
            fams.extend(info::info_families(&parsed, now));
            fams.extend(info::keyspace_families(&parsed, s.databases));
            if let Some(n) = s.io_threads {
                fams.push(
                    Family::gauge("redis_config_io_threads", "config_io_threads metric").single(n),
                );
            }
            fams.push(Family::gauge("redis_slowlog_length", "Total slowlog").single(s.slowlog_len));
            fams.push(
                Family::gauge("redis_slowlog_last_id", "Last id of slowlog")
                    .single(s.slowlog_last_id),
            );
            fams.push(
                Family::gauge(
                    "redis_last_slow_execution_duration_seconds",
                    "The amount of time needed for last slow execution, in seconds",
                )
                .single(s.slowlog_last_duration),
            );
            fams.push(
                Family::gauge(
                    "redis_exporter_last_scrape_ping_time_seconds",
                    "Duration of the exporter's PING to Redis in seconds",
                )
                .single(s.ping.as_secs_f64()),
            );
            if let Some(c) = s.connect {
                fams.push(
                    Family::gauge(
                        "redis_exporter_last_scrape_connect_time_seconds",
                        "Duration of the last connect to Redis in seconds",
                    )
                    .single(c.as_secs_f64()),
                );
            }
            if !s.keys.is_empty() {
                let mut size = Family::gauge("redis_key_size", "The length or size of \"key\"");
                for (db, key, len) in &s.keys {
                    size.push([("db", format!("db{db}")), ("key", key.clone())], *len);
                }
                fams.push(size);
            }
            1.0
        }
        Err(_) => 0.0,
    };
    let (err_text, err_value) = match &result {
        Ok(_) => (String::new(), 0.0),
        Err(e) => (e.to_string(), 1.0),
    };
    let mut last_err = Family::gauge(
        "redis_exporter_last_scrape_error",
        "The last scrape error status.",
    );
    last_err.push([("err", err_text)], err_value);
    fams.push(last_err);
    let mut errors = Family::counter(
        "redis_exporter_scrape_errors_total",
        "Scrapes of Redis that failed, by cause (refused, timeout, auth, tls, dns, io, protocol)",
    );
    for (reason, n) in client.error_counts() {
        errors.push([("reason", reason)], n as f64);
    }
    fams.push(errors);
    fams.push(Family::gauge("redis_up", "Information about the Redis instance").single(up));
    fams.push(
        Family::gauge(
            "redis_exporter_last_scrape_duration_seconds",
            "The last scrape duration.",
        )
        .single(start.elapsed().as_secs_f64()),
    );
    fams.push(
        Family::counter(
            "redis_exporter_scrapes_total",
            "Current total redis scrapes.",
        )
        .single(client.scrapes() as f64),
    );
    // Per-target labels (configured), added to every series of this target.
    if !client.target.labels.is_empty() {
        for f in &mut fams {
            for s in &mut f.samples {
                for (k, v) in &client.target.labels {
                    s.labels.push((k.clone(), v.clone()));
                }
            }
        }
    }
    fams
}
