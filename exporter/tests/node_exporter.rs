//! Side by side with Debian's prometheus-node-exporter on this machine, read theirs,
//! ours, theirs: the same families (those only one side has are listed with the reason),
//! types and series; every counter between node_exporter's two reads and every other
//! value in the band between them; and coverage of the names dashboard 1860 queries.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use common::{Exporter, Fam, Slack, parse, scrape};
use e2e::ChildGuard;

/// Families node_exporter has here that we do not, and why (its Go runtime, promhttp
/// and process families aside: each program's own).
const THEIRS_ONLY: &[(&str, &str)] = &[(
    "node_exporter_build_info",
    "node_exporter's own version and Go build; ours is exporter_build_info",
)];

/// Families we have that node_exporter does not, and why.
const OURS_ONLY: &[(&str, &str)] = &[
    ("exporter_build_info", "our own version"),
    (
        "exporter_collector_failures_total",
        "collector failures by collector and reason (node_exporter only logs them)",
    ),
];

/// Values not compared, and why.
const NOT_COMPARED: &[(&str, &str)] = &[
    (
        "node_scrape_collector_duration_seconds",
        "each exporter's own time per collector; the collector sets differ too (node_exporter \
         runs btrfs, xfs, ... which find nothing to export here; we run redis and celery)",
    ),
    (
        "node_scrape_collector_success",
        "the collector sets differ as above; the collectors both run are checked below",
    ),
];

/// Where a value may sit outside the band between node_exporter's two reads.
const SLACK: &[Slack] = &[
    Slack {
        family: "node_procs_running",
        below: 8.0,
        above: 8.0,
        why: "runnable tasks at the instant of the read: each exporter's scrape threads, \
              and other processes' compilers, come and go within microseconds",
    },
    Slack {
        family: "node_procs_blocked",
        below: 8.0,
        above: 8.0,
        why: "as node_procs_running, for tasks waiting on I/O",
    },
    sockets("node_sockstat_sockets_used"),
    sockets("node_sockstat_TCP_alloc"),
    sockets("node_sockstat_TCP_inuse"),
    sockets("node_sockstat_TCP_orphan"),
    sockets("node_sockstat_TCP_tw"),
];

/// The test's own HTTP connections to the two exporters open, close and linger
/// (orphaned, then in TIME_WAIT) between the reads: at most one per scrape, four scrapes.
const fn sockets(family: &'static str) -> Slack {
    Slack {
        family,
        below: 4.0,
        above: 4.0,
        why: "the test's own connections, one per scrape",
    }
}

/// Debian builds node_exporter with its own defaults (`^lo$` excluded from netdev; /run,
/// /mnt and /media from filesystem); give it upstream's, which are ours.
fn upstream_defaults() -> [String; 2] {
    [
        format!(
            "--collector.filesystem.mount-points-exclude={}",
            exporter::collector::host::filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE
        ),
        "--collector.netdev.device-exclude=".to_string(),
    ]
}

/// node_exporter's families (Go runtime, promhttp, process) and ours that are no host
/// metrics (redis, celery, process) are not compared.
fn not_host(name: &str) -> bool {
    [
        "go_",
        "promhttp_",
        "process_",
        "redis_",
        "celery_",
        "container_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Rounds of reads: a value that moves while other processes run must agree in one.
const ROUNDS: usize = 5;

/// Reads taken one right after the other: node_exporter's, ours, node_exporter's, ours,
/// ... node_exporter's.
struct Reads {
    theirs: Vec<BTreeMap<String, Fam>>,
    ours: Vec<BTreeMap<String, Fam>>,
    ours_text: String,
    theirs_text: String,
}

async fn scrape_both() -> Option<Reads> {
    let bin = e2e::require(
        "prometheus-node-exporter",
        "the exporter is compared with the real node_exporter",
    )?;
    let port = e2e::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(upstream_defaults());
    let _ne = ChildGuard::spawn("node_exporter", &mut cmd, &dir.path().join("ne.log"));
    e2e::wait_port(port, Duration::from_secs(10));
    let ours = Exporter::start(&[]);
    let theirs_url = format!("http://127.0.0.1:{port}/metrics");
    let ours_url = ours.url();
    // Warm both up once so lazily-initialised state does not skew the comparison.
    let _ = scrape(&theirs_url).await;
    let _ = scrape(&ours_url).await;
    let theirs_text = scrape(&theirs_url).await;
    let mut reads = Reads {
        theirs: vec![parse(&theirs_text)],
        ours: Vec::new(),
        ours_text: String::new(),
        theirs_text,
    };
    for _ in 0..ROUNDS {
        let text = scrape(&ours_url).await;
        reads.ours.push(parse(&text));
        if reads.ours_text.is_empty() {
            reads.ours_text = text;
        }
        reads.theirs.push(parse(&scrape(&theirs_url).await));
    }
    Some(reads)
}

fn by_collector(f: &BTreeMap<String, Fam>) -> BTreeMap<String, f64> {
    f["node_scrape_collector_success"]
        .samples
        .iter()
        .filter_map(|((_, l), v)| {
            l.iter()
                .find(|(k, _)| k == "collector")
                .map(|(_, c)| (c.clone(), *v))
        })
        .collect()
}

#[tokio::test]
async fn matches_node_exporter_value_for_value() {
    let Some(p) = scrape_both().await else { return };

    let mut problems = common::family_lists(
        "node_exporter",
        &common::names(&p.theirs),
        &common::names(&p.ours),
        THEIRS_ONLY,
        OURS_ONLY,
        not_host,
    );
    let (values, compared) = common::differential(
        "node_exporter",
        &p.theirs,
        &p.ours,
        SLACK,
        NOT_COMPARED,
        |n| not_host(n) || THEIRS_ONLY.iter().any(|(t, _)| *t == n),
    );
    problems.extend(values);
    // Every collector both run that works for node_exporter works for us.
    let ours = by_collector(&p.ours[0]);
    for (collector, theirs) in by_collector(&p.theirs[0]) {
        if let Some(o) = ours.get(&collector)
            && theirs == 1.0
            && *o != 1.0
        {
            problems.push(format!(
                "collector {collector}: success {o}, node_exporter's 1"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(compared >= 300, "only {compared} series compared");
    let cpus = p.ours[0]["node_cpu_seconds_total"].samples.len();
    assert!(cpus >= 8, "node_cpu_seconds_total: {cpus} series");

    // Dashboard 1860: of the names it queries that node_exporter exposes here, we
    // expose at least 95%.
    let Some(shared) = e2e::shared_dir() else {
        return;
    };
    let list =
        std::fs::read_to_string(shared.join("anchors/metrics/node-exporter-full-1860.metrics.txt"))
            .unwrap();
    let names = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect()
    };
    let (ours, theirs) = (names(&p.ours_text), names(&p.theirs_text));
    let wanted: BTreeSet<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let exposed_by_them: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|n| theirs.contains(*n))
        .collect();
    let lacking: Vec<&str> = exposed_by_them
        .iter()
        .copied()
        .filter(|n| !ours.contains(*n))
        .collect();
    let covered = exposed_by_them.len() - lacking.len();
    let pct = 100.0 * covered as f64 / exposed_by_them.len() as f64;
    assert!(
        pct >= 95.0,
        "dashboard 1860: only {pct:.1}% of the names node_exporter exposes here; lacking: {lacking:?}"
    );
}

#[tokio::test]
async fn promtool_finds_nothing_node_exporter_does_not() {
    let Some(promtool) = e2e::require("promtool", "lints the exposition") else {
        return;
    };
    let Some(p) = scrape_both().await else { return };
    let theirs = common::promtool_problems(&promtool, &p.theirs_text);
    // Problems are reported per metric name; node_exporter's camelCase compatible names
    // (node_memory_Active_bytes, node_netstat_Tcp_InSegs) are linted in both.
    let theirs_names: BTreeSet<String> = theirs
        .iter()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let ours = common::promtool_problems(&promtool, &p.ours_text);
    let extra: Vec<&String> = ours
        .iter()
        .filter(|l| {
            let name = l.split_whitespace().next().unwrap_or("");
            let camel = l.contains("camelCase")
                && (name.starts_with("node_memory_")
                    || name.starts_with("node_netstat_")
                    || name.starts_with("node_sockstat_"));
            // cAdvisor's name and type: a counter without `_total`.
            let cadvisor = name == "container_memory_failcnt";
            !theirs_names.contains(name) && !camel && !cadvisor
        })
        .collect();
    assert!(
        extra.is_empty(),
        "promtool problems node_exporter does not have:\n{extra:#?}"
    );
}
