//! Row "clock jump ±1 h": the alerter runs under libfaketime (Debian's `faketime`)
//! with the wall clock read from a file the test rewrites while the process runs
//! (`FAKETIME_TIMESTAMP_FILE`, `FAKETIME_NO_CACHE=1`); the monotonic clock, which
//! the timers use, is left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`). With
//! repeat_interval 2h: a jump of +1 h and one of -1 h re-send nothing, and a new
//! alert is still notified at once after each; a jump past the repeat interval
//! re-sends each group exactly once, not in a burst.
//!
//! libfaketime works by LD_PRELOAD, and our binaries link glibc statically
//! (.cargo/config.toml), so this row runs a dynamically linked build of the same
//! source, made here with cargo in `<target>/faketime`. CI pays that build from a
//! clean clone on every run, so it is made as cheap as cargo allows: only the
//! alerter binary, no debuginfo (most of the size and the link time) and no
//! incremental cache (never reused in CI, and it doubles the directory).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::{WebhookSink, wait_for};

use crate::daemon::{Alerter, alert};

const GROUPS: usize = 5;

/// libfaketime's multi-threaded build, which the `faketime` package installs.
fn libfaketime() -> Option<PathBuf> {
    e2e::require(
        "faketime",
        "the clock-jump row runs the alerter under libfaketime",
    )?;
    let found = std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1")])
        .find(|p| p.is_file());
    if found.is_none() {
        let msg = "faketime is installed but libfaketimeMT.so.1 is not under /usr/lib";
        assert!(!e2e::under_ci(), "{msg}");
        eprintln!("SKIP: {msg}");
    }
    found
}

/// The alerter linked dynamically, so that LD_PRELOAD reaches its clock calls.
fn dynamic_alerter() -> PathBuf {
    let static_bin = Path::new(env!("CARGO_BIN_EXE_alerter"));
    let profile_dir = static_bin.parent().expect("profile dir");
    let triple_dir = profile_dir.parent().expect("target triple dir");
    let target_dir = triple_dir.parent().expect("target dir").join("faketime");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--locked", "-p", "alerter", "--bin", "alerter"]);
    if profile_dir.ends_with("release") {
        cargo.arg("--release");
    }
    let out = cargo
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=-crt-static")
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_INCREMENTAL", "0")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build of the dynamically linked alerter: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target_dir
        .join(triple_dir.file_name().expect("triple"))
        .join(profile_dir.file_name().expect("profile"))
        .join("alerter");
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

fn set_offset(file: &Path, offset: &str) {
    // Written whole and renamed: the process rereads the file at every clock read.
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, format!("{offset}\n")).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// Notifications per group so far.
fn per_group(sink: &WebhookSink) -> std::collections::BTreeMap<String, usize> {
    let mut per = std::collections::BTreeMap::new();
    for n in sink.received() {
        let g = n["groupLabels"]["alertname"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *per.entry(g).or_default() += 1;
    }
    per
}

/// Waits until every group has been flushed `ticks` more times (each flush asks
/// the notification log once): the positive signal that the timers ran.
fn wait_ticks(a: &Alerter, ticks: u32) {
    let queries = || a.metric("alertmanager_nflog_queries_total").unwrap_or(0.0);
    let groups = a
        .metric("alertmanager_dispatcher_aggregation_groups")
        .unwrap_or(0.0);
    let want = queries() + f64::from(ticks) * groups;
    wait_for("the group timers to tick", Duration::from_secs(20), || {
        (queries() >= want).then_some(())
    });
}

#[test]
fn clock_jumps_cause_no_burst_of_re_sends() {
    let Some(lib) = libfaketime() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let clock = dir.path().join("faketime");
    set_offset(&clock, "+0");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2h
receivers:
- name: hook
  webhook_configs:
  - url: {}
    send_resolved: false
",
            sink.url()
        ),
    )
    .unwrap();
    let bin = dynamic_alerter();
    let a = Alerter::start_bin(
        &bin,
        &config,
        &dir.path().join("data"),
        &dir.path().join("alerter.log"),
        |cmd| {
            cmd.env("LD_PRELOAD", &lib)
                .env("FAKETIME_TIMESTAMP_FILE", &clock)
                .env("FAKETIME_NO_CACHE", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        },
    );
    // The process really runs on the file's clock: an alert without startsAt
    // starts at the alerter's now.
    set_offset(&clock, "+60m");
    let mut probe = alert("ClockProbe", 6);
    probe.as_object_mut().unwrap().remove("startsAt");
    a.post_alerts(&[probe]);
    set_offset(&clock, "+0");
    let alerts = e2e::get_json(a.port, "/api/v2/alerts").unwrap();
    let starts = alerts[0]["startsAt"].as_str().unwrap();
    let ahead = chrono::DateTime::parse_from_rfc3339(starts)
        .unwrap()
        .signed_duration_since(chrono::Utc::now());
    assert!(
        ahead.num_minutes() > 50,
        "libfaketime did not move the alerter's clock: startsAt {starts}"
    );

    // Alerts last 6 h of real time, longer than any jump below.
    let names: Vec<String> = (0..GROUPS).map(|i| format!("Jump{i}")).collect();
    for n in &names {
        a.post_alerts(&[alert(n, 6)]);
    }
    wait_for("every group notified", Duration::from_secs(10), || {
        (per_group(&sink).len() == GROUPS + 1).then_some(())
    });
    let mut resends = Vec::new();
    for (offset, probe) in [("+60m", "AfterForward"), ("-60m", "AfterBackward")] {
        let before = sink.received().len();
        set_offset(&clock, offset);
        wait_ticks(&a, 3);
        let resent = sink.received().len() - before;
        // Timers sane: a new group is notified at once (group_wait 0s).
        a.post_alerts(&[alert(probe, 6)]);
        wait_for(probe, Duration::from_secs(5), || {
            per_group(&sink).contains_key(probe).then_some(())
        });
        resends.push(resent);
    }
    assert_eq!(resends, [0, 0], "re-sent after a jump of +1 h / -1 h");

    // Past the repeat interval (2 h after the first sends): each group once more.
    let before = per_group(&sink);
    set_offset(&clock, "+121m");
    wait_ticks(&a, 3);
    // Counting queries does not pin each group's own ticks: wait for every re-send
    // (a group left out for good fails here), then check nothing more comes.
    let after = wait_for("every group re-sent", Duration::from_secs(30), || {
        let after = per_group(&sink);
        names.iter().all(|n| after[n] > before[n]).then_some(after)
    });
    for n in &names {
        assert_eq!(after[n], before[n] + 1, "{n}: {after:?}");
    }
    wait_ticks(&a, 3);
    assert_eq!(per_group(&sink), after, "a burst after the repeat");
    println!(
        "RELIABILITY clock-jump: +1 h -> {} re-sends, -1 h -> {} re-sends (repeat_interval 2h, {GROUPS} groups, 3 ticks each); new alert notified at once after each jump; +2 h 1 m -> each group re-sent exactly once",
        resends[0], resends[1]
    );
}
