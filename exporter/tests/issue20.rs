//! Regression tests for the defects of issue 20, each named after its number there.

mod common;

use std::process::Command;
use std::time::Duration;

/// Defect 1: durations that overflow (or wrap around) are refused naming the flag
/// or key; the process does not panic.
#[test]
fn defect_01_overflowing_durations_are_errors_naming_the_flag() {
    for v in ["18446744073709551615s1s", "5124095576030432h"] {
        let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .arg(format!("--scrape.collector-timeout={v}"))
            .arg("--config.check")
            .env_remove("EXPORTER_CONFIG_FILE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{v}: {err}");
        assert!(
            err.contains("--scrape.collector-timeout") && err.contains("out of range"),
            "{v}: {err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("exporter.yml");
        std::fs::write(&f, format!("redis:\n  connect_timeout: {v}\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .arg(format!("--config.file={}", f.display()))
            .arg("--config.check")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{v}: {err}");
        assert!(
            err.contains("connect_timeout") && err.contains("out of range"),
            "{v}: {err}"
        );
    }
}

/// Defect 12: logs written to a file or pipe carry no ANSI colour codes, and
/// `--log.format=json` writes one JSON object per line.
#[test]
fn defect_12_no_colour_codes_in_a_log_file_and_json_on_request() {
    let text = common::Exporter::start(&["--collector.disable-defaults", "--collector.loadavg"]);
    let json = common::Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--log.format=json",
    ]);
    let read = |e: &common::Exporter| {
        e2e::wait_for("a log line", Duration::from_secs(10), || {
            let l = std::fs::read_to_string(e.log.path()).unwrap_or_default();
            (!l.is_empty()).then_some(l)
        })
    };
    let t = read(&text);
    assert!(!t.contains('\u{1b}'), "colour codes in a log file: {t:?}");
    let j = read(&json);
    for line in j.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(v["level"].is_string(), "{line}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["--log.format=xml", "--config.check"])
        .env_remove("EXPORTER_CONFIG_FILE")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--log.format: unknown log format \"xml\"")
    );
}
