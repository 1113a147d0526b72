//! Flags, the optional YAML config file and environment overrides, merged into one
//! validated [`Config`]. Precedence per setting: flag, then environment variable (both
//! through clap), then the config file, then the built-in default.
//!
//! Raw layers ([`Flags`], [`RawConfig`]) are parsed first; [`Config::load`] validates
//! them together and reports every problem at once, each naming its flag or file key.
//!
//! A collector's settings live in its own module as a `Flags` struct (flattened into
//! [`Flags`]), a `RawConfig` section (one field of [`RawConfig`]), a validated
//! `Config` (one field of [`Config`]) and its validate step: adding a collector adds
//! one line to each, and one to [`Config::sections`]. This module only assembles them;
//! the pieces every section is validated with live in [`crate::setting`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;

use crate::collector::{self, host};
use crate::setting::{HostPaths, Origin, Problems, pick};

/// Where node_exporter listens; we take its place.
pub const DEFAULT_LISTEN: &str = ":9100";
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";
/// Per-collector time budget on every scrape; Prometheus' default scrape timeout is 10s.
pub const DEFAULT_COLLECTOR_TIMEOUT: Duration = Duration::from_secs(5);
/// node_exporter's `--web.max-requests` default.
pub const DEFAULT_MAX_REQUESTS: usize = 40;

/// `exporter <command>`; without one the exporter serves.
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask the running exporter's /-/healthy on loopback (the container's HEALTHCHECK:
    /// the image has no shell or curl); exit 0 when it answers 2xx.
    Healthcheck,
}

/// Command-line flags (and their `EXPORTER_*` environment variables). Names follow
/// node_exporter where it has one.
#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "exporter",
    version,
    about = "Host, container, Redis and Celery metrics for Prometheus, in one process"
)]
pub struct Flags {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Optional YAML config file; flags and environment variables override it.
    #[arg(
        long = "config.file",
        env = "EXPORTER_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub config_file: Option<PathBuf>,

    /// Validate flags and config file, print the result and exit.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Address to listen on [default: :9100, all interfaces].
    #[arg(
        long = "web.listen-address",
        env = "EXPORTER_WEB_LISTEN_ADDRESS",
        value_name = "ADDR"
    )]
    pub listen_address: Option<String>,

    /// Path under which metrics are exposed [default: /metrics].
    #[arg(
        long = "web.telemetry-path",
        env = "EXPORTER_WEB_TELEMETRY_PATH",
        value_name = "PATH"
    )]
    pub telemetry_path: Option<String>,

    /// TLS, basic auth and response headers, in exporter-toolkit's web config format.
    #[arg(
        long = "web.config.file",
        env = "EXPORTER_WEB_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Most scrapes served at once; more are answered 503 at once, as node_exporter
    /// does. 0: no limit [default: 40].
    #[arg(
        long = "web.max-requests",
        env = "EXPORTER_WEB_MAX_REQUESTS",
        value_name = "N"
    )]
    pub max_requests: Option<usize>,

    /// procfs mountpoint [default: /proc].
    #[arg(
        long = "path.procfs",
        env = "EXPORTER_PATH_PROCFS",
        value_name = "PATH"
    )]
    pub procfs: Option<PathBuf>,

    /// sysfs mountpoint [default: /sys].
    #[arg(long = "path.sysfs", env = "EXPORTER_PATH_SYSFS", value_name = "PATH")]
    pub sysfs: Option<PathBuf>,

    /// rootfs mountpoint, prefixed to filesystem mount points [default: /].
    #[arg(
        long = "path.rootfs",
        env = "EXPORTER_PATH_ROOTFS",
        value_name = "PATH"
    )]
    pub rootfs: Option<PathBuf>,

    /// Time budget of each collector on every scrape, e.g. 5s or 500ms [default: 5s].
    #[arg(
        long = "scrape.collector-timeout",
        env = "EXPORTER_SCRAPE_COLLECTOR_TIMEOUT",
        value_name = "DURATION"
    )]
    pub collector_timeout: Option<String>,

    /// Log level: error, warn, info, debug, trace [default: info].
    #[arg(long = "log.level", env = "EXPORTER_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format: text or json [default: text]. Colour only on a terminal.
    #[arg(
        long = "log.format",
        env = "EXPORTER_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<String>,

    /// Start from no collectors; enable each with `--collector.<name>` (as node_exporter).
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,

    /// `--collector.<name>` (true) / `--no-collector.<name>` (false), built from
    /// [`collector::LIST`].
    #[arg(skip)]
    pub collectors: BTreeMap<&'static str, bool>,

    // ---- collector sections: one line each ----
    #[command(flatten)]
    pub diskstats: host::diskstats::Flags,
    #[command(flatten)]
    pub filesystem: host::filesystem::Flags,
    #[command(flatten)]
    pub netdev: host::net::NetdevFlags,
    #[command(flatten)]
    pub textfile: host::textfile::Flags,
    #[command(flatten)]
    pub redis: collector::redis::Flags,
    #[command(flatten)]
    pub celery: collector::celery::Flags,
    #[command(flatten)]
    pub docker: collector::containers::Flags,
}

impl Flags {
    /// The clap command: the derived flags plus `--collector.<name>` and
    /// `--no-collector.<name>` for every entry of the collector list.
    pub fn command() -> clap::Command {
        let mut cmd = <Self as CommandFactory>::command();
        for e in collector::LIST {
            let default = if e.default_enabled {
                "enabled"
            } else {
                "disabled"
            };
            cmd = cmd
                .arg(
                    Arg::new(e.flag)
                        .long(e.flag)
                        .action(ArgAction::SetTrue)
                        .overrides_with(e.no_flag)
                        .help(format!(
                            "Enable the {} collector ({default} by default): {}",
                            e.name, e.help
                        )),
                )
                .arg(
                    Arg::new(e.no_flag)
                        .long(e.no_flag)
                        .action(ArgAction::SetTrue)
                        .overrides_with(e.flag)
                        .hide(true),
                );
        }
        cmd
    }

    /// Parses flags (and environment) without exiting; `--help`/`--version` come back
    /// as errors of the matching kind.
    pub fn try_parse_from<I, T>(args: I) -> Result<Flags, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command().try_get_matches_from(args)?;
        let mut flags = <Self as FromArgMatches>::from_arg_matches(&matches)?;
        for e in collector::LIST {
            if matches.get_flag(e.flag) {
                flags.collectors.insert(e.name, true);
            } else if matches.get_flag(e.no_flag) {
                flags.collectors.insert(e.name, false);
            }
        }
        Ok(flags)
    }
}

/// The config file as written. Every section is optional; unknown keys are errors.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub web: RawWeb,
    pub path: RawPaths,
    pub scrape: RawScrape,
    pub log: RawLog,
    /// `collector name: true|false`.
    pub collectors: BTreeMap<String, bool>,

    // ---- collector sections: one line each ----
    pub diskstats: host::diskstats::RawConfig,
    pub filesystem: host::filesystem::RawConfig,
    pub netdev: host::net::NetdevRawConfig,
    pub textfile: host::textfile::RawConfig,
    pub redis: collector::redis::RawConfig,
    pub celery: collector::celery::RawConfig,
    pub docker: collector::containers::RawConfig,
    pub probes: collector::probes::RawConfig,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawWeb {
    pub listen_address: Option<String>,
    pub telemetry_path: Option<String>,
    pub config_file: Option<PathBuf>,
    pub max_requests: Option<usize>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawPaths {
    pub procfs: Option<PathBuf>,
    pub sysfs: Option<PathBuf>,
    pub rootfs: Option<PathBuf>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawScrape {
    pub collector_timeout: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

/// A config problem, naming the file or flag and what was expected.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    /// Every validation problem, joined on one line.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The validated configuration that runtime code sees.
#[derive(Clone, Debug)]
pub struct Config {
    /// The config file this came from, if any.
    pub source: Option<PathBuf>,
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    /// `--web.config.file`, checked at load; the server re-reads it on use.
    pub web_config_file: Option<PathBuf>,
    pub paths: HostPaths,
    pub collector_timeout: Duration,
    /// `--web.max-requests`: scrapes served at once (0: no limit).
    pub max_requests: usize,
    pub log_level: tracing::Level,
    /// `--log.format=json`: one JSON object per line.
    pub log_json: bool,
    /// Every collector of the list, enabled or not.
    pub collectors: BTreeMap<&'static str, bool>,

    // ---- collector sections: one line each ----
    pub diskstats: host::diskstats::Config,
    pub filesystem: host::filesystem::Config,
    pub netdev: host::net::NetdevConfig,
    pub textfile: host::textfile::Config,
    pub redis: collector::redis::Config,
    pub celery: collector::celery::Config,
    pub docker: collector::containers::Config,
    pub probes: collector::probes::Config,
}

impl Default for Config {
    fn default() -> Self {
        match Config::from_layers(&Flags::default(), RawConfig::default(), None) {
            Ok(cfg) => cfg,
            Err(e) => unreachable!("built-in defaults are valid: {e}"),
        }
    }
}

impl Config {
    /// Reads the config file named by the flags (if any) and validates everything.
    pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
        let raw = match &flags.config_file {
            Some(path) => Self::read_file(path)?,
            None => RawConfig::default(),
        };
        Self::from_layers(flags, raw, flags.config_file.as_deref())
    }

    /// Parses a config file's text; unknown keys and wrong types name their key path.
    pub fn parse_file_text(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(RawConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_file_text(&text, path)
    }

    /// Merges flags over the file and validates; every problem is reported.
    pub fn from_layers(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let mut problems = Problems::default();

        let listen = pick(
            flags.listen_address.clone(),
            "web.listen-address",
            raw.web.listen_address,
            "web.listen_address",
            path,
        );
        let listen_address = match listen {
            Some((text, origin)) => parse_listen(&text).unwrap_or_else(|e| {
                problems.push(&origin, e);
                default_listen()
            }),
            None => default_listen(),
        };

        let telemetry_path = match pick(
            flags.telemetry_path.clone(),
            "web.telemetry-path",
            raw.web.telemetry_path,
            "web.telemetry_path",
            path,
        ) {
            Some((p, origin)) => {
                if !p.starts_with('/') || p == "/" || p.starts_with("/-/") {
                    problems.push(
                        &origin,
                        format!("{p:?} is not a usable path: expected one starting with '/', like /metrics"),
                    );
                }
                p
            }
            None => DEFAULT_TELEMETRY_PATH.to_string(),
        };

        let web_config_file = pick(
            flags.web_config_file.clone(),
            "web.config.file",
            raw.web.config_file,
            "web.config_file",
            path,
        )
        .and_then(|(p, origin)| match web_toolkit::WebConfig::load(&p) {
            Ok(_) => Some(p),
            Err(e) => {
                problems.push(&origin, format!("{}: {}", p.display(), e.msg));
                None
            }
        });

        let defaults = HostPaths::default();
        let paths = HostPaths {
            procfs: pick(
                flags.procfs.clone(),
                "path.procfs",
                raw.path.procfs,
                "path.procfs",
                path,
            )
            .map_or(defaults.procfs, |(p, _)| p),
            sysfs: pick(
                flags.sysfs.clone(),
                "path.sysfs",
                raw.path.sysfs,
                "path.sysfs",
                path,
            )
            .map_or(defaults.sysfs, |(p, _)| p),
            rootfs: pick(
                flags.rootfs.clone(),
                "path.rootfs",
                raw.path.rootfs,
                "path.rootfs",
                path,
            )
            .map_or(defaults.rootfs, |(p, _)| p),
        };

        let collector_timeout = match pick(
            flags.collector_timeout.clone(),
            "scrape.collector-timeout",
            raw.scrape.collector_timeout,
            "scrape.collector_timeout",
            path,
        ) {
            Some((text, origin)) => match crate::setting::duration(&text, &origin, &mut problems) {
                Some(d) if !d.is_zero() => d,
                Some(_) => {
                    problems.push(&origin, "must be greater than 0");
                    DEFAULT_COLLECTOR_TIMEOUT
                }
                None => DEFAULT_COLLECTOR_TIMEOUT,
            },
            None => DEFAULT_COLLECTOR_TIMEOUT,
        };

        let log_level = match pick(
            flags.log_level.clone(),
            "log.level",
            raw.log.level,
            "log.level",
            path,
        ) {
            Some((text, origin)) => text.parse().unwrap_or_else(|_| {
                problems.push(
                    &origin,
                    format!(
                        "unknown log level {text:?}: expected error, warn, info, debug or trace"
                    ),
                );
                tracing::Level::INFO
            }),
            None => tracing::Level::INFO,
        };

        let log_json = match pick(
            flags.log_format.clone(),
            "log.format",
            raw.log.format,
            "log.format",
            path,
        ) {
            Some((text, origin)) => match text.as_str() {
                "text" => false,
                "json" => true,
                _ => {
                    problems.push(
                        &origin,
                        format!("unknown log format {text:?}: expected text or json"),
                    );
                    false
                }
            },
            None => false,
        };

        let mut collectors: BTreeMap<&'static str, bool> = collector::LIST
            .iter()
            .map(|e| (e.name, e.default_enabled && !flags.disable_defaults))
            .collect();
        for (name, on) in &raw.collectors {
            match collector::find(name) {
                Some(e) => {
                    collectors.insert(e.name, *on);
                }
                None => problems.push(
                    &Origin::file(path, format!("collectors.{name}")),
                    format!(
                        "unknown collector; known: {}",
                        collector::LIST
                            .iter()
                            .map(|e| e.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        collectors.extend(flags.collectors.iter().map(|(k, v)| (*k, *v)));

        // ---- collector sections: one line each ----
        let diskstats = flags.diskstats.validate(raw.diskstats, path, &mut problems);
        let filesystem = host::filesystem::Config::validate(
            &flags.filesystem,
            raw.filesystem,
            path,
            &mut problems,
        );
        let netdev = flags.netdev.validate(raw.netdev, path, &mut problems);
        let textfile =
            host::textfile::Config::validate(&flags.textfile, raw.textfile, path, &mut problems);
        let redis =
            collector::redis::Config::validate(&flags.redis, raw.redis, path, &mut problems);
        let celery =
            collector::celery::Config::validate(&flags.celery, raw.celery, path, &mut problems);
        let docker =
            collector::containers::Config::validate(&flags.docker, raw.docker, path, &mut problems);
        let probes =
            collector::probes::Config::validate(raw.probes, collector_timeout, path, &mut problems);

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems.into_vec()));
        }
        Ok(Config {
            source: path.map(Path::to_path_buf),
            listen_address,
            telemetry_path,
            web_config_file,
            paths,
            collector_timeout,
            max_requests: flags
                .max_requests
                .or(raw.web.max_requests)
                .unwrap_or(DEFAULT_MAX_REQUESTS),
            log_level,
            log_json,
            collectors,
            diskstats,
            filesystem,
            netdev,
            textfile,
            redis,
            celery,
            docker,
            probes,
        })
    }

    /// Whether the collector called `name` runs.
    pub fn enabled(&self, name: &str) -> bool {
        self.collectors.get(name).copied().unwrap_or(false)
    }

    /// What the collectors are built from: each one's own section and the host paths.
    pub fn sections(&self) -> collector::Sections<'_> {
        collector::Sections {
            paths: &self.paths,
            collector_timeout: self.collector_timeout,
            diskstats: &self.diskstats,
            filesystem: &self.filesystem,
            netdev: &self.netdev,
            textfile: &self.textfile,
            redis: &self.redis,
            celery: &self.celery,
            docker: &self.docker,
            probes: &self.probes,
        }
    }

    /// Builds every enabled collector, in the list's order.
    pub fn build_collectors(
        &self,
    ) -> anyhow::Result<Vec<std::sync::Arc<dyn collector::Collector>>> {
        collector::build_enabled(&self.sections(), |name| self.enabled(name))
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9100))
}

/// Accepts node_exporter's forms: `:9100` (all interfaces), `host:port`, `[v6]:port`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let expected = "expected host:port or :port, like :9100 or 127.0.0.1:9100";
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid listen address {text:?}: {expected}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if let Some((host, port)) = text.rsplit_once(':')
        && host == "localhost"
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Err(format!("invalid listen address {text:?}: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_yaml(yaml: &str) -> Result<Config, ConfigError> {
        let path = Path::new("exporter.yml");
        let raw = Config::parse_file_text(yaml, path)?;
        Config::from_layers(&Flags::default(), raw, Some(path))
    }

    #[test]
    fn defaults_listen_on_9100_with_host_collectors() {
        let cfg = Config::default();
        assert_eq!(cfg.listen_address.port(), 9100);
        assert_eq!(cfg.telemetry_path, "/metrics");
        assert!(cfg.enabled("loadavg"));
    }

    #[test]
    fn unknown_key_names_its_path() {
        let err = load_yaml("web:\n  listen_adress: ':9101'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exporter.yml"), "{err}");
        assert!(err.contains("web"), "{err}");
        assert!(err.contains("unknown field `listen_adress`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn unknown_collector_and_bad_values_reported_together() {
        let err = load_yaml(
            "collectors:\n  cpux: true\nscrape:\n  collector_timeout: 5 parsecs\nweb:\n  listen_address: nowhere\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("collectors.cpux: unknown collector"), "{err}");
        assert!(
            err.contains("scrape.collector_timeout: invalid duration"),
            "{err}"
        );
        assert!(
            err.contains("web.listen_address: invalid listen address"),
            "{err}"
        );
    }

    #[test]
    fn celery_worker_purge_delay() {
        let after = |yaml: &str| load_yaml(yaml).unwrap().celery.purge_offline_workers_after;
        assert_eq!(after(""), Some(Duration::from_secs(600)));
        assert_eq!(
            after("celery:\n  purge_offline_workers_after: 1h\n"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(after("celery:\n  purge_offline_workers_after: 0s\n"), None);
        let err = load_yaml("celery:\n  purge_offline_workers_after: soon\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("celery.purge_offline_workers_after: invalid duration"),
            "{err}"
        );
    }

    #[test]
    fn flags_override_file_and_collector_toggles_parse() {
        let flags = Flags::try_parse_from([
            "exporter",
            "--web.listen-address=127.0.0.1:9999",
            "--no-collector.loadavg",
        ])
        .unwrap();
        let raw = Config::parse_file_text("web:\n  listen_address: ':9101'\n", Path::new("x.yml"))
            .unwrap();
        let cfg = Config::from_layers(&flags, raw, Some(Path::new("x.yml"))).unwrap();
        assert_eq!(cfg.listen_address.to_string(), "127.0.0.1:9999");
        assert!(!cfg.enabled("loadavg"));
        assert!(cfg.enabled("meminfo"));

        let flags = Flags::try_parse_from([
            "exporter",
            "--collector.disable-defaults",
            "--collector.cpu",
        ])
        .unwrap();
        let cfg = Config::from_layers(&flags, RawConfig::default(), None).unwrap();
        let on: Vec<_> = cfg
            .collectors
            .iter()
            .filter(|(_, on)| **on)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(on, ["cpu"]);
    }

    #[test]
    fn device_filters_validate_like_node_exporter() {
        let flags = Flags::try_parse_from([
            "exporter",
            "--collector.netdev.device-exclude=^veth",
            "--collector.netdev.device-include=^eth",
        ])
        .unwrap();
        let err = Config::from_layers(&flags, RawConfig::default(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--collector.netdev.device-exclude: device-include and device-exclude are mutually exclusive"), "{err}");
        let err = load_yaml("diskstats:\n  device_exclude: '(['\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exporter.yml: diskstats.device_exclude: invalid regular expression"),
            "{err}"
        );
    }

    /// Regression: `99999999999999999h` overflowed the hour multiplication and panicked.
    #[test]
    fn huge_collector_timeout_is_an_error_naming_the_flag() {
        let flags =
            Flags::try_parse_from(["exporter", "--scrape.collector-timeout=99999999999999999h"])
                .unwrap();
        let err = Config::from_layers(&flags, RawConfig::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--scrape.collector-timeout: invalid duration \"99999999999999999h\""),
            "{err}"
        );
    }

    #[test]
    fn debug_of_a_config_never_shows_a_password_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2-from-file\n").unwrap();
        let flags = Flags::try_parse_from([
            "exporter".to_string(),
            "--redis.addr=redis://127.0.0.1:6379".to_string(),
            format!("--redis.password-file={}", pw.display()),
            "--celery.broker-url=redis://127.0.0.1:6379/0".to_string(),
            format!("--celery.broker-password-file={}", pw.display()),
        ])
        .unwrap();
        let cfg = Config::from_layers(&flags, RawConfig::default(), None).unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<secret>"), "{shown}");
    }
}
