//! `node_filesystem_*` from the mount table and statfs(2), with node_exporter's default
//! mount-point and fs-type exclusions.
//!
//! statfs on a dead NFS server blocks in the kernel. node_exporter hung there and
//! leaked file descriptors (#244, #475, #868); here each statfs runs on the blocking
//! pool under a timeout, and a mount that timed out is skipped (reported with
//! `device_error 1`) until its stuck call returns.

use std::path::Path;

use regex_lite::Regex;
use serde::Deserialize;

use crate::setting::{Problems, pick};

/// node_exporter 1.x defaults.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

#[derive(clap::Args, Debug, Default, Clone)]
#[group(id = "filesystem_flags")]
pub struct Flags {
    /// Regexp of mount points to exclude for the filesystem collector.
    #[arg(
        long = "collector.filesystem.mount-points-exclude",
        value_name = "REGEX"
    )]
    pub mount_points_exclude: Option<String>,
    /// Regexp of filesystem types to exclude for the filesystem collector.
    #[arg(long = "collector.filesystem.fs-types-exclude", value_name = "REGEX")]
    pub fs_types_exclude: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub mount_points_exclude: Option<String>,
    pub fs_types_exclude: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub mount_points_exclude: Regex,
    pub fs_types_exclude: Regex,
}

impl Config {
    pub fn validate(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
        problems: &mut Problems,
    ) -> Config {
        let mut regex = |flag_val: Option<String>,
                         flag: &'static str,
                         file_val: Option<String>,
                         key: &str,
                         default: &str| {
            match pick(flag_val, flag, file_val, key, path) {
                Some((text, origin)) => crate::setting::regex(&text, &origin, problems),
                None => None,
            }
            .unwrap_or_else(|| Regex::new(default).expect("built-in regex is valid"))
        };
        Config {
            mount_points_exclude: regex(
                flags.mount_points_exclude.clone(),
                "collector.filesystem.mount-points-exclude",
                raw.mount_points_exclude,
                "filesystem.mount_points_exclude",
                DEFAULT_MOUNT_POINTS_EXCLUDE,
            ),
            fs_types_exclude: regex(
                flags.fs_types_exclude.clone(),
                "collector.filesystem.fs-types-exclude",
                raw.fs_types_exclude,
                "filesystem.fs_types_exclude",
                DEFAULT_FS_TYPES_EXCLUDE,
            ),
        }
    }
}

// ---------------------------------------------------------------- collector

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

/// How long one statfs may take before its mount is reported as failed and skipped.
/// Kept well under the collector timeout so a stuck mount is recorded before the
/// scrape gives up on the whole collector.
pub const DEFAULT_MOUNT_TIMEOUT: Duration = Duration::from_secs(1);

/// The numbers statfs(2) gives for one mount, in bytes and inodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsStats {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// The statfs call; a test substitutes one that hangs.
pub type StatFn = Arc<dyn Fn(&std::path::Path) -> std::io::Result<FsStats> + Send + Sync>;

/// statfs(2) through rustix; blocks as long as the kernel does.
pub fn statfs(path: &std::path::Path) -> std::io::Result<FsStats> {
    let s = rustix::fs::statfs(path)?;
    let bsize = s.f_bsize as f64;
    Ok(FsStats {
        size: s.f_blocks as f64 * bsize,
        free: s.f_bfree as f64 * bsize,
        avail: s.f_bavail as f64 * bsize,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
    })
}

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
}

pub struct Filesystem {
    paths: HostPaths,
    excludes: Arc<(super::CachedRegex, super::CachedRegex)>,
    mount_timeout: Duration,
    statfs: StatFn,
    /// Mount points whose statfs has not returned yet; skipped until it does.
    stuck: Arc<Mutex<HashSet<String>>>,
}

/// Built from the host paths, this section and the scrape's per-collector budget (a
/// stuck statfs must be recorded before the whole collector times out).
pub fn build(
    paths: &HostPaths,
    cfg: &Config,
    collector_timeout: Duration,
) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Filesystem::new(
        paths.clone(),
        cfg.clone(),
        DEFAULT_MOUNT_TIMEOUT.min(collector_timeout / 2),
        Arc::new(statfs),
    )))
}

impl Filesystem {
    pub fn new(paths: HostPaths, cfg: Config, mount_timeout: Duration, statfs: StatFn) -> Self {
        Self {
            paths,
            excludes: Arc::new((
                super::CachedRegex::new(cfg.mount_points_exclude),
                super::CachedRegex::new(cfg.fs_types_exclude),
            )),
            mount_timeout,
            statfs,
            stuck: Arc::default(),
        }
    }

    /// Mount points currently skipped because an earlier statfs has not returned.
    pub fn stuck_mounts(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.stuck).iter().cloned().collect();
        v.sort();
        v
    }

    fn mounts(
        paths: &HostPaths,
        excludes: &(super::CachedRegex, super::CachedRegex),
    ) -> anyhow::Result<Vec<Mount>> {
        // node_exporter reads PID 1's mount table: the host's when /proc is the host's.
        let primary = paths.proc("1/mounts");
        let text = super::read_small(&primary)
            .or_else(|_| super::read_small(paths.proc("self/mounts")))
            .map_err(|e| anyhow::anyhow!("read {}: {e}", primary.display()))?;
        let mut seen = HashSet::new();
        Ok(parse_mounts(&text)
            .into_iter()
            .map(|mut m| {
                m.mount_point = strip_rootfs(&paths.rootfs, &m.mount_point);
                m
            })
            .filter(|m| !excludes.0.is_match(&m.mount_point) && !excludes.1.is_match(&m.fs_type))
            // Two identical label sets would make the exposition invalid.
            .filter(|m| seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())))
            .collect())
    }

    /// statfs under the mount timeout on the blocking pool. On timeout the mount is
    /// marked stuck; the blocking call unmarks it whenever it finally returns.
    async fn stat_bounded(&self, mount_point: String) -> Result<FsStats, String> {
        if lock(&self.stuck).contains(&mount_point) {
            return Err("still waiting for an earlier statfs; skipped".into());
        }
        let done = Arc::new(AtomicBool::new(false));
        let target = self.host_path(&mount_point);
        let task = {
            let (statfs, stuck, done, mp) = (
                self.statfs.clone(),
                self.stuck.clone(),
                done.clone(),
                mount_point.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let r = statfs(&target);
                let mut s = lock(&stuck);
                done.store(true, Ordering::SeqCst);
                if s.remove(&mp) {
                    tracing::info!(mount_point = %mp, "mount answers statfs again");
                }
                r
            })
        };
        match tokio::time::timeout(self.mount_timeout, task).await {
            Ok(Ok(Ok(stats))) => Ok(stats),
            Ok(Ok(Err(e))) => Err(format!("statfs: {e}")),
            Ok(Err(e)) => Err(format!("statfs task: {e}")),
            Err(_) => {
                let mut s = lock(&self.stuck);
                if !done.load(Ordering::SeqCst) {
                    s.insert(mount_point.clone());
                    tracing::warn!(
                        mount_point = %mount_point,
                        timeout = ?self.mount_timeout,
                        "statfs timed out; skipping this mount until it answers"
                    );
                }
                Err("statfs timed out".into())
            }
        }
    }

    fn host_path(&self, mount_point: &str) -> PathBuf {
        self.paths.rootfs.join(mount_point.trim_start_matches('/'))
    }

    async fn collect_all(&self) -> CollectResult {
        // Reading the mount table never blocks; only statfs can.
        let mounts = Self::mounts(&self.paths, &self.excludes)?;
        let stats = futures::future::join_all(
            mounts
                .iter()
                .map(|m| self.stat_bounded(m.mount_point.clone())),
        )
        .await;

        let names = [
            ("node_filesystem_size_bytes", "Filesystem size in bytes."),
            (
                "node_filesystem_free_bytes",
                "Filesystem free space in bytes.",
            ),
            (
                "node_filesystem_avail_bytes",
                "Filesystem space available to non-root users in bytes.",
            ),
            ("node_filesystem_files", "Filesystem total file nodes."),
            (
                "node_filesystem_files_free",
                "Filesystem total free file nodes.",
            ),
        ];
        let mut fams: Vec<Family> = names.iter().map(|(n, h)| Family::gauge(*n, *h)).collect();
        let mut readonly =
            Family::gauge("node_filesystem_readonly", "Filesystem read-only status.");
        let mut device_error = Family::gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        );
        for (m, st) in mounts.iter().zip(stats) {
            let labels = [
                ("device", m.device.as_str()),
                ("fstype", m.fs_type.as_str()),
                ("mountpoint", m.mount_point.as_str()),
            ];
            device_error.push(labels, if st.is_ok() { 0.0 } else { 1.0 });
            readonly.push(labels, if m.read_only { 1.0 } else { 0.0 });
            match st {
                Ok(s) => {
                    for (fam, v) in
                        fams.iter_mut()
                            .zip([s.size, s.free, s.avail, s.files, s.files_free])
                    {
                        fam.push(labels, v);
                    }
                }
                Err(e) => {
                    tracing::debug!(mount_point = %m.mount_point, error = %e, "filesystem skipped");
                }
            }
        }
        fams.push(device_error);
        fams.push(readonly);
        Ok(fams)
    }
}

impl Collector for Filesystem {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(self.collect_all())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A container that sees the host's root at `--path.rootfs=/host` lists host mounts as
/// `/host/boot`; like node_exporter, report them as `/boot` (statfs then goes to
/// rootfs + `/boot`, the same place).
pub fn strip_rootfs(rootfs: &std::path::Path, mount_point: &str) -> String {
    let root = rootfs.to_string_lossy();
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return mount_point.to_string();
    }
    match mount_point.strip_prefix(root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => mount_point.to_string(),
    }
}

/// /proc/<pid>/mounts: `device mountpoint fstype options 0 0`, with spaces and other
/// special characters octal-escaped (`\040`).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (device, mount_point, fs_type, options) =
                (f.next()?, f.next()?, f.next()?, f.next()?);
            Some(Mount {
                device: unescape(device),
                mount_point: unescape(mount_point),
                fs_type: fs_type.to_string(),
                read_only: options.split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_rootfs_prefix_like_node_exporter() {
        let host = std::path::Path::new("/host");
        assert_eq!(strip_rootfs(host, "/host/boot"), "/boot");
        assert_eq!(strip_rootfs(host, "/host"), "/");
        assert_eq!(strip_rootfs(host, "/hostname"), "/hostname");
        assert_eq!(strip_rootfs(std::path::Path::new("/"), "/boot"), "/boot");
    }

    #[test]
    fn parses_mounts_with_escapes_and_ro() {
        let m = parse_mounts(
            "/dev/vda / ext4 rw,relatime 0 0\n/dev/sdb /mnt/my\\040disk vfat ro,noatime 0 0\n",
        );
        assert_eq!(m[1].mount_point, "/mnt/my disk");
        assert!(m[1].read_only);
        assert!(!m[0].read_only);
    }
}
