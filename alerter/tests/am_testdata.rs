//! `alerter check-config` gives amtool 0.25's verdict on every file of
//! Alertmanager v0.25's `config/testdata/` and `doc/examples/` (copied into
//! `tests/am_testdata/`), and where amtool refuses a file, ours names the same
//! problem.

use std::path::Path;
use std::process::Command;

fn run(program: &Path, dir: &Path, file: &str) -> (bool, String) {
    let out = Command::new(program)
        .arg("check-config")
        .arg(file)
        .current_dir(dir)
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// amtool's reason: the text after "FAILED: " on its first failing line.
fn amtool_reason(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.split_once("FAILED: ").map(|(_, r)| r.trim()))
        .unwrap_or("")
}

#[test]
fn same_verdict_as_amtool_on_alertmanagers_test_data() {
    let Some(amtool) = e2e::require("amtool", "the reference validator of alertmanager.yml") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/am_testdata");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read am_testdata")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        25,
        "24 config/testdata files and doc/examples/simple.yml"
    );
    let ours = Path::new(env!("CARGO_BIN_EXE_alerter"));
    let mut diverging = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let (am_ok, am_out) = run(&amtool, &dir, f);
        let (our_ok, our_out) = run(ours, &dir, f);
        if am_ok != our_ok {
            diverging.push(format!(
                "{f}: amtool {}, ours {}\n  amtool: {am_out}\n  ours: {our_out}",
                if am_ok { "accepts" } else { "refuses" },
                if our_ok { "accepts" } else { "refuses" },
            ));
            continue;
        }
        if am_ok {
            passed += 1;
            continue;
        }
        failed += 1;
        // The same problem: amtool's message, or for its YAML type errors
        // ("yaml: unmarshal errors:") the unknown key, with our line.
        let reason = amtool_reason(&am_out);
        let want = if reason.starts_with("yaml: unmarshal errors") {
            "unknown field"
        } else {
            reason
        };
        assert!(
            !want.is_empty() && our_out.contains(want),
            "{f}: amtool says {reason:?}, ours: {our_out}"
        );
        assert!(
            our_out.contains(f.as_str()),
            "{f}: error names the file: {our_out}"
        );
    }
    assert!(diverging.is_empty(), "{}", diverging.join("\n"));
    // Both kinds are exercised: 13 files pass and 12 fail under amtool 0.25.
    assert_eq!((passed, failed), (13, 12));
}
