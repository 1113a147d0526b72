//! The leaf pieces every config section is validated with: where a setting came from
//! ([`Origin`]), the problems found so far ([`Problems`]), flag-over-file precedence
//! ([`pick`]), typed readers for durations, regexes and secrets, and the host's
//! pseudo-filesystem paths ([`HostPaths`]).
//!
//! It imports nothing from `config` or `collector`: `config` assembles the sections and
//! each collector validates its own, both on top of this module, so neither has to
//! import the other back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config_values::Secret;

/// Where a setting came from, for error messages.
#[derive(Clone, Debug)]
pub enum Origin {
    Flag(&'static str),
    File(PathBuf, String),
}

impl Origin {
    /// The config file's key `key`; `?` when the value did not come from a file.
    pub fn file(path: Option<&Path>, key: impl Into<String>) -> Origin {
        Origin::File(path.unwrap_or(Path::new("?")).to_path_buf(), key.into())
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "--{name}"),
            Origin::File(path, key) => write!(f, "config file {}: {key}", path.display()),
        }
    }
}

/// Collects validation problems so all of them are reported at once.
#[derive(Default, Debug)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn push(&mut self, origin: &Origin, problem: impl std::fmt::Display) {
        self.0.push(format!("{origin}: {problem}"));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Picks the flag value over the file value and says where it came from.
pub fn pick<T>(
    flag: Option<T>,
    flag_name: &'static str,
    file: Option<T>,
    file_key: &str,
    path: Option<&Path>,
) -> Option<(T, Origin)> {
    match (flag, file) {
        (Some(v), _) => Some((v, Origin::Flag(flag_name))),
        (None, Some(v)) => Some((v, Origin::file(path, file_key))),
        (None, None) => None,
    }
}

/// A duration in Prometheus's grammar ([`config_values::Duration`]); a bad one is a
/// problem naming its origin, and `None`.
pub fn duration(text: &str, origin: &Origin, problems: &mut Problems) -> Option<Duration> {
    config_values::Duration::parse(text)
        .map(config_values::Duration::as_std)
        .map_err(|e| problems.push(origin, e))
        .ok()
}

/// A regular expression; a bad one is a problem naming its origin, and `None`.
pub fn regex(text: &str, origin: &Origin, problems: &mut Problems) -> Option<regex_lite::Regex> {
    regex_lite::Regex::new(text)
        .map_err(|e| problems.push(origin, format!("invalid regular expression: {e}")))
        .ok()
}

/// A secret from the file chosen by flag or config (first line, without its newline), else
/// from the environment variable `env_var` (unset or empty: no secret). Secrets never
/// come from the config file itself.
pub fn secret(
    file: Option<(PathBuf, Origin)>,
    env_var: &str,
    problems: &mut Problems,
) -> Option<Secret> {
    match file {
        Some((p, origin)) => Secret::read_file(&p)
            .map_err(|e| problems.push(&origin, e))
            .ok(),
        None => Secret::from_env(env_var, &|v| std::env::var(v).ok()).ok(),
    }
}

/// Paths of the host's pseudo-filesystems, as `--path.*` set them.
#[derive(Clone, Debug)]
pub struct HostPaths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

impl HostPaths {
    /// A file under procfs. `net/…` is the reading process's network namespace; with the
    /// host's procfs mounted into a container (`--path.procfs=/host/proc`) it is read
    /// through the host's PID 1 instead, so that network counters are the host's, not
    /// the container's (the classic complaint about node_exporter in compose).
    pub fn proc(&self, rel: &str) -> PathBuf {
        if let Some(net) = rel.strip_prefix("net/")
            && self.procfs != Path::new("/proc")
        {
            let host = self.procfs.join("1/net").join(net);
            if host.exists() {
                return host;
            }
        }
        self.procfs.join(rel)
    }

    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// Checks that procfs is readable, so a wrong `--path.procfs` fails at start with
    /// one line instead of every host collector failing on every scrape.
    pub fn check(&self) -> Result<(), String> {
        let stat = self.proc("stat");
        std::fs::read_to_string(&stat).map(drop).map_err(|e| {
            format!(
                "--path.procfs {}: cannot read {}: {e}",
                self.procfs.display(),
                stat.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_mounted_host_procfs_gives_the_hosts_network_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = HostPaths {
            procfs: dir.path().to_path_buf(),
            ..HostPaths::default()
        };
        // A fixture tree without PID 1 reads net/ directly.
        assert_eq!(p.proc("net/dev"), dir.path().join("net/dev"));
        std::fs::create_dir_all(dir.path().join("1/net")).unwrap();
        std::fs::write(dir.path().join("1/net/dev"), "").unwrap();
        assert_eq!(p.proc("net/dev"), dir.path().join("1/net/dev"));
        assert_eq!(p.proc("stat"), dir.path().join("stat"));
        // The process's own /proc is read as it is.
        assert_eq!(
            HostPaths::default().proc("net/dev"),
            Path::new("/proc/net/dev")
        );
    }
    use super::*;

    #[test]
    fn durations_use_prometheus_grammar_and_name_their_origin() {
        let mut problems = Problems::default();
        let origin = Origin::Flag("scrape.collector-timeout");
        assert_eq!(
            duration("1m30s", &origin, &mut problems),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            duration("500ms", &origin, &mut problems),
            Some(Duration::from_millis(500))
        );
        assert!(problems.is_empty());
        // Used to panic: the hours were multiplied without a check.
        assert_eq!(duration("99999999999999999h", &origin, &mut problems), None);
        assert_eq!(duration("5", &origin, &mut problems), None);
        let problems = problems.into_vec();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("--scrape.collector-timeout: invalid duration"),
            "{problems:?}"
        );
    }

    /// Moved from `config.rs` with the duration parser it tested (now config-values').
    #[test]
    fn durations() {
        let parse_duration = |t: &str| config_values::Duration::parse(t).map(|d| d.as_std());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn secret_file_is_read_without_its_newline_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let mut problems = Problems::default();
        let s = secret(
            Some((path, Origin::Flag("redis.password-file"))),
            "UNUSED_EXPORTER_TEST_VAR",
            &mut problems,
        )
        .unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
        let missing = secret(
            Some((dir.path().join("nope"), Origin::Flag("redis.password-file"))),
            "UNUSED_EXPORTER_TEST_VAR",
            &mut problems,
        );
        assert!(missing.is_none());
        let problems = problems.into_vec();
        assert!(
            problems[0].starts_with("--redis.password-file: cannot read secret file"),
            "{problems:?}"
        );
    }
}
