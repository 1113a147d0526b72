//! What Docker knows about the containers, kept in memory between scrapes: one list
//! and one inspect per container when the connection (re)starts, then only the event
//! stream; nothing polls. Owns the per-container [`Ledger`] of restarts and OOM kills,
//! which must outlive the cgroup (it is deleted the moment an OOM-killed container
//! exits) and a restart (cAdvisor's count falls back to 0, google/cadvisor#3015).
//!
//! The task reconnects by itself with a backoff and resumes the stream from the last
//! event it handled, so an outage loses nothing Docker still remembers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, EventMessage};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures::StreamExt as _;

/// Docker 20.10's API; newer daemons are asked for their own with `/version` first.
const BASE_API: bollard::ClientVersion = bollard::ClientVersion {
    major_version: 1,
    minor_version: 41,
};
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Inspects running at once during a resync.
const INSPECT_CONCURRENCY: usize = 8;

/// Where the daemon listens, as `--docker.host` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Unix(String),
    Tcp(String),
}

impl Host {
    /// `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub fn parse(text: &str) -> Result<Host, String> {
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("{text:?}: expected unix:///path/to/docker.sock"));
            }
            return Ok(Host::Unix(path.to_string()));
        }
        for scheme in ["tcp://", "http://"] {
            if let Some(addr) = text.strip_prefix(scheme) {
                if addr.is_empty() {
                    return Err(format!("{text:?}: expected {scheme}host:port"));
                }
                return Ok(Host::Tcp(format!("tcp://{addr}")));
            }
        }
        Err(format!(
            "{text:?}: expected unix:///path/to/docker.sock or tcp://host:port"
        ))
    }

    fn connect(&self, timeout: Duration) -> Result<Docker, String> {
        let secs = timeout.as_secs().max(1);
        match self {
            Host::Unix(path) => Docker::connect_with_unix(path, secs, &BASE_API),
            Host::Tcp(addr) => Docker::connect_with_http(addr, secs, &BASE_API),
        }
        .map_err(|e| e.to_string())
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{p}"),
            Host::Tcp(a) => f.write_str(a),
        }
    }
}

/// One container as its last inspect (and events since) describe it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub image: String,
    /// Docker labels, as `(container_label_<sanitized>, value)`, sorted.
    pub labels: Vec<(String, String)>,
    /// created, running, restarting, paused, exited, removing or dead.
    pub state: String,
    /// starting, healthy or unhealthy; `None` without a health check.
    pub health: Option<String>,
    /// Init process on the host; 0 when not running.
    pub pid: u32,
    /// Unix seconds of the last start.
    pub started_at: Option<f64>,
    pub exit_code: i64,
    pub restart_count: i64,
    /// Whether the last exit was an OOM kill.
    pub oom_killed: bool,
    /// Limits from HostConfig, for the stats-API path (cgroup files say it otherwise).
    pub spec_cpu_quota: Option<f64>,
    pub spec_cpu_period: Option<f64>,
    pub spec_cpu_shares: Option<f64>,
    pub spec_memory: Option<f64>,
}

/// `container_label_<key>` with every character outside `[a-zA-Z0-9_]` made `_`, as
/// cAdvisor (and Prometheus' own label sanitising) does.
pub fn label_name(key: &str) -> String {
    let mut out = String::with_capacity(16 + key.len());
    out.push_str("container_label_");
    out.extend(
        key.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    out
}

/// Docker's labels as sorted label pairs; of two keys that sanitise alike, the first wins.
pub fn labels(raw: Option<&HashMap<String, String>>) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut keys: Vec<(&String, &String)> = raw.map(|m| m.iter().collect()).unwrap_or_default();
    keys.sort();
    for (k, v) in keys {
        out.entry(label_name(k)).or_insert_with(|| v.clone());
    }
    out.into_iter().collect()
}

/// RFC 3339 as Docker writes it (`2026-12-02T18:38:20.274190166Z`); Docker's zero time
/// (`0001-01-01T00:00:00Z`, never started) is `None`.
pub fn parse_time(text: &str) -> Option<f64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    let secs = ts.as_second() as f64 + f64::from(ts.subsec_nanosecond()) / 1e9;
    (secs > 0.0).then_some(secs)
}

/// The metadata an inspect gives.
pub fn meta_from_inspect(c: &ContainerInspectResponse) -> Option<Meta> {
    let id = c.id.clone()?;
    let state = c.state.as_ref();
    let config = c.config.as_ref();
    let host = c.host_config.as_ref();
    let positive = |v: Option<i64>| v.filter(|v| *v > 0).map(|v| v as f64);
    Some(Meta {
        name: c
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string(),
        image: config
            .and_then(|c| c.image.clone())
            .or_else(|| c.image.clone())
            .unwrap_or_default(),
        labels: labels(config.and_then(|c| c.labels.as_ref())),
        state: state
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        health: state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map(|h| h.to_string())
            .filter(|h| !h.is_empty() && h != "none"),
        pid: state
            .and_then(|s| s.pid)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        started_at: state
            .and_then(|s| s.started_at.as_deref())
            .and_then(parse_time),
        exit_code: state.and_then(|s| s.exit_code).unwrap_or(0),
        restart_count: c.restart_count.unwrap_or(0),
        oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
        spec_cpu_quota: positive(host.and_then(|h| h.cpu_quota)),
        spec_cpu_period: positive(host.and_then(|h| h.cpu_period)),
        spec_cpu_shares: positive(host.and_then(|h| h.cpu_shares)),
        spec_memory: positive(host.and_then(|h| h.memory)),
        id,
    })
}

/// A container's restarts and OOM kills as the exporter has counted them.
///
/// Restarts: a restart policy restarts with `die` then `start` and raises
/// `RestartCount` but sends no `restart` event; `docker restart` sends `restart`
/// without raising it. So each `restart` event counts one, and each rise of
/// `RestartCount` counts its size: both kinds once each. The count starts at the
/// `RestartCount` of the first inspect.
///
/// OOM kills of one run of the container (from one start to the next) come from three
/// places that may each miss some: Docker's `oom` events, the kernel's `oom_kill`
/// count of the cgroup (gone once the container exits) and `State.OOMKilled`. A run
/// counts the largest of the three, so one kill seen by all three counts once; at
/// the next start it is added to the runs before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub restarts: u64,
    last_restart_count: i64,
    oom_earlier_runs: u64,
    oom_events: u64,
    oom_kernel: u64,
    oom_flag: bool,
}

impl Ledger {
    /// From the first inspect of a container.
    pub fn new(restart_count: i64, oom_killed: bool) -> Ledger {
        Ledger {
            restarts: u64::try_from(restart_count).unwrap_or(0),
            last_restart_count: restart_count,
            oom_flag: oom_killed,
            ..Ledger::default()
        }
    }

    /// A `restart` event (`docker restart`).
    pub fn restart_event(&mut self) {
        self.restarts += 1;
    }

    /// `RestartCount` from an inspect: a rise is a restart-policy restart. Docker resets
    /// it on a manual `docker start`, which is not a restart.
    pub fn restart_count(&mut self, count: i64) {
        if let Ok(rise) = u64::try_from(count - self.last_restart_count)
            && rise > 0
        {
            self.restarts += rise;
        }
        self.last_restart_count = count;
    }

    /// A `start` event: a new run begins, with a new cgroup.
    pub fn start(&mut self) {
        self.oom_earlier_runs += self.this_run_ooms();
        self.oom_events = 0;
        self.oom_kernel = 0;
        self.oom_flag = false;
    }

    /// An `oom` event.
    pub fn oom_event(&mut self) {
        self.oom_events += 1;
    }

    /// The kernel's `oom_kill` count read from this run's cgroup.
    pub fn kernel_ooms(&mut self, n: u64) {
        self.oom_kernel = self.oom_kernel.max(n);
    }

    /// `State.OOMKilled` after the container exited.
    pub fn exited(&mut self, oom_killed: bool) {
        self.oom_flag |= oom_killed;
    }

    fn this_run_ooms(&self) -> u64 {
        self.oom_events
            .max(self.oom_kernel)
            .max(u64::from(self.oom_flag))
    }

    pub fn ooms(&self) -> u64 {
        self.oom_earlier_runs + self.this_run_ooms()
    }
}

/// One known container.
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub meta: Meta,
    pub ledger: Ledger,
}

/// The link to Docker, as the last attempt left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Up,
    /// The cause, naming the daemon address.
    Down(String),
}

/// What the event task keeps and the collector reads.
pub struct State {
    pub containers: BTreeMap<String, Known>,
    pub link: Link,
    /// The client of the current connection, for the stats API.
    pub docker: Option<Docker>,
}

/// [`State`] behind a lock, plus a signal for the first attempt's end.
pub struct Shared {
    state: Mutex<State>,
    pub attempted: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                containers: BTreeMap::new(),
                link: Link::Connecting,
                docker: None,
            }),
            attempted: tokio::sync::watch::channel(false).0,
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps `shared` in step with the daemon at `host`, forever: connect, list, inspect,
/// follow events; on any failure record the cause, wait, and start again.
pub async fn run(shared: Arc<Shared>, host: Host, timeout: Duration) {
    let mut backoff = BACKOFF_FIRST;
    // Events up to this instant (ns) are handled: a resumed stream skips them.
    let mut last_event_ns: Option<i64> = None;
    loop {
        let cause = match session(&shared, &host, timeout, &mut last_event_ns).await {
            Ok(()) => "the event stream ended".to_string(),
            Err(e) => e,
        };
        let cause = format!("docker at {host}: {cause}");
        let was_up = {
            let mut st = shared.lock();
            let was_up = st.link == Link::Up;
            if st.link != Link::Down(cause.clone()) {
                tracing::warn!(error = %cause, "containers: Docker unavailable; retrying");
            }
            st.link = Link::Down(cause);
            st.docker = None;
            was_up
        };
        shared.attempted.send_replace(true);
        if was_up {
            backoff = BACKOFF_FIRST;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn session(
    shared: &Shared,
    host: &Host,
    timeout: Duration,
    last_event_ns: &mut Option<i64>,
) -> Result<(), String> {
    let docker = host.connect(timeout)?;
    let docker = tokio::time::timeout(timeout, docker.negotiate_version())
        .await
        .map_err(|_| format!("no answer to /version within {timeout:?}"))?
        .map_err(|e| e.to_string())?;
    // Subscribe from just before the list, so nothing between the two is lost.
    let since = match *last_event_ns {
        Some(ns) => format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            now.saturating_sub(1).to_string()
        }
    };
    let filters = HashMap::from([("type".to_string(), vec!["container".to_string()])]);
    let mut events = docker.events(Some(EventsOptions {
        since: Some(since),
        until: None,
        filters: Some(filters),
    }));

    let list = tokio::time::timeout(
        timeout,
        docker.list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        })),
    )
    .await
    .map_err(|_| format!("no answer to the container list within {timeout:?}"))?
    .map_err(|e| e.to_string())?;
    let ids: Vec<String> = list.into_iter().filter_map(|c| c.id).collect();
    let inspected: Vec<Meta> = futures::stream::iter(ids)
        .map(|id| inspect(&docker, id, timeout))
        .buffer_unordered(INSPECT_CONCURRENCY)
        .filter_map(|m| async move { m })
        .collect()
        .await;
    {
        let mut st = shared.lock();
        let mut fresh = BTreeMap::new();
        for meta in inspected {
            let ledger = match st.containers.remove(&meta.id) {
                Some(mut known) => {
                    known.ledger.restart_count(meta.restart_count);
                    if meta.started_at != known.meta.started_at {
                        known.ledger.start();
                    }
                    known.ledger.exited(meta.oom_killed && meta.pid == 0);
                    known.ledger
                }
                None => Ledger::new(meta.restart_count, meta.oom_killed),
            };
            fresh.insert(meta.id.clone(), Known { meta, ledger });
        }
        st.containers = fresh;
        if st.link != Link::Up {
            tracing::info!(host = %host, containers = st.containers.len(), "containers: following Docker's events");
        }
        st.link = Link::Up;
        st.docker = Some(docker.clone());
    }
    shared.attempted.send_replace(true);

    while let Some(ev) = events.next().await {
        let ev = ev.map_err(|e| format!("event stream: {e}"))?;
        if let Some(ns) = ev.time_nano {
            if last_event_ns.is_some_and(|last| ns <= last) {
                continue;
            }
            *last_event_ns = Some(ns);
        }
        handle(shared, &docker, &ev, timeout).await;
    }
    Ok(())
}

async fn inspect(docker: &Docker, id: String, timeout: Duration) -> Option<Meta> {
    match tokio::time::timeout(timeout, docker.inspect_container(&id, None)).await {
        Ok(Ok(c)) => meta_from_inspect(&c),
        // Removed meanwhile (its destroy event follows), or a slow daemon: the next
        // event or resync brings it.
        Ok(Err(e)) => {
            tracing::debug!(id, error = %e, "containers: inspect failed");
            None
        }
        Err(_) => None,
    }
}

/// What an event does to a container's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Ignore,
    Remove,
    /// Re-inspect, after counting: `restart` a restart, `start` a new run, `oom` a kill.
    Refresh {
        restart: bool,
        start: bool,
        oom: bool,
    },
}

/// The effect of a container event's action. Health checks run as `exec_*` actions
/// every few seconds: ignored, as are `kill`/`stop` (a `die` follows).
pub fn effect(action: &str) -> Effect {
    let refresh = |restart, start, oom| Effect::Refresh {
        restart,
        start,
        oom,
    };
    match action {
        "destroy" => Effect::Remove,
        "restart" => refresh(true, false, false),
        "start" => refresh(false, true, false),
        "oom" => refresh(false, false, true),
        "create" | "die" | "pause" | "unpause" | "rename" | "update" => {
            refresh(false, false, false)
        }
        a if a.starts_with("health_status") => refresh(false, false, false),
        _ => Effect::Ignore,
    }
}

async fn handle(shared: &Shared, docker: &Docker, ev: &EventMessage, timeout: Duration) {
    let (Some(action), Some(id)) = (
        ev.action.as_deref(),
        ev.actor.as_ref().and_then(|a| a.id.clone()),
    ) else {
        return;
    };
    let (restart, start, oom) = match effect(action) {
        Effect::Ignore => return,
        Effect::Remove => {
            shared.lock().containers.remove(&id);
            return;
        }
        Effect::Refresh {
            restart,
            start,
            oom,
        } => (restart, start, oom),
    };
    {
        let mut st = shared.lock();
        if let Some(k) = st.containers.get_mut(&id) {
            if restart {
                k.ledger.restart_event();
            }
            if start {
                k.ledger.start();
            }
            if oom {
                k.ledger.oom_event();
            }
        }
    }
    let Some(meta) = inspect(docker, id.clone(), timeout).await else {
        return;
    };
    let mut st = shared.lock();
    match st.containers.get_mut(&id) {
        Some(k) => {
            k.ledger.restart_count(meta.restart_count);
            if action == "die" {
                k.ledger.exited(meta.oom_killed);
            }
            // A `die` inspect can already see the next run (a restart policy is quick):
            // the last exit's OOM flag stays until the next `die` says otherwise.
            let keep_oom = k.meta.oom_killed && action != "die";
            let keep_exit = k.meta.exit_code;
            k.meta = meta;
            k.meta.oom_killed |= keep_oom;
            // The `die` event carries the exit code; a later run's inspect may not.
            k.meta.exit_code = match action {
                "die" => exit_code_attr(ev).unwrap_or(k.meta.exit_code),
                _ if k.meta.pid > 0 => keep_exit,
                _ => k.meta.exit_code,
            };
        }
        None => {
            let mut ledger = Ledger::new(meta.restart_count, meta.oom_killed);
            if oom {
                ledger.oom_event();
            }
            st.containers
                .insert(meta.id.clone(), Known { meta, ledger });
        }
    }
}

fn exit_code_attr(ev: &EventMessage) -> Option<i64> {
    ev.actor
        .as_ref()?
        .attributes
        .as_ref()?
        .get("exitCode")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            Host::parse("unix:///var/run/docker.sock"),
            Ok(Host::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375"),
            Ok(Host::Tcp("tcp://127.0.0.1:2375".into()))
        );
        assert!(Host::parse("/var/run/docker.sock").is_err());
        assert!(Host::parse("unix://").is_err());
    }

    #[test]
    fn label_names_are_sanitised() {
        let raw = HashMap::from([
            ("com.docker.compose.service".to_string(), "web".to_string()),
            ("maintainer".to_string(), "x".to_string()),
        ]);
        assert_eq!(
            labels(Some(&raw)),
            vec![
                (
                    "container_label_com_docker_compose_service".to_string(),
                    "web".to_string()
                ),
                ("container_label_maintainer".to_string(), "x".to_string()),
            ]
        );
    }

    #[test]
    fn docker_times() {
        assert_eq!(parse_time("2026-12-02T18:38:20.5Z"), Some(1_796_236_700.5));
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    /// Restart counting, in the event orders observed on Docker 20.10.
    #[test]
    fn restarts_count_policy_restarts_and_docker_restart_once_each() {
        let mut l = Ledger::new(0, false);
        // restart: on-failure: die, start; RestartCount 0 -> 1; no `restart` event.
        l.start();
        l.restart_count(1);
        assert_eq!(l.restarts, 1);
        // docker restart: die, start, restart; RestartCount stays 1.
        l.start();
        l.restart_count(1);
        l.restart_event();
        assert_eq!(l.restarts, 2);
        // The same inspect seen twice (event replayed) adds nothing.
        l.restart_count(1);
        assert_eq!(l.restarts, 2);
        // docker stop + docker start resets RestartCount: not a restart.
        l.start();
        l.restart_count(0);
        assert_eq!(l.restarts, 2);
        l.start();
        l.restart_count(1);
        assert_eq!(l.restarts, 3);
        // First seen with restarts behind it: they count.
        assert_eq!(Ledger::new(5, false).restarts, 5);
    }

    /// OOM counting: one kill seen by several sources counts once; kills survive restarts.
    #[test]
    fn oom_kills_count_once_and_survive_restarts() {
        let mut l = Ledger::new(0, false);
        // A child killed, the container lives on: the event and the kernel agree.
        l.oom_event();
        l.kernel_ooms(1);
        assert_eq!(l.ooms(), 1);
        // pid 1 killed: event, then the exit says OOMKilled; the cgroup is gone.
        l.oom_event();
        l.exited(true);
        assert_eq!(l.ooms(), 2);
        // The restart policy starts a new run (new cgroup, kernel count from 0).
        l.start();
        assert_eq!(l.ooms(), 2);
        l.kernel_ooms(0);
        assert_eq!(l.ooms(), 2);
        // A kill the event stream missed (exporter reconnecting): the kernel count has it.
        l.kernel_ooms(1);
        assert_eq!(l.ooms(), 3);
        // Only OOMKilled knows (exporter started after the container died).
        assert_eq!(Ledger::new(0, true).ooms(), 1);
    }

    #[test]
    fn event_effects() {
        assert_eq!(effect("destroy"), Effect::Remove);
        assert_eq!(effect("exec_start: sh -c true"), Effect::Ignore);
        assert_eq!(effect("kill"), Effect::Ignore);
        assert_eq!(
            effect("health_status: unhealthy"),
            Effect::Refresh {
                restart: false,
                start: false,
                oom: false
            }
        );
        assert_eq!(
            effect("oom"),
            Effect::Refresh {
                restart: false,
                start: false,
                oom: true
            }
        );
    }
}
