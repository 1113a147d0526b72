//! Every deterministic host collector run on the captured tree in `tests/fixtures/`
//! (`--path.procfs`, `--path.sysfs`, `--path.rootfs`), compared with the whole
//! exposition in `tests/fixtures/golden.prom` and linted with promtool.
//! `UPDATE_GOLDEN=1 cargo test -p exporter --test golden` rewrites the golden file.
//!
//! Left out because they read the live system whatever the paths say: `time` (the
//! clock), `timex` and `uname` (syscalls); `filesystem` runs with a fixed statfs.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use exporter::collector::host::filesystem::{Filesystem, FsStats};
use exporter::collector::{self, Collector};
use exporter::config::{Config, Flags};
use exporter::exposition::{self, Format};
use exporter::scrape;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_config() -> Config {
    let root = fixtures();
    let flags = Flags::try_parse_from([
        "exporter".into(),
        format!("--path.procfs={}", root.join("proc").display()),
        format!("--path.sysfs={}", root.join("sys").display()),
        format!("--path.rootfs={}", root.join("rootfs").display()),
    ])
    .unwrap();
    Config::load(&flags).unwrap()
}

fn fixed_statfs(path: &Path) -> std::io::Result<FsStats> {
    let gib = 1024.0 * 1024.0 * 1024.0;
    let big = path.ends_with("data disk");
    Ok(FsStats {
        size: if big { 100.0 * gib } else { 20.0 * gib },
        free: 8.0 * gib,
        avail: 7.0 * gib,
        files: 1_310_720.0,
        files_free: 1_000_000.0,
    })
}

#[tokio::test]
async fn fixture_tree_matches_golden_output() {
    let cfg = fixture_config();
    let mut collectors: Vec<Arc<dyn Collector>> = collector::LIST
        .iter()
        .filter(|e| e.host && !["time", "timex", "uname", "filesystem"].contains(&e.name))
        .map(|e| (e.build)(&cfg.sections()).unwrap())
        .collect();
    collectors.push(Arc::new(Filesystem::new(
        cfg.paths.clone(),
        cfg.filesystem.clone(),
        Duration::from_secs(1),
        Arc::new(fixed_statfs),
    )));
    let (families, outcomes) = scrape::collect(&collectors, Duration::from_secs(5)).await;
    for o in &outcomes {
        assert!(o.error.is_none(), "{}: {:?}", o.name, o.error);
    }
    let text = exposition::encode(families, Format::Text);

    let golden = fixtures().join("golden.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden.prom (UPDATE_GOLDEN=1 writes it)");
    if text != want {
        let diff: Vec<String> = text
            .lines()
            .zip(want.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("got:  {a}\nwant: {b}"))
            .collect();
        panic!(
            "exposition differs from {} ({} vs {} lines); first differences:\n{}",
            golden.display(),
            text.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }

    // Excluded mounts and fs types stay out; the escaped mount point is decoded.
    assert!(!text.contains("mountpoint=\"/proc\""));
    assert!(
        text.contains("mountpoint=\"/run\""),
        "only /run/credentials/ is excluded"
    );
    assert!(text.contains("mountpoint=\"/mnt/data disk\""));

    if let Some(promtool) = e2e::require("promtool", "lints the golden output") {
        // node_exporter's own names draw these too (node_memory_Active_bytes is
        // camelCase, node_entropy_*_bits is not in bytes); compatibility wins.
        let problems: Vec<String> = common::promtool_problems(&promtool, &text)
            .into_iter()
            .filter(|l| !l.contains("camelCase") && !l.starts_with("node_entropy_"))
            .collect();
        assert!(problems.is_empty(), "promtool: {problems:#?}");
    }
}
