//! `container_*`: Docker containers under cAdvisor's names, plus what Docker knows and
//! cAdvisor does not (restarts, OOM kills that outlive the cgroup, state, health, exit
//! code). Metadata comes from [`docker`] (kept fresh by the event stream); on each
//! scrape only the cached containers' cgroup files are read ([`cgroup`]), or, where
//! they cannot be, Docker's stats API ([`stats_api`]).
//!
//! Docker unreachable: the collector fails (`node_scrape_collector_success 0`, one log
//! line naming the cause) at once, without waiting for the daemon; the other
//! collectors are unaffected and the task keeps reconnecting.

pub mod cgroup;
pub mod docker;
pub mod stats_api;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::collector::host::read_small;
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::{Family, Kind};
use crate::setting::{HostPaths, Problems, pick};

use cgroup::{NetDev, Stats};
use docker::{Host, Known, Link, Shared};

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

#[derive(clap::Args, Debug, Default, Clone)]
#[group(id = "docker_flags")]
pub struct Flags {
    /// Docker daemon of the containers collector: unix:///path or tcp://host:port
    /// [default: unix:///var/run/docker.sock].
    #[arg(long = "docker.host", env = "DOCKER_HOST", value_name = "URL")]
    pub host: Option<String>,
    /// Where per-container figures come from: `cgroup` files, Docker's stats `api`, or
    /// `auto` (cgroup files, the API for a container whose files cannot be read)
    /// [default: auto].
    #[arg(
        long = "docker.stats-source",
        env = "EXPORTER_DOCKER_STATS_SOURCE",
        value_name = "SOURCE"
    )]
    pub stats_source: Option<String>,
}

/// `docker:` in the config file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub host: Option<String>,
    pub stats_source: Option<String>,
}

/// Where per-container figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsSource {
    Auto,
    Cgroup,
    Api,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub host: Host,
    pub stats_source: StatsSource,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: Host::Unix("/var/run/docker.sock".into()),
            stats_source: StatsSource::Auto,
        }
    }
}

impl Config {
    pub fn validate(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Config {
        let mut cfg = Config::default();
        if let Some((text, origin)) = pick(
            flags.host.clone(),
            "docker.host",
            raw.host,
            "docker.host",
            path,
        ) {
            match Host::parse(&text) {
                Ok(h) => cfg.host = h,
                Err(e) => problems.push(&origin, e),
            }
        }
        if let Some((text, origin)) = pick(
            flags.stats_source.clone(),
            "docker.stats-source",
            raw.stats_source,
            "docker.stats_source",
            path,
        ) {
            match text.as_str() {
                "auto" => cfg.stats_source = StatsSource::Auto,
                "cgroup" => cfg.stats_source = StatsSource::Cgroup,
                "api" => cfg.stats_source = StatsSource::Api,
                other => problems.push(
                    &origin,
                    format!("unknown stats source {other:?}: expected auto, cgroup or api"),
                ),
            }
        }
        cfg
    }
}

/// The collector. The event task starts with the first scrape (the runtime does not
/// exist yet when collectors are built).
pub struct Containers {
    cfg: Config,
    paths: HostPaths,
    timeout: Duration,
    shared: Arc<Shared>,
    task: OnceLock<()>,
    /// Open cgroup files by container id, for the init pid they were found
    /// for; dropped when the container is no longer running.
    opened: Mutex<HashMap<String, (u32, Arc<cgroup::Opened>)>>,
    /// `major:minor` -> `/dev/<name>`.
    devices: Mutex<HashMap<String, String>>,
}

pub fn build(
    cfg: &Config,
    paths: &HostPaths,
    timeout: Duration,
) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Containers::new(
        cfg.clone(),
        paths.clone(),
        timeout,
    )))
}

/// How one container's figures were read this scrape.
struct Row {
    known: Known,
    stats: Option<Stats>,
    net: Vec<NetDev>,
    api: bool,
}

impl Containers {
    pub fn new(cfg: Config, paths: HostPaths, timeout: Duration) -> Self {
        raise_open_files_limit();
        Self {
            cfg,
            paths,
            timeout,
            shared: Shared::new(),
            task: OnceLock::new(),
            opened: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
        }
    }

    fn cgroup_root(&self) -> PathBuf {
        self.paths.sys("fs/cgroup")
    }

    /// The cgroup files of a running container, opened: found from its init pid's
    /// `/proc/<pid>/cgroup`, else where Docker conventionally puts it; cached per pid.
    fn opened(&self, id: &str, pid: u32) -> Option<Arc<cgroup::Opened>> {
        let mut cache = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((p, o)) = cache.get(id)
            && *p == pid
        {
            return Some(o.clone());
        }
        let root = self.cgroup_root();
        let layout = read_small(self.paths.proc(&format!("{pid}/cgroup")))
            .ok()
            .and_then(|t| cgroup::locate(&root, &t))
            .or_else(|| cgroup::conventional(&root, id))?;
        let opened = Arc::new(cgroup::Opened::open(&layout)?);
        cache.insert(id.to_string(), (pid, opened.clone()));
        Some(opened)
    }

    fn read_cgroup(&self, k: &Known) -> Option<(Stats, Vec<NetDev>)> {
        let opened = self.opened(&k.meta.id, k.meta.pid)?;
        let stats = match opened.read() {
            Ok(s) => s,
            Err(_) => {
                // Gone (the container stopped): look it up afresh next time.
                self.opened
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&k.meta.id);
                return None;
            }
        };
        let net = read_small(self.paths.proc(&format!("{}/net/dev", k.meta.pid)))
            .map(|t| cgroup::parse_net_dev(&t))
            .unwrap_or_default();
        Some((stats, net))
    }

    fn device_name(&self, majmin: &str) -> String {
        let mut cache = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(majmin.to_string())
            .or_insert_with(|| {
                std::fs::read_link(self.paths.sys(&format!("dev/block/{majmin}")))
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .map_or_else(|| majmin.to_string(), |n| format!("/dev/{n}"))
            })
            .clone()
    }

    async fn gather(&self) -> CollectResult {
        if self.task.set(()).is_ok() {
            tokio::spawn(docker::run(
                self.shared.clone(),
                self.cfg.host.clone(),
                self.timeout,
            ));
        }
        // The first scrape waits for the first sync, within part of its budget.
        let mut attempted = self.shared.attempted.subscribe();
        let _ = tokio::time::timeout(self.timeout / 2, attempted.wait_for(|a| *a)).await;
        let (known, docker) = {
            let st = self.shared.lock();
            match &st.link {
                Link::Up => {}
                Link::Down(cause) => anyhow::bail!("{cause}"),
                Link::Connecting => anyhow::bail!(
                    "docker at {}: no answer yet (still connecting)",
                    self.cfg.host
                ),
            }
            let known: Vec<Known> = st.containers.values().cloned().collect();
            (known, st.docker.clone())
        };
        // Directories of containers that no longer run are closed.
        self.opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, (pid, _)| known.iter().any(|k| k.meta.id == *id && k.meta.pid == *pid));
        let mut rows = Vec::with_capacity(known.len());
        let mut api_wanted = Vec::new();
        for k in known {
            let running = k.meta.pid > 0 && matches!(k.meta.state.as_str(), "running" | "paused");
            let mut row = Row {
                known: k,
                stats: None,
                net: Vec::new(),
                api: false,
            };
            if running {
                let from_files = match self.cfg.stats_source {
                    StatsSource::Api => None,
                    _ => self.read_cgroup(&row.known),
                };
                match from_files {
                    Some((s, n)) => {
                        row.stats = Some(s);
                        row.net = n;
                    }
                    None if self.cfg.stats_source != StatsSource::Cgroup => {
                        api_wanted.push(rows.len());
                    }
                    None => {}
                }
            }
            rows.push(row);
        }
        if let (false, Some(docker)) = (api_wanted.is_empty(), docker) {
            let calls = api_wanted.iter().map(|i| {
                let id = rows[*i].known.meta.id.clone();
                let docker = &docker;
                async move { stats_api::fetch(docker, &id, self.timeout).await }
            });
            let answers = futures::future::join_all(calls).await;
            for (i, answer) in api_wanted.into_iter().zip(answers) {
                match answer {
                    Ok(s) => {
                        let (stats, net) = stats_api::to_stats(&s, &rows[i].known.meta);
                        rows[i].stats = Some(stats);
                        rows[i].net = net;
                        rows[i].api = true;
                    }
                    Err(e) => {
                        tracing::debug!(id = rows[i].known.meta.id, error = %e, "containers: stats API")
                    }
                }
            }
        }
        // The kernel's OOM counts join the ledgers, which outlive the cgroups.
        {
            let mut st = self.shared.lock();
            for row in &mut rows {
                if let Some(n) = row.stats.as_ref().and_then(|s| s.oom_kills)
                    && let Some(k) = st.containers.get_mut(&row.known.meta.id)
                {
                    k.ledger.kernel_ooms(n);
                    row.known.ledger = k.ledger.clone();
                }
            }
        }
        for row in &mut rows {
            if let Some(s) = row.stats.as_mut() {
                for io in &mut s.io {
                    io.0 = self.device_name(&io.0);
                }
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Ok(families(&rows, now))
    }
}

/// Each running container holds its ~13 cgroup files open, so the soft limit of open
/// files (1024 under systemd) is raised to the hard one, as Go programs such as
/// cAdvisor do at start. If that fails, a container whose files cannot be opened is
/// treated as one whose files cannot be read (the stats API in `auto`).
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::debug!(error = %e, "containers: cannot raise the open files limit");
        }
    }
}

impl Collector for Containers {
    fn name(&self) -> &'static str {
        "containers"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(self.gather())
    }
}

// ---------------------------------------------------------------- names

/// Every family of a running container's figures: name, kind, help, and the figure.
type Figure = fn(&Stats) -> Option<f64>;
const STATS: &[(&str, Kind, &str, Figure)] = &[
    (
        "container_cpu_user_seconds_total",
        Kind::Counter,
        "Cumulative user cpu time consumed in seconds.",
        |s| s.cpu_user_seconds,
    ),
    (
        "container_cpu_system_seconds_total",
        Kind::Counter,
        "Cumulative system cpu time consumed in seconds.",
        |s| s.cpu_system_seconds,
    ),
    (
        "container_cpu_cfs_periods_total",
        Kind::Counter,
        "Number of elapsed enforcement period intervals.",
        |s| s.cfs_periods,
    ),
    (
        "container_cpu_cfs_throttled_periods_total",
        Kind::Counter,
        "Number of throttled period intervals.",
        |s| s.cfs_throttled_periods,
    ),
    (
        "container_cpu_cfs_throttled_seconds_total",
        Kind::Counter,
        "Total time duration the container has been throttled.",
        |s| s.cfs_throttled_seconds,
    ),
    (
        "container_memory_usage_bytes",
        Kind::Gauge,
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        |s| s.memory_usage,
    ),
    (
        "container_memory_working_set_bytes",
        Kind::Gauge,
        "Current working set in bytes.",
        |s| s.memory_working_set,
    ),
    (
        "container_memory_rss",
        Kind::Gauge,
        "Size of RSS in bytes.",
        |s| s.memory_rss,
    ),
    (
        "container_memory_cache",
        Kind::Gauge,
        "Number of bytes of page cache memory.",
        |s| s.memory_cache,
    ),
    (
        "container_memory_swap",
        Kind::Gauge,
        "Container swap usage in bytes.",
        |s| s.memory_swap,
    ),
    (
        "container_memory_failcnt",
        Kind::Counter,
        "Number of memory usage hits limits",
        |s| s.memory_failcnt,
    ),
    (
        "container_spec_memory_limit_bytes",
        Kind::Gauge,
        "Memory limit for the container.",
        |s| Some(s.memory_limit.unwrap_or(0.0)),
    ),
    (
        "container_spec_cpu_quota",
        Kind::Gauge,
        "CPU quota of the container.",
        |s| s.cpu_quota,
    ),
    (
        "container_spec_cpu_period",
        Kind::Gauge,
        "CPU period of the container.",
        |s| s.cpu_period,
    ),
    (
        "container_spec_cpu_shares",
        Kind::Gauge,
        "CPU share of the container.",
        |s| s.cpu_shares,
    ),
    (
        "container_processes",
        Kind::Gauge,
        "Number of processes running inside the container.",
        |s| s.processes,
    ),
];

pub const CPU_USAGE: &str = "container_cpu_usage_seconds_total";
pub const FS_READS: &str = "container_fs_reads_bytes_total";
pub const FS_WRITES: &str = "container_fs_writes_bytes_total";
/// `container_network_{receive,transmit}_<field>_total`, in /proc/net/dev's order.
pub const NET_FIELDS: [&str; 4] = ["bytes", "packets", "errors", "packets_dropped"];
pub const START_TIME: &str = "container_start_time_seconds";
pub const LAST_SEEN: &str = "container_last_seen";
pub const RESTARTS: &str = "container_restarts_total";
pub const OOM_EVENTS: &str = "container_oom_events_total";
pub const STATE: &str = "container_state";
pub const HEALTH: &str = "container_health_status";
pub const EXIT_CODE: &str = "container_last_exit_code";
pub const OOM_KILLED: &str = "container_oom_killed";
pub const SCRAPE_ERROR: &str = "container_scrape_error";
pub const STATS_SOURCE: &str = "container_exporter_stats_source";
pub const STATES: [&str; 6] = [
    "created",
    "running",
    "restarting",
    "paused",
    "exited",
    "dead",
];
pub const HEALTH_STATUSES: [&str; 3] = ["starting", "healthy", "unhealthy"];

/// Every family name this collector can export (for dashboards and rules to be
/// checked against).
pub fn names() -> Vec<String> {
    let mut out: Vec<String> = STATS.iter().map(|(n, ..)| (*n).to_string()).collect();
    for dir in ["receive", "transmit"] {
        for f in NET_FIELDS {
            out.push(format!("container_network_{dir}_{f}_total"));
        }
    }
    out.extend(
        [
            CPU_USAGE,
            FS_READS,
            FS_WRITES,
            START_TIME,
            LAST_SEEN,
            RESTARTS,
            OOM_EVENTS,
            STATE,
            HEALTH,
            EXIT_CODE,
            OOM_KILLED,
            SCRAPE_ERROR,
            STATS_SOURCE,
        ]
        .map(String::from),
    );
    out
}

/// `container_label_*`, then `id`, `image`, `name` (cAdvisor's order), then `extra`.
fn labels(k: &Known, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let m = &k.meta;
    let mut out = m.labels.clone();
    out.push(("id".into(), format!("/docker/{}", m.id)));
    out.push(("image".into(), m.image.clone()));
    out.push(("name".into(), m.name.clone()));
    out.extend(
        extra
            .iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string())),
    );
    out
}

fn push(fam: &mut Family, labels: Vec<(String, String)>, value: f64) {
    fam.push(labels, value);
}

/// The exposition of one scrape: figures for the containers that run, what Docker
/// knows for every container it has.
fn families(rows: &[Row], now: f64) -> Vec<Family> {
    let mut out: Vec<Family> = STATS
        .iter()
        .map(|(name, kind, help, _)| Family::new(*name, *help, *kind))
        .collect();
    for row in rows {
        let Some(s) = &row.stats else { continue };
        for ((_, _, _, figure), fam) in STATS.iter().zip(out.iter_mut()) {
            if let Some(v) = figure(s) {
                push(fam, labels(&row.known, &[]), v);
            }
        }
    }
    let mut cpu = Family::counter(CPU_USAGE, "Cumulative cpu time consumed in seconds.");
    let mut reads = Family::counter(FS_READS, "Cumulative count of bytes read");
    let mut writes = Family::counter(FS_WRITES, "Cumulative count of bytes written");
    let mut net: Vec<Family> = ["receive", "transmit"]
        .iter()
        .flat_map(|dir| {
            NET_FIELDS.iter().map(move |f| {
                Family::counter(
                    format!("container_network_{dir}_{f}_total"),
                    format!("Cumulative count of {f} {dir}d"),
                )
            })
        })
        .collect();
    let mut start = Family::gauge(
        START_TIME,
        "Start time of the container since unix epoch in seconds.",
    );
    let mut seen = Family::gauge(LAST_SEEN, "Last time a container was seen by the exporter");
    for row in rows {
        let Some(s) = &row.stats else { continue };
        if let Some(v) = s.cpu_usage_seconds {
            push(&mut cpu, labels(&row.known, &[("cpu", "total")]), v);
        }
        for (dev, r, w) in &s.io {
            push(&mut reads, labels(&row.known, &[("device", dev)]), *r);
            push(&mut writes, labels(&row.known, &[("device", dev)]), *w);
        }
        for n in &row.net {
            let iface = [("interface", n.interface.as_str())];
            for (i, v) in n.rx.iter().chain(n.tx.iter()).enumerate() {
                push(&mut net[i], labels(&row.known, &iface), *v);
            }
        }
        if let Some(t) = row.known.meta.started_at {
            push(&mut start, labels(&row.known, &[]), t);
        }
        push(&mut seen, labels(&row.known, &[]), now);
    }
    out.extend([cpu, reads, writes, start, seen]);
    out.extend(net);

    let mut restarts = Family::counter(
        RESTARTS,
        "Restarts of the container seen by Docker: restart-policy restarts and `docker restart`.",
    );
    let mut ooms = Family::counter(
        OOM_EVENTS,
        "OOM kills in the container (kernel count, Docker oom events, State.OOMKilled), kept across restarts.",
    );
    let mut state = Family::gauge(
        STATE,
        "The container's state as Docker reports it (1 for the current one).",
    );
    let mut health = Family::gauge(
        HEALTH,
        "The container's health check status (1 for the current one).",
    );
    let mut exit = Family::gauge(EXIT_CODE, "Exit code of the container's last run.");
    let mut oom_killed = Family::gauge(
        OOM_KILLED,
        "Whether the container's last exit was an OOM kill.",
    );
    for row in rows {
        let k = &row.known;
        push(&mut restarts, labels(k, &[]), k.ledger.restarts as f64);
        push(&mut ooms, labels(k, &[]), k.ledger.ooms() as f64);
        for st in STATES {
            let v = if k.meta.state == st { 1.0 } else { 0.0 };
            push(&mut state, labels(k, &[("state", st)]), v);
        }
        if let Some(h) = &k.meta.health {
            for st in HEALTH_STATUSES {
                let v = if h == st { 1.0 } else { 0.0 };
                push(&mut health, labels(k, &[("status", st)]), v);
            }
        }
        push(&mut exit, labels(k, &[]), k.meta.exit_code as f64);
        push(
            &mut oom_killed,
            labels(k, &[]),
            if k.meta.oom_killed { 1.0 } else { 0.0 },
        );
    }
    out.extend([restarts, ooms, state, health, exit, oom_killed]);

    let api = rows.iter().filter(|r| r.api).count();
    let files = rows.iter().filter(|r| r.stats.is_some() && !r.api).count();
    let mut source = Family::gauge(
        STATS_SOURCE,
        "Containers whose figures this scrape read from cgroup files or from Docker's stats API.",
    );
    source.push([("source", "cgroup")], files as f64);
    source.push([("source", "api")], api as f64);
    out.push(source);
    out.push(
        Family::gauge(
            SCRAPE_ERROR,
            "1 if there was an error while getting container metrics, 0 otherwise",
        )
        .single(0.0),
    );
    out.retain(|f| !f.samples.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgroup::Layout;
    use docker::{Ledger, Meta};

    fn row(stats: Stats) -> Row {
        Row {
            known: Known {
                meta: Meta {
                    id: "0123abcd".into(),
                    name: "web".into(),
                    image: "app:1".into(),
                    labels: vec![(
                        "container_label_com_docker_compose_service".into(),
                        "web".into(),
                    )],
                    state: "running".into(),
                    health: Some("healthy".into()),
                    pid: 4242,
                    started_at: Some(1_796_236_700.0),
                    ..Meta::default()
                },
                ledger: Ledger::new(2, false),
            },
            stats: Some(stats),
            net: vec![NetDev {
                interface: "eth0".into(),
                rx: [1.0; 4],
                tx: [2.0; 4],
            }],
            api: false,
        }
    }

    /// Every family of the issue comes out of the v2 fixture tree and the v1 one, under
    /// the same names.
    #[test]
    fn v1_and_v2_fixtures_export_every_family_under_the_same_names() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup");
        let v2 = cgroup::read(&Layout::V2(
            fixtures.join("v2/system.slice/docker-0123abcd.scope"),
        ))
        .unwrap();
        let mut dirs = std::collections::BTreeMap::new();
        for c in ["cpu", "cpuacct", "memory", "blkio", "pids"] {
            dirs.insert(
                c.to_string(),
                fixtures.join("v1").join(c).join("docker/0123abcd"),
            );
        }
        let v1 = cgroup::read(&Layout::V1(dirs)).unwrap();
        let names_of = |s: Stats| -> Vec<String> {
            families(&[row(s)], 1.0)
                .into_iter()
                .map(|f| f.name)
                .collect()
        };
        let (n1, n2) = (names_of(v1), names_of(v2));
        assert_eq!(n1, n2);
        let mut all = names();
        all.sort();
        let mut got = n2.clone();
        got.sort();
        assert_eq!(got, all, "every family is exported from the fixtures");
    }

    #[test]
    fn labels_follow_cadvisor() {
        let fams = families(
            &[row(Stats {
                cpu_usage_seconds: Some(1.0),
                ..Stats::default()
            })],
            1.0,
        );
        let cpu = fams.iter().find(|f| f.name == CPU_USAGE).unwrap();
        let names: Vec<&str> = cpu.samples[0]
            .labels
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "container_label_com_docker_compose_service",
                "id",
                "image",
                "name",
                "cpu"
            ]
        );
        assert_eq!(cpu.samples[0].labels[1].1, "/docker/0123abcd");
    }

    #[test]
    fn config_validates_host_and_source() {
        let mut problems = Problems::default();
        let flags = Flags {
            host: Some("docker.sock".into()),
            stats_source: Some("sometimes".into()),
        };
        let _ = Config::validate(&flags, RawConfig::default(), None, &mut problems);
        let p = problems.into_vec();
        assert!(
            p[0].starts_with("--docker.host: \"docker.sock\": expected"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("--docker.stats-source: unknown stats source"),
            "{p:?}"
        );
        let mut problems = Problems::default();
        let raw = RawConfig {
            host: Some("tcp://127.0.0.1:2375".into()),
            stats_source: Some("api".into()),
        };
        let cfg = Config::validate(&Flags::default(), raw, None, &mut problems);
        assert!(problems.is_empty());
        assert_eq!(cfg.stats_source, StatsSource::Api);
        assert_eq!(cfg.host, Host::Tcp("tcp://127.0.0.1:2375".into()));
    }
}
