//! Host collectors, node_exporter-compatible: one file per sub-collector, each a pure
//! parser over a procfs/sysfs file's text plus a thin reader. Paths come from
//! `--path.procfs` / `--path.sysfs` / `--path.rootfs`, so the fixture tree in
//! `tests/fixtures/` (and a host mounted into a container) work unchanged.

use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::collector::{CollectResult, Collector};
use crate::config::{Config, HostPaths};
use crate::metrics::Family;

pub mod cpu;
pub mod diskstats;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod net;
pub mod simple;
pub mod stat;
pub mod system;
pub mod textfile;

/// A host collector whose work is a synchronous read of procfs/sysfs files.
/// `collect` runs it on the blocking pool, so the scrape's timeout can give up on it.
pub struct Blocking {
    name: &'static str,
    paths: HostPaths,
    read: fn(&HostPaths) -> CollectResult,
}

impl Blocking {
    pub fn arc(
        name: &'static str,
        cfg: &Config,
        read: fn(&HostPaths) -> CollectResult,
    ) -> Arc<dyn Collector> {
        Arc::new(Blocking {
            name,
            paths: cfg.paths.clone(),
            read,
        })
    }
}

impl Collector for Blocking {
    fn name(&self) -> &'static str {
        self.name
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        let paths = self.paths.clone();
        let read = self.read;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read(&paths))
                .await
                .map_err(|e| anyhow::anyhow!("collector task failed: {e}"))?
        })
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))
}

/// Reads a one-line sysfs/procfs value, trimmed; `None` when missing or unreadable.
pub fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Parses a number that must be there, naming the field in the error.
pub fn num(field: &str, what: &str) -> anyhow::Result<f64> {
    field
        .parse::<f64>()
        .map_err(|_| anyhow::anyhow!("{what}: expected a number, got {field:?}"))
}

/// Shorthand for a family with one sample.
pub fn gauge1(name: &str, help: &str, v: f64) -> Family {
    Family::gauge(name, help).single(v)
}
