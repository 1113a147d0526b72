//! Row "corrupt or truncated state file": real state (alerts, silences, the
//! notification log) is damaged between two runs: the alerts file truncated in
//! its last line (a torn tail), a garbage line in the middle of the silences file,
//! the nflog file all garbage. The alerter starts with every readable entry, keeps
//! each damaged file beside the data for a human (`<file>.corrupt-<time>`) and says
//! so in an error line naming the file. Then all three files garbage: each set
//! aside and reported, and the alerter starts empty.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use e2e::{WebhookSink, wait_for};
use serde_json::Value;

use crate::daemon::{Alerter, alert, silence};

const FILES: [&str; 3] = ["alerts", "silences", "nflog"];

/// The keys a loader can still read in `text`, latest value wins, deletes remove.
fn readable(text: &str) -> Vec<Value> {
    let mut live = std::collections::BTreeMap::new();
    for l in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(l)
            && let Some(k) = v["k"].as_str()
        {
            match v.get("v") {
                Some(v) => live.insert(k.to_string(), v.clone()),
                None => live.remove(k),
            };
        }
    }
    live.into_values().collect()
}

/// The `<file>.corrupt-*` copies in `dir`.
fn set_aside(dir: &Path, file: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{file}.corrupt-")))
        })
        .collect()
}

/// The error line about `file` that names where it was kept.
fn reported(log: &str, file: &str, aside: &Path) -> String {
    let name = aside.file_name().unwrap().to_string_lossy().into_owned();
    log.lines()
        .find(|l| l.contains(&format!("file=\"{file}\"")) && l.contains(&name))
        .unwrap_or_else(|| panic!("{file} kept as {name} without a word: {log}"))
        .to_string()
}

#[test]
fn damaged_state_files_are_set_aside_reported_and_the_rest_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let config = format!(
        "route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: {}
",
        sink.url()
    );
    let data = dir.path().join("data");
    let mut a = Alerter::start(dir.path(), &config);
    for i in 0..5 {
        a.post_alerts(&[alert(&format!("Stored{i}"), 3)]);
        let (code, text) = a
            .post("/api/v2/silences", &silence(&format!("Quiet{i}")))
            .unwrap();
        assert_eq!(code, 200, "{text}");
    }
    wait_for("every group notified", Duration::from_secs(10), || {
        (sink.received().len() >= 5).then_some(())
    });
    a.guard.kill();

    // The damage.
    let path = |f: &str| data.join(f);
    let alerts_text = std::fs::read_to_string(path("alerts")).unwrap();
    let torn = &alerts_text[..alerts_text.trim_end().len() - 10];
    std::fs::write(path("alerts"), torn).unwrap();
    let silences_text = std::fs::read_to_string(path("silences")).unwrap();
    let mut lines: Vec<&str> = silences_text.lines().collect();
    assert!(lines.len() >= 5, "{silences_text}");
    lines[2] = "{\"k\": garbage in the middle";
    let damaged = lines.join("\n") + "\n";
    std::fs::write(path("silences"), &damaged).unwrap();
    std::fs::write(path("nflog"), "\u{0}\u{1}not a log at all\n\u{7f}\n").unwrap();
    let want_alerts: BTreeSet<String> = readable(torn)
        .iter()
        .filter_map(|v| v["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    let want_silences: BTreeSet<String> = readable(&damaged)
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(want_alerts.len(), 4, "one alert torn off: {torn}");
    assert_eq!(want_silences.len(), 4, "one silence damaged");

    let sent_before = sink.received().len();
    let a = Alerter::start_with(
        &dir.path().join("alertmanager.yml"),
        &data,
        &dir.path().join("second.log"),
        |_| {},
    );
    let got_alerts: BTreeSet<String> = e2e::get_json(a.port, "/api/v2/alerts")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    assert_eq!(got_alerts, want_alerts, "the rest of the alerts");
    let got_silences: BTreeSet<String> = e2e::get_json(a.port, "/api/v2/silences")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(got_silences, want_silences, "the rest of the silences");
    let log = a.log();
    // A torn tail is what a crash leaves: dropped with a warning, nothing kept.
    assert!(set_aside(&data, "alerts").is_empty());
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("file=\"alerts\"") && l.contains("dropped")),
        "{log}"
    );
    let kept = set_aside(&data, "silences");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), damaged);
    let line = reported(&log, "silences", &kept[0]);
    assert!(
        line.contains("ERROR") && line.contains("kept the rest"),
        "{line}"
    );
    let kept = set_aside(&data, "nflog");
    assert_eq!(kept.len(), 1, "{kept:?}");
    let line = reported(&log, "nflog", &kept[0]);
    assert!(
        line.contains("ERROR") && line.contains("starting without it"),
        "{line}"
    );
    // Without its notification log the alerter cannot know what it sent: the
    // restored groups are notified again (at least once, never not at all).
    wait_for(
        "the restored groups notified",
        Duration::from_secs(10),
        || (sink.received().len() >= sent_before + want_alerts.len()).then_some(()),
    );
    let renotified = sink.received().len() - sent_before;
    drop(a);

    // Every file garbage: each set aside and reported; the alerter starts empty.
    for f in FILES {
        for old in set_aside(&data, f) {
            std::fs::remove_file(old).unwrap();
        }
        std::fs::write(path(f), "not json\nnor this\nnor this\n").unwrap();
    }
    let a = Alerter::start_with(
        &dir.path().join("alertmanager.yml"),
        &data,
        &dir.path().join("third.log"),
        |_| {},
    );
    let log = a.log();
    for f in FILES {
        let kept = set_aside(&data, f);
        assert_eq!(kept.len(), 1, "{f} was not set aside");
        let line = reported(&log, f, &kept[0]);
        assert!(line.contains("ERROR"), "{line}");
    }
    let alerts = e2e::get_json(a.port, "/api/v2/alerts").unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 0, "{alerts}");
    println!(
        "RELIABILITY corrupt-state: torn alerts tail -> {}/5 alerts loaded (the torn one dropped, warned); garbage silence line -> {}/5 loaded, damaged file kept and reported; garbage nflog -> set aside, reported, {renotified} groups notified again; all three garbage -> each set aside and reported, started empty",
        want_alerts.len(),
        want_silences.len()
    );
}
