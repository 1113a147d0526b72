//! Side by side with Debian's prometheus-node-exporter on this machine: same family
//! names, types and label names; stable values equal; CPU seconds within 2%; and
//! coverage of the metric names dashboard 1860 queries.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use common::{Exporter, Fam, parse, scrape};
use e2e::ChildGuard;

struct Pair {
    ours: BTreeMap<String, Fam>,
    theirs: BTreeMap<String, Fam>,
    ours_text: String,
    theirs_text: String,
}

async fn scrape_both() -> Option<Pair> {
    let bin = e2e::require(
        "prometheus-node-exporter",
        "the exporter is compared with the real node_exporter",
    )?;
    let port = e2e::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _ne = ChildGuard::spawn("node_exporter", &mut cmd, &dir.path().join("ne.log"));
    e2e::wait_port(port, Duration::from_secs(10));
    let ours = Exporter::start(&[]);
    let theirs_url = format!("http://127.0.0.1:{port}/metrics");
    // Warm both up once so lazily-initialised state does not skew the comparison.
    let ours_url = ours.url();
    let _ = tokio::join!(scrape(&ours_url), scrape(&theirs_url));
    let (ours_text, theirs_text) = tokio::join!(scrape(&ours_url), scrape(&theirs_url));
    Some(Pair {
        ours: parse(&ours_text),
        theirs: parse(&theirs_text),
        ours_text,
        theirs_text,
    })
}

fn value(f: &BTreeMap<String, Fam>, fam: &str) -> f64 {
    let s = &f[fam].samples;
    assert_eq!(s.len(), 1, "{fam}: expected one sample");
    *s.values().next().unwrap()
}

#[tokio::test]
async fn matches_node_exporter_side_by_side() {
    let Some(p) = scrape_both().await else { return };

    // Families node_exporter has that we lack (its own Go/promhttp internals aside).
    let missing: Vec<&String> = p
        .theirs
        .keys()
        .filter(|n| !p.ours.contains_key(*n))
        .filter(|n| !n.starts_with("go_") && !n.starts_with("promhttp_"))
        .collect();
    println!(
        "families node_exporter has that we lack ({}): {missing:?}",
        missing.len()
    );

    // Same type and label names for every common family.
    let mut mismatches = Vec::new();
    for (name, theirs) in &p.theirs {
        let Some(ours) = p.ours.get(name) else {
            continue;
        };
        if ours.kind != theirs.kind {
            mismatches.push(format!(
                "{name}: type {} vs node_exporter's {}",
                ours.kind, theirs.kind
            ));
        }
        if !ours.samples.is_empty()
            && !theirs.samples.is_empty()
            && ours.label_names() != theirs.label_names()
        {
            mismatches.push(format!(
                "{name}: labels {:?} vs node_exporter's {:?}",
                ours.label_names(),
                theirs.label_names()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );

    // Stable values are equal.
    for fam in [
        "node_memory_MemTotal_bytes",
        "node_memory_SwapTotal_bytes",
        "node_boot_time_seconds",
        "node_filefd_maximum",
        "node_entropy_pool_size_bits",
    ] {
        assert_eq!(value(&p.ours, fam), value(&p.theirs, fam), "{fam}");
    }
    let cpus = |f: &BTreeMap<String, Fam>| -> BTreeSet<String> {
        f["node_cpu_seconds_total"]
            .samples
            .keys()
            .filter_map(|(_, l)| l.iter().find(|(k, _)| k == "cpu").map(|(_, v)| v.clone()))
            .collect()
    };
    assert_eq!(cpus(&p.ours), cpus(&p.theirs), "CPU count");
    assert!(!cpus(&p.ours).is_empty());

    // Filesystem sizes of every mount both report.
    for fam in [
        "node_filesystem_size_bytes",
        "node_filesystem_files",
        "node_filesystem_readonly",
    ] {
        let theirs = &p.theirs[fam].samples;
        let mut common = 0;
        for (key, v) in &p.ours[fam].samples {
            if let Some(t) = theirs.get(key) {
                assert_eq!(v, t, "{fam} {key:?}");
                common += 1;
            }
        }
        assert!(common > 0, "{fam}: no mount in common");
    }
    // Network interfaces and their MTUs.
    let mtu = "node_network_mtu_bytes";
    for (key, v) in &p.theirs[mtu].samples {
        assert_eq!(p.ours[mtu].samples.get(key), Some(v), "{mtu} {key:?}");
    }

    // Counters scraped together agree within 2% (plus 0.1 s for ticks between the two reads).
    let cpu = "node_cpu_seconds_total";
    for (key, t) in &p.theirs[cpu].samples {
        let o = p.ours[cpu].samples[key];
        let tolerance = 0.02 * t.max(o) + 0.1;
        assert!(
            (o - t).abs() <= tolerance,
            "{key:?}: ours {o} vs node_exporter {t}"
        );
    }

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
    println!(
        "dashboard 1860: we expose {covered} of the {} names node_exporter exposes here ({pct:.1}%); lacking: {lacking:?}",
        exposed_by_them.len()
    );
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
            !theirs_names.contains(name) && !camel
        })
        .collect();
    assert!(
        extra.is_empty(),
        "promtool problems node_exporter does not have:\n{extra:#?}"
    );
}
