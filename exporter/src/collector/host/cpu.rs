//! `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! the per-CPU lines of /proc/stat, in seconds (USER_HZ ticks / 100).

use std::sync::Arc;

use super::{ProcReader, read};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

/// /proc/stat counts in USER_HZ, which the kernel fixes at 100 for userspace.
const USER_HZ: f64 = 100.0;
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

pub fn build(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("cpu", paths, collect))
}

fn collect(paths: &HostPaths) -> CollectResult {
    parse(&read(&paths.proc("stat"))?)
}

pub fn parse(text: &str) -> CollectResult {
    let mut seconds = Family::counter(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
    );
    let mut guest = Family::counter(
        "node_cpu_guest_seconds_total",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        // The aggregate `cpu ` line has no number.
        let Some((id, values)) = rest.split_once(' ') else {
            continue;
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let vals: Vec<f64> = values
            .split_whitespace()
            .map(|v| {
                v.parse::<f64>().map_err(|_| {
                    anyhow::anyhow!("/proc/stat: cpu{id}: expected numbers, got {v:?}")
                })
            })
            .collect::<Result<_, _>>()?;
        if vals.len() < MODES.len() {
            anyhow::bail!(
                "/proc/stat: cpu{id}: expected at least 8 fields, got {}",
                vals.len()
            );
        }
        for (mode, v) in MODES.iter().zip(&vals) {
            seconds.push([("cpu", id), ("mode", mode)], v / USER_HZ);
        }
        if vals.len() >= 10 {
            guest.push([("cpu", id), ("mode", "nice")], vals[9] / USER_HZ);
            guest.push([("cpu", id), ("mode", "user")], vals[8] / USER_HZ);
        }
    }
    if seconds.samples.is_empty() {
        anyhow::bail!("/proc/stat: no per-CPU lines");
    }
    let mut out = vec![seconds];
    if !guest.samples.is_empty() {
        out.push(guest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::metrics::{Family, Value};

    fn value(fams: &[Family], name: &str, cpu: &str, mode: &str) -> Option<Value> {
        let want = [("cpu", cpu), ("mode", mode)];
        fams.iter()
            .find(|f| f.name == name)?
            .samples
            .iter()
            .find(|s| {
                s.labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .eq(want)
            })
            .map(|s| s.value.clone())
    }

    /// Ticks become seconds; guest columns (9, 10) are optional, the 8 modes are not.
    #[test]
    fn reads_modes_and_guest_time_in_seconds() {
        let f = super::parse(
            "cpu  1 2 3 4 5 6 7 8 9 10\n\
             cpu0 100 200 300 400 500 600 700 800 900 1000\n\
             cpu1 1 2 3 4 5 6 7 8\n",
        )
        .unwrap();
        let secs = "node_cpu_seconds_total";
        let guest = "node_cpu_guest_seconds_total";
        assert_eq!(value(&f, secs, "0", "idle"), Some(Value::Scalar(4.0)));
        assert_eq!(value(&f, secs, "1", "steal"), Some(Value::Scalar(0.08)));
        assert_eq!(value(&f, guest, "0", "user"), Some(Value::Scalar(9.0)));
        assert_eq!(value(&f, guest, "0", "nice"), Some(Value::Scalar(10.0)));
        assert_eq!(value(&f, guest, "1", "user"), None);
        assert_eq!(
            value(&f, secs, "", "user"),
            None,
            "the aggregate line is not a CPU"
        );
    }

    #[test]
    fn refuses_a_cpu_line_without_all_eight_modes() {
        let err = super::parse("cpu0 1 2 3 4 5 6 7\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cpu0: expected at least 8 fields, got 7"),
            "{err}"
        );
    }
}
