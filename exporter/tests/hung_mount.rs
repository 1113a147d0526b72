//! A filesystem whose statfs never answers (a dead NFS server) must not hang the
//! scrape: the call is bounded, the mount is reported with `device_error 1` and skipped
//! on later scrapes until the stuck call returns. Regression for node_exporter #244,
//! #475, #868 (hung scrapes exhausting file descriptors).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use exporter::collector::Collector;
use exporter::collector::host::filesystem::{self, Filesystem, FsStats};
use exporter::exposition::{self, Format};
use exporter::scrape::Scraper;
use exporter::setting::HostPaths;

/// A gate the fake statfs of `/hung` waits on.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    calls: AtomicUsize,
}

fn setup(gate: Arc<Gate>) -> (Arc<Filesystem>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let proc_dir = dir.path().join("proc");
    std::fs::create_dir_all(proc_dir.join("1")).unwrap();
    std::fs::write(
        proc_dir.join("1/mounts"),
        "/dev/vda / ext4 rw 0 0\nnfs:/export /hung nfs4 rw 0 0\n",
    )
    .unwrap();
    let paths = HostPaths {
        procfs: proc_dir,
        sysfs: PathBuf::from("/sys"),
        rootfs: dir.path().join("rootfs"),
    };
    let statfs = move |p: &Path| -> std::io::Result<FsStats> {
        if p.ends_with("hung") {
            gate.calls.fetch_add(1, Ordering::SeqCst);
            let mut open = gate.open.lock().unwrap();
            while !*open {
                open = gate.cv.wait(open).unwrap();
            }
        }
        Ok(FsStats {
            size: 1000.0,
            free: 500.0,
            avail: 400.0,
            files: 10.0,
            files_free: 5.0,
        })
    };
    let cfg = exporter::config::Config::default().filesystem;
    let fs = Filesystem::new(paths, cfg, Duration::from_millis(200), Arc::new(statfs));
    (Arc::new(fs), dir)
}

async fn scrape_text(fs: &Arc<Filesystem>) -> String {
    let families = fs.collect().await.expect("filesystem collector succeeds");
    exposition::encode(families, Format::Text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_statfs_is_bounded_and_skipped_until_it_answers() {
    let gate = Arc::new(Gate::default());
    let (fs, _dir) = setup(gate.clone());
    let hung_err = "node_filesystem_device_error{device=\"nfs:/export\",fstype=\"nfs4\",mountpoint=\"/hung\"} 1.0";
    let hung_size =
        "node_filesystem_size_bytes{device=\"nfs:/export\",fstype=\"nfs4\",mountpoint=\"/hung\"}";

    // First scrape: the statfs never returns (the gate is shut), so only the mount
    // timeout can end it; the mount is reported as failed and the healthy one still is.
    let text = scrape_text(&fs).await;
    assert!(text.contains(hung_err), "{text}");
    assert!(!text.contains(hung_size));
    assert!(text.contains(
        "node_filesystem_size_bytes{device=\"/dev/vda\",fstype=\"ext4\",mountpoint=\"/\"} 1000.0"
    ));
    assert_eq!(fs.stuck_mounts(), ["/hung"]);

    // While stuck, the mount is skipped without another statfs call (no pile-up of
    // blocked threads, and no second wait for the timeout).
    let text = scrape_text(&fs).await;
    assert!(text.contains(hung_err));
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);

    // The server comes back: the stuck call returns, the mount is reported again.
    *gate.open.lock().unwrap() = true;
    gate.cv.notify_all();
    e2e::wait_for("the stuck statfs to return", Duration::from_secs(5), || {
        fs.stuck_mounts().is_empty().then_some(())
    });
    let text = scrape_text(&fs).await;
    assert!(text.contains(&format!("{hung_size} 1000.0")), "{text}");
    assert!(text.contains("node_filesystem_device_error{device=\"nfs:/export\",fstype=\"nfs4\",mountpoint=\"/hung\"} 0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_mount_does_not_fail_the_scrape() {
    let gate = Arc::new(Gate::default());
    let (fs, _dir) = setup(gate.clone());
    let scraper = Scraper::new(vec![fs as Arc<dyn Collector>], Duration::from_secs(5));
    let text = scraper.scrape(Format::Text).await;
    assert!(
        text.contains("node_scrape_collector_success{collector=\"filesystem\"} 1.0"),
        "{text}"
    );
    *gate.open.lock().unwrap() = true;
    gate.cv.notify_all();
    let _ = filesystem::DEFAULT_MOUNT_TIMEOUT;
}
