//! System identity and clock: `os` (os-release), `time` (clock and clocksources),
//! `uname` (uname(2)).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{ProcReader, gauge1, read_trimmed};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

// ---------------------------------------------------------------- os

pub fn build_os(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("os", paths, collect_os))
}

fn collect_os(p: &HostPaths) -> CollectResult {
    let candidates = [
        p.rootfs.join("etc/os-release"),
        p.rootfs.join("usr/lib/os-release"),
    ];
    for path in &candidates {
        if let Ok(text) = super::read_small(path) {
            return Ok(parse_os_release(&text));
        }
    }
    anyhow::bail!(
        "no os-release at {} or {}",
        candidates[0].display(),
        candidates[1].display()
    )
}

const OS_INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// `KEY="value"` lines into `node_os_info` and `node_os_version`.
pub fn parse_os_release(text: &str) -> Vec<Family> {
    let get = |key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .unwrap_or_default()
    };
    let mut info = Family::gauge(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
    );
    info.push(OS_INFO_LABELS.iter().map(|(l, k)| (*l, get(k))), 1.0);
    let mut version = Family::gauge(
        "node_os_version",
        "Metric containing the major.minor part of the OS version.",
    );
    let version_id = get("VERSION_ID");
    let major_minor: String = version_id.split('.').take(2).collect::<Vec<_>>().join(".");
    let v = major_minor.parse::<f64>().unwrap_or(0.0);
    version.push(
        [
            ("id", get("ID")),
            ("id_like", get("ID_LIKE")),
            ("name", get("NAME")),
        ],
        v,
    );
    vec![info, version]
}

// ---------------------------------------------------------------- time

pub fn build_time(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("time", paths, collect_time))
}

fn collect_time(p: &HostPaths) -> CollectResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| anyhow::anyhow!("system clock before 1970: {e}"))?;
    let mut out = vec![gauge1(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        now.as_secs_f64(),
    )];
    let mut zone = Family::gauge(
        "node_time_zone_offset_seconds",
        "System time zone offset in seconds.",
    );
    // The process runs in UTC unless TZ says otherwise; the offset is only reported
    // for UTC, where it is known without a time zone database.
    if std::env::var("TZ").map_or(true, |tz| tz.is_empty() || tz == "UTC" || tz == ":UTC") {
        zone.push([("time_zone", "UTC")], 0.0);
        out.push(zone);
    }
    let base = p.sys("devices/system/clocksource");
    let mut available = Family::gauge(
        "node_time_clocksource_available_info",
        "Available clocksources read from '/sys/devices/system/clocksource'.",
    );
    let mut current = Family::gauge(
        "node_time_clocksource_current_info",
        "Current clocksource read from '/sys/devices/system/clocksource'.",
    );
    if let Ok(entries) = std::fs::read_dir(&base) {
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("clocksource")
                    .map(str::to_string)
            })
            .collect();
        ids.sort();
        for id in ids {
            let dir = base.join(format!("clocksource{id}"));
            if let Some(list) = read_trimmed(&dir.join("available_clocksource")) {
                for cs in list.split_whitespace() {
                    available.push([("clocksource", cs), ("device", id.as_str())], 1.0);
                }
            }
            if let Some(cs) = read_trimmed(&dir.join("current_clocksource")) {
                current.push([("clocksource", cs.as_str()), ("device", id.as_str())], 1.0);
            }
        }
    }
    for f in [available, current] {
        if !f.samples.is_empty() {
            out.push(f);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- uname

pub fn build_uname(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("uname", paths, |_| {
        let u = rustix::system::uname();
        let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
        let mut f = Family::gauge(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
        );
        f.push(
            [
                ("domainname", s(u.domainname())),
                ("machine", s(u.machine())),
                ("nodename", s(u.nodename())),
                ("release", s(u.release())),
                ("sysname", s(u.sysname())),
                ("version", s(u.version())),
            ],
            1.0,
        );
        Ok(vec![f])
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn os_release_labels_and_version() {
        let f =
            super::parse_os_release("NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n");
        assert!(
            f[0].samples[0]
                .labels
                .contains(&("id".into(), "debian".into()))
        );
        assert_eq!(f[1].samples[0].value, crate::metrics::Value::Scalar(12.0));
    }
}
