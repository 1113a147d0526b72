//! rules/ unit tests and deliberately failing fixtures, run through Debian's
//! `promtool test rules` and `alerter test-rules`: the verdicts must agree, rules/ must pass,
//! and every `fail_*` fixture must fail (so the comparison can fail).

use std::path::{Path, PathBuf};
use std::process::Command;

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_test.yml"))
        .collect();
    v.sort();
    v
}

fn verdict(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn verdicts_match_promtool() {
    let root = e2e::workspace_root();
    let rules_tests = test_files(&root.join("rules").join("tests"));
    let fixtures = test_files(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("rules_fixtures"),
    );
    assert!(
        rules_tests.len() >= 6,
        "rules/tests has the unit tests of every group"
    );
    let promtool = e2e::require(
        "promtool",
        "Debian's prometheus package, to compare verdicts",
    );
    let alerter = env!("CARGO_BIN_EXE_alerter");
    let mut problems = Vec::new();
    for f in rules_tests.iter().chain(&fixtures) {
        let dir = f.parent().expect("dir");
        let name = f.file_name().expect("name");
        let (ours, our_out) = verdict(
            Command::new(alerter)
                .arg("test-rules")
                .arg(name)
                .current_dir(dir),
        );
        let expect_pass = !name.to_string_lossy().starts_with("fail_");
        if ours != expect_pass {
            problems.push(format!(
                "{}: alerter passed={ours}, expected {expect_pass}\n{our_out}",
                f.display()
            ));
        }
        if let Some(p) = &promtool {
            let (theirs, their_out) = verdict(
                Command::new(p)
                    .args(["test", "rules"])
                    .arg(name)
                    .current_dir(dir),
            );
            if theirs != ours {
                problems.push(format!(
                    "{}: promtool passed={theirs}, alerter passed={ours}\n--- promtool:\n{their_out}\n--- alerter:\n{our_out}",
                    f.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn broken_rule_files_name_file_line_and_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("rules_fixtures");
    let cases = [
        ("bad_yaml.rules.yml", ":5: invalid rule file"),
        (
            "bad_function.rules.yml",
            ":5: alert \"X\": could not parse expression: unknown function",
        ),
        (
            "bad_arity.rules.yml",
            ":5: alert \"X\": could not parse expression: expected 1 argument(s)",
        ),
        (
            "bad_template.rules.yml",
            ":7: alert \"X\": annotation summary: template:",
        ),
        (
            "bad_duplicate_group.rules.yml",
            ":6: groupname: \"a\" is repeated",
        ),
    ];
    for (file, want) in cases {
        let errs = alerter::rules::load_file(&dir.join(file)).expect_err(file);
        let text = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains(&format!("{file}{want}")), "{file}: {text}");
        // test-rules shows the same message.
        let (ok, out) = verdict(
            Command::new(env!("CARGO_BIN_EXE_alerter"))
                .arg("test-rules")
                .arg(format!(
                    "fail_{}_test.yml",
                    file.trim_end_matches(".rules.yml")
                ))
                .current_dir(&dir),
        );
        assert!(
            !ok && out.contains(&format!("{file}{want}")),
            "{file}: {out}"
        );
    }
}

#[test]
fn check_rule_files_for_check_config() {
    let root = e2e::workspace_root();
    let (groups, rules) =
        alerter::rules::cli::check_rule_files(&root, &["rules/*.yml".to_string()])
            .expect("rules/ is valid");
    assert_eq!(groups, 6);
    assert!(rules >= 19, "{rules} rules");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("rules_fixtures");
    let errs = alerter::rules::cli::check_rule_files(
        &fixtures,
        &["bad_*.rules.yml".to_string(), "none*.yml".to_string()],
    )
    .expect_err("broken files");
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert!(
        errs[0].contains("\"none*.yml\" matches no file"),
        "{errs:#?}"
    );
}

/// Rule-file durations follow Prometheus's grammar, and a bad one is refused in promtool's
/// words (`not a valid duration string: "5"`), checked against Debian's promtool when present.
#[test]
fn bad_durations_are_refused_in_promtools_words() {
    let cases: &[(&str, Option<&str>)] = &[
        ("5m", None),
        ("1h30m", None),
        ("0", None),
        ("2w", None),
        ("5", Some("not a valid duration string: \"5\"")),
        ("1m5h", Some("not a valid duration string: \"1m5h\"")),
        (" 5m", Some("not a valid duration string: \" 5m\"")),
        ("-1m", Some("not a valid duration string: \"-1m\"")),
        ("300y", Some("duration out of range")),
        ("", Some("empty duration string")),
    ];
    let promtool = e2e::require(
        "promtool",
        "Debian's prometheus package, to compare duration errors",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("d.rules.yml");
    for (text, want) in cases {
        let yaml = format!(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: {}\n",
            yaml_quoted(text)
        );
        std::fs::write(&file, &yaml).expect("write rule file");
        let ours = alerter::rules::load_file(&file).map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        });
        match (want, &ours) {
            (None, Ok(_)) => {}
            (Some(w), Err(e)) => assert!(e.contains(w), "for: {text:?}: {e}"),
            _ => panic!("for: {text:?}: expected {want:?}, got {ours:?}"),
        }
        if let Some(p) = &promtool {
            let (ok, out) = verdict(Command::new(p).args(["check", "rules"]).arg(&file));
            assert_eq!(ok, want.is_none(), "promtool on for: {text:?}: {out}");
            if let (Some(w), Err(e)) = (want, &ours) {
                assert!(
                    out.contains(w),
                    "for: {text:?}: promtool says {out}, we say {e}"
                );
            }
        }
    }
}

fn yaml_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Issue 16: a group spanning 100 days of 1m samples runs in seconds (each series'
/// labels are held once, not per sample: 221 MB → 30 MB RSS on this file).
#[test]
fn a_hundred_days_of_samples_runs_in_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules_fixtures");
    std::fs::copy(
        fixtures.join("keep_firing.rules.yml"),
        dir.path().join("keep_firing.rules.yml"),
    )
    .expect("copy rules");
    std::fs::write(
        dir.path().join("long_test.yml"),
        "rule_files: [keep_firing.rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'up{job=\"a\"}'\n        values: \"1+0x144000\"\n      - series: s\n        values: \"0+1x144000\"\n    promql_expr_test:\n      - expr: s\n        eval_time: 100d\n        exp_samples:\n          - labels: '{__name__=\"s\"}'\n            value: 144000\n",
    )
    .expect("write test");
    let start = std::time::Instant::now();
    let (ok, out) = verdict(
        Command::new(env!("CARGO_BIN_EXE_alerter"))
            .args(["test-rules", "long_test.yml"])
            .current_dir(dir.path()),
    );
    assert!(ok, "{out}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// Test-file keys that promtool 2.42 does not know (it refuses each by name) but 3.x does:
/// `fuzzy_compare` is honoured (a last-bit difference passes with it, fails without);
/// `start_timestamp` and `exp_samples[].histogram` are refused by name. And a group without
/// `interval` uses `evaluation_interval`, as 3.x documents (2.42 puts every sample at 0).
#[test]
fn keys_only_in_promtool_3_are_honoured_or_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n- name: g\n  rules:\n  - record: s2\n    expr: s * 2\n",
    )
    .expect("write rules");
    let expr_test = |top: &str, group: &str, expr: &str, sample: &str| {
        format!(
            "rule_files: [r.yml]\n{top}tests:\n- {group}input_series:\n  - series: s\n    values: '0.1 1 2'\n  promql_expr_test:\n  - expr: '{expr}'\n    eval_time: 1m\n    exp_samples:\n    - {sample}\n"
        )
    };
    let cases: &[(&str, String, Result<(), &str>)] = &[
        (
            "no_fuzzy",
            expr_test("", "interval: 1m\n  ", "s offset 1m + 0.2", "value: 0.3"),
            Err("0.30000000000000004"),
        ),
        (
            "fuzzy",
            expr_test(
                "fuzzy_compare: true\n",
                "interval: 1m\n  ",
                "s offset 1m + 0.2",
                "value: 0.3",
            ),
            Ok(()),
        ),
        (
            "start_timestamp",
            expr_test("", "start_timestamp: 0\n  ", "s", "value: 1"),
            Err("start_timestamp"),
        ),
        (
            "histogram",
            expr_test("", "interval: 1m\n  ", "s", "histogram: '{{count:1}}'"),
            Err("histogram"),
        ),
        (
            "interval_default",
            expr_test(
                "evaluation_interval: 30s\n",
                "",
                "s",
                "{labels: s, value: 2}",
            ),
            Ok(()),
        ),
    ];
    let promtool = e2e::require("promtool", "Debian's promtool 2.42 refuses 3.x keys");
    for (name, text, want) in cases {
        let file = format!("{name}_test.yml");
        std::fs::write(dir.path().join(&file), text).expect("write test");
        let (ok, out) = verdict(
            Command::new(env!("CARGO_BIN_EXE_alerter"))
                .arg("test-rules")
                .arg(&file)
                .current_dir(dir.path()),
        );
        match want {
            Ok(()) => assert!(ok, "{name}: {out}"),
            Err(w) => assert!(!ok && out.contains(w), "{name}: wanted {w:?}: {out}"),
        }
        if let (Some(p), "start_timestamp" | "histogram" | "fuzzy") = (&promtool, *name) {
            let (ok, out) = verdict(
                Command::new(p)
                    .args(["test", "rules"])
                    .arg(&file)
                    .current_dir(dir.path()),
            );
            let key = if *name == "fuzzy" {
                "fuzzy_compare"
            } else {
                name
            };
            assert!(!ok && out.contains(key), "promtool on {name}: {out}");
        }
    }
}
