//! `node_disk_*` from /proc/diskstats (sectors are 512 bytes, times in ms), plus
//! `node_disk_info` with the udev properties node_exporter reads from /run/udev/data.

use std::sync::Arc;

use super::{DeviceMatcher, ProcReader, num, read};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::{Family, Kind};
use crate::setting::HostPaths;

/// node_exporter's default `--collector.diskstats.device-exclude` (partitions, loop,
/// ram disks).
pub const DEFAULT_DEVICE_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

device_filter_flags!(
    Flags,
    "diskstats",
    include_help = "Regexp of diskstats devices to include (mutually exclusive to device-exclude)",
    exclude_help =
        "Regexp of diskstats devices to exclude [default: partitions, loop and ram disks]",
    default_exclude = Some(DEFAULT_DEVICE_EXCLUDE),
);

/// `diskstats:` in the config file.
pub type RawConfig = super::DeviceFilterRaw;

pub type Config = super::DeviceFilter;

const SECTOR: f64 = 512.0;
const MS: f64 = 0.001;

/// Column (after major, minor, name) -> (suffix, kind, scale).
const FIELDS: [(&str, Kind, f64); 17] = [
    ("reads_completed_total", Kind::Counter, 1.0),
    ("reads_merged_total", Kind::Counter, 1.0),
    ("read_bytes_total", Kind::Counter, SECTOR),
    ("read_time_seconds_total", Kind::Counter, MS),
    ("writes_completed_total", Kind::Counter, 1.0),
    ("writes_merged_total", Kind::Counter, 1.0),
    ("written_bytes_total", Kind::Counter, SECTOR),
    ("write_time_seconds_total", Kind::Counter, MS),
    ("io_now", Kind::Gauge, 1.0),
    ("io_time_seconds_total", Kind::Counter, MS),
    ("io_time_weighted_seconds_total", Kind::Counter, MS),
    ("discards_completed_total", Kind::Counter, 1.0),
    ("discards_merged_total", Kind::Counter, 1.0),
    ("discarded_sectors_total", Kind::Counter, 1.0),
    ("discard_time_seconds_total", Kind::Counter, MS),
    ("flush_requests_total", Kind::Counter, 1.0),
    ("flush_requests_time_seconds_total", Kind::Counter, MS),
];

const HELP: [&str; 17] = [
    "The total number of reads completed successfully.",
    "The total number of reads merged.",
    "The total number of bytes read successfully.",
    "The total number of seconds spent by all reads.",
    "The total number of writes completed successfully.",
    "The number of writes merged.",
    "The total number of bytes written successfully.",
    "This is the total number of seconds spent by all writes.",
    "The number of I/Os currently in progress.",
    "Total seconds spent doing I/Os.",
    "The weighted number of seconds spent doing I/Os.",
    "The total number of discards completed successfully.",
    "The total number of discards merged.",
    "The total number of sectors discarded successfully.",
    "This is the total number of seconds spent by all discards.",
    "The total number of flush requests completed successfully.",
    "This is the total number of seconds spent by all flush requests.",
];

pub fn build(paths: &HostPaths, cfg: &Config) -> anyhow::Result<Arc<dyn Collector>> {
    let devices = DeviceMatcher::new(cfg);
    Ok(ProcReader::arc("diskstats", paths, move |p: &HostPaths| {
        let udev = p.rootfs.join("run/udev/data");
        parse(&read(&p.proc("diskstats"))?, &devices, &|major, minor| {
            super::read_small(udev.join(format!("b{major}:{minor}"))).ok()
        })
    }))
}

/// Parses /proc/diskstats; `udev(major, minor)` returns the device's udev database
/// entry, if any.
pub fn parse(
    text: &str,
    devices: &DeviceMatcher,
    udev: &dyn Fn(&str, &str) -> Option<String>,
) -> CollectResult {
    let mut fams: Vec<Family> = FIELDS
        .iter()
        .zip(HELP)
        .map(|((suffix, kind, _), help)| Family::new(format!("node_disk_{suffix}"), help, *kind))
        .collect();
    let mut info = Family::gauge("node_disk_info", "Info of /sys/block/<block_device>.");
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 14 {
            continue;
        }
        let (major, minor, dev) = (cols[0], cols[1], cols[2]);
        if !devices.allows(dev) {
            continue;
        }
        let props = udev(major, minor).unwrap_or_default();
        let prop = |key: &str| {
            props
                .lines()
                .find_map(|l| l.strip_prefix("E:")?.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or("")
                .to_string()
        };
        info.push(
            [
                ("device", dev.to_string()),
                ("major", major.to_string()),
                ("minor", minor.to_string()),
                ("model", prop("ID_MODEL")),
                ("path", prop("ID_PATH")),
                ("revision", prop("ID_REVISION")),
                ("serial", prop("ID_SERIAL_SHORT")),
                ("wwn", prop("ID_WWN")),
            ],
            1.0,
        );
        for (i, ((_, _, scale), fam)) in FIELDS.iter().zip(fams.iter_mut()).enumerate() {
            // Older kernels have fewer columns (no discard or flush counters).
            let Some(v) = cols.get(3 + i) else { break };
            fam.push(
                [("device", dev)],
                num(v, &format!("/proc/diskstats {dev}"))? * scale,
            );
        }
    }
    fams.push(info);
    fams.retain(|f| !f.samples.is_empty());
    Ok(fams)
}

#[cfg(test)]
mod tests {
    use super::super::{DeviceFilter, DeviceMatcher};
    use crate::metrics::Value;

    #[test]
    fn skips_partitions_and_scales_units() {
        let text = " 254       0 vda 10 1 8 500 20 2 16 1000 0 1500 1600 0 0 0 0 5 7\n 254       1 vda1 1 1 1 1 1 1 1 1 0 1 1 0 0 0 0 0 0\n";
        let mut problems = crate::setting::Problems::default();
        let filter = DeviceFilter::validate(
            None,
            None,
            Some(super::DEFAULT_DEVICE_EXCLUDE),
            &mut problems,
        );
        let devices = DeviceMatcher::new(&filter);
        let f = super::parse(text, &devices, &|_, _| Some("E:ID_MODEL=disk\n".into())).unwrap();
        let read_bytes = f
            .iter()
            .find(|f| f.name == "node_disk_read_bytes_total")
            .unwrap();
        assert_eq!(read_bytes.samples.len(), 1);
        assert_eq!(read_bytes.samples[0].value, Value::Scalar(8.0 * 512.0));
        let info = f.iter().find(|f| f.name == "node_disk_info").unwrap();
        assert!(
            info.samples[0]
                .labels
                .contains(&("model".into(), "disk".into()))
        );
    }

    /// Kernels before 4.18 have 14 columns (no discard or flush); shorter lines
    /// (2.6's partition format) are skipped, not read out of bounds.
    #[test]
    fn reads_fourteen_column_lines_and_skips_shorter_ones() {
        let text =
            "   8       0 sdb 10 1 8 500 20 2 16 1000 0 1500 1600\n   8       1 sdb1 1 2 3 4\n";
        let mut problems = crate::setting::Problems::default();
        let filter = DeviceFilter::validate(None, None, None, &mut problems);
        let devices = DeviceMatcher::new(&filter);
        let f = super::parse(text, &devices, &|_, _| None).unwrap();
        let read_bytes = f
            .iter()
            .find(|f| f.name == "node_disk_read_bytes_total")
            .unwrap();
        assert_eq!(read_bytes.samples.len(), 1);
        assert_eq!(read_bytes.samples[0].value, Value::Scalar(8.0 * 512.0));
        assert!(f.iter().all(|f| !f.name.contains("discard")));
    }
}
