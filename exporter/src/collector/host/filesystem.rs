//! `node_filesystem_*` from the mount table and statfs(2), with node_exporter's default
//! mount-point and fs-type exclusions.
//!
//! statfs on a dead NFS server blocks in the kernel. node_exporter hung there and
//! leaked file descriptors (#244, #475, #868); here each statfs runs on the blocking
//! pool under a timeout, and a mount that timed out is skipped (reported with
//! `device_error 1`) until its stuck call returns.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::config::{Origin, Problems, pick};

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
                Some((text, origin)) => compile(&text, &origin, problems),
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

fn compile(text: &str, origin: &Origin, problems: &mut Problems) -> Option<Regex> {
    Regex::new(text)
        .map_err(|e| problems.push(origin, format!("invalid regular expression: {e}")))
        .ok()
}
