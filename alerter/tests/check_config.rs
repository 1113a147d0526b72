//! `alerter check-config` on the good and bad config folders; each bad file's
//! error names the problem.

use std::path::Path;
use std::process::Command;

fn run(file: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run alerter");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn good_and_bad_configs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
    let (ok, out) = run(&dir.join("good/minimal.yml"));
    assert!(ok, "{out}");
    assert!(out.contains("2 receivers"), "{out}");
    for (file, expected) in [
        ("undefined_receiver.yml", "undefined receiver \"nobody\""),
        ("unknown_key.yml", "unknown field `group_wiat`"),
        ("bad_duration.yml", "route.group_wait"),
    ] {
        let (ok, out) = run(&dir.join("bad").join(file));
        assert!(!ok, "{file} accepted: {out}");
        assert!(out.contains(expected), "{file}: {out}");
    }
}

#[test]
fn agrees_with_amtool() {
    let Some(amtool) = e2e::require("amtool", "compare check-config with Alertmanager's") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
    for sub in ["good", "bad"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("read configs") {
            let path = entry.expect("entry").path();
            let am = Command::new(&amtool)
                .arg("check-config")
                .arg(&path)
                .output()
                .expect("run amtool");
            let (ours, out) = run(&path);
            assert_eq!(am.status.success(), ours, "{}: {out}", path.display());
            assert_eq!(ours, sub == "good", "{}", path.display());
        }
    }
}
