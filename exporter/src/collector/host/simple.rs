//! Small collectors over one or two procfs files each: arp, conntrack, entropy,
//! filefd, pressure, selinux, sockstat, softnet, udp_queues, vmstat.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use regex_lite::Regex;

use super::{CachedRegex, ProcReader, gauge1, num, read, read_trimmed};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

// ---------------------------------------------------------------- arp

pub fn build_arp(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("arp", paths, |p| {
        parse_arp(&read(&p.proc("net/arp"))?)
    }))
}

/// Counts /proc/net/arp entries per device (the last column).
pub fn parse_arp(text: &str) -> CollectResult {
    let mut per_dev: BTreeMap<&str, f64> = BTreeMap::new();
    for line in text.lines().skip(1) {
        if let Some(dev) = line.split_whitespace().nth(5) {
            *per_dev.entry(dev).or_default() += 1.0;
        }
    }
    let mut f = Family::gauge("node_arp_entries", "ARP entries by device.");
    for (dev, n) in per_dev {
        f.push([("device", dev)], n);
    }
    Ok(vec![f])
}

// ---------------------------------------------------------------- conntrack

pub fn build_conntrack(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("conntrack", paths, collect_conntrack))
}

fn collect_conntrack(p: &HostPaths) -> CollectResult {
    let count = read_trimmed(&p.proc("sys/net/netfilter/nf_conntrack_count"));
    let max = read_trimmed(&p.proc("sys/net/netfilter/nf_conntrack_max"));
    let (Some(count), Some(max)) = (count, max) else {
        // No conntrack module loaded: nothing to report, as node_exporter.
        return Ok(Vec::new());
    };
    let mut out = vec![
        gauge1(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            num(&count, "nf_conntrack_count")?,
        ),
        gauge1(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            num(&max, "nf_conntrack_max")?,
        ),
    ];
    if let Ok(text) = super::read_small(p.proc("net/stat/nf_conntrack")) {
        out.extend(parse_conntrack_stat(&text)?);
    }
    Ok(out)
}

/// /proc/net/stat/nf_conntrack: a header of field names, then one line of hex
/// counters per CPU; summed over CPUs.
pub fn parse_conntrack_stat(text: &str) -> CollectResult {
    const FIELDS: [&str; 8] = [
        "found",
        "invalid",
        "ignore",
        "insert",
        "insert_failed",
        "drop",
        "early_drop",
        "search_restart",
    ];
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let names: Vec<&str> = header.split_whitespace().collect();
    let mut sums = vec![0f64; names.len()];
    for line in lines {
        for (i, v) in line.split_whitespace().enumerate().take(names.len()) {
            let v = u64::from_str_radix(v, 16)
                .map_err(|_| anyhow::anyhow!("/proc/net/stat/nf_conntrack: bad hex {v:?}"))?;
            sums[i] += v as f64;
        }
    }
    let mut out = Vec::new();
    for field in FIELDS {
        if let Some(i) = names.iter().position(|n| *n == field) {
            out.push(gauge1(
                &format!("node_nf_conntrack_stat_{field}"),
                &format!("Conntrack statistic {field}, summed over CPUs."),
                sums[i],
            ));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- entropy

pub fn build_entropy(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("entropy", paths, |p| {
        let avail = read(&p.proc("sys/kernel/random/entropy_avail"))?;
        let pool = read(&p.proc("sys/kernel/random/poolsize"))?;
        Ok(vec![
            gauge1(
                "node_entropy_available_bits",
                "Bits of available entropy.",
                num(avail.trim(), "entropy_avail")?,
            ),
            gauge1(
                "node_entropy_pool_size_bits",
                "Bits of entropy pool.",
                num(pool.trim(), "poolsize")?,
            ),
        ])
    }))
}

// ---------------------------------------------------------------- filefd

pub fn build_filefd(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("filefd", paths, |p| {
        parse_filefd(&read(&p.proc("sys/fs/file-nr"))?)
    }))
}

/// /proc/sys/fs/file-nr: `allocated  unused  maximum`.
pub fn parse_filefd(text: &str) -> CollectResult {
    let f: Vec<&str> = text.split_whitespace().collect();
    if f.len() != 3 {
        anyhow::bail!("/proc/sys/fs/file-nr: expected 3 fields, got {text:?}");
    }
    Ok(vec![
        gauge1(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            num(f[0], "file-nr allocated")?,
        ),
        gauge1(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            num(f[2], "file-nr maximum")?,
        ),
    ])
}

// ---------------------------------------------------------------- pressure

pub fn build_pressure(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("pressure", paths, collect_pressure))
}

fn collect_pressure(p: &HostPaths) -> CollectResult {
    let mut out = Vec::new();
    for res in ["cpu", "io", "memory"] {
        let text = read(&p.proc(&format!("pressure/{res}")))?;
        out.extend(parse_pressure(res, &text)?);
    }
    Ok(out)
}

/// One /proc/pressure/<res> file: `some ... total=<µs>` and `full ... total=<µs>`.
/// node_exporter reports `some` as waiting and `full` as stalled (not for cpu).
pub fn parse_pressure(res: &str, text: &str) -> CollectResult {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let kind = it.next();
        let total = it
            .find_map(|kv| kv.strip_prefix("total="))
            .ok_or_else(|| anyhow::anyhow!("/proc/pressure/{res}: no total= in {line:?}"))?;
        let secs = num(total, &format!("/proc/pressure/{res} total"))? / 1e6;
        let (suffix, help) = match (kind, res) {
            (Some("some"), "cpu") => (
                "waiting",
                "Total time in seconds that processes have waited for CPU time.",
            ),
            (Some("some"), "io") => (
                "waiting",
                "Total time in seconds that processes have waited due to IO congestion.",
            ),
            (Some("full"), "io") => (
                "stalled",
                "Total time in seconds no process could make progress due to IO congestion.",
            ),
            (Some("some"), "memory") => (
                "waiting",
                "Total time in seconds that processes have waited for memory.",
            ),
            (Some("full"), "memory") => (
                "stalled",
                "Total time in seconds no process could make progress due to memory congestion.",
            ),
            _ => continue,
        };
        out.push(
            Family::counter(format!("node_pressure_{res}_{suffix}_seconds_total"), help)
                .single(secs),
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------- sockstat

pub fn build_sockstat(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("sockstat", paths, |p| {
        let mut out = parse_sockstat(&read(&p.proc("net/sockstat"))?, procfs::page_size() as f64)?;
        if let Ok(text) = super::read_small(p.proc("net/sockstat6")) {
            out.extend(parse_sockstat(&text, procfs::page_size() as f64)?);
        }
        Ok(out)
    }))
}

/// /proc/net/sockstat lines `TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1` become
/// `node_sockstat_TCP_inuse` etc.; `mem` (pages) also as `_mem_bytes`.
pub fn parse_sockstat(text: &str, page_size: f64) -> CollectResult {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let proto = if proto == "sockets" { "sockets" } else { proto };
        let toks: Vec<&str> = rest.split_whitespace().collect();
        for pair in toks.chunks(2) {
            let [field, value] = pair else {
                anyhow::bail!("sockstat: {proto}: odd number of fields");
            };
            let v = num(value, &format!("sockstat {proto} {field}"))?;
            let name = format!("node_sockstat_{proto}_{field}");
            out.push(gauge1(
                &name,
                &format!("Number of {proto} sockets in state {field}."),
                v,
            ));
            if *field == "mem" {
                out.push(gauge1(
                    &format!("{name}_bytes"),
                    &format!("Number of {proto} sockets in state mem_bytes."),
                    v * page_size,
                ));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- softnet

pub fn build_softnet(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("softnet", paths, |p| {
        parse_softnet(&read(&p.proc("net/softnet_stat"))?)
    }))
}

/// /proc/net/softnet_stat: one line of hex columns per CPU (processed, dropped,
/// time_squeeze, ...).
pub fn parse_softnet(text: &str) -> CollectResult {
    let mut processed = Family::counter(
        "node_softnet_processed_total",
        "Number of processed packets.",
    );
    let mut dropped = Family::counter("node_softnet_dropped_total", "Number of dropped packets.");
    let mut squeezed = Family::counter(
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota.",
    );
    for (cpu, line) in text.lines().enumerate() {
        let cols: Vec<u64> = line
            .split_whitespace()
            .map(|c| u64::from_str_radix(c, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("/proc/net/softnet_stat: line {}: bad hex", cpu + 1))?;
        if cols.len() < 3 {
            anyhow::bail!("/proc/net/softnet_stat: line {}: too few columns", cpu + 1);
        }
        let cpu = cpu.to_string();
        processed.push([("cpu", cpu.as_str())], cols[0] as f64);
        dropped.push([("cpu", cpu.as_str())], cols[1] as f64);
        squeezed.push([("cpu", cpu.as_str())], cols[2] as f64);
    }
    Ok(vec![dropped, processed, squeezed])
}

// ---------------------------------------------------------------- udp_queues

pub fn build_udp_queues(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("udp_queues", paths, |p| {
        let mut f = Family::gauge(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        );
        for (ip, file) in [("v4", "net/udp"), ("v6", "net/udp6")] {
            let Ok(text) = super::read_small(p.proc(file)) else {
                continue;
            };
            let (tx, rx) = parse_udp_queues(&text)?;
            f.push([("ip", ip), ("queue", "rx")], rx);
            f.push([("ip", ip), ("queue", "tx")], tx);
        }
        Ok(vec![f])
    }))
}

/// Sums the `tx_queue:rx_queue` column (hex) of /proc/net/udp{,6}.
pub fn parse_udp_queues(text: &str) -> anyhow::Result<(f64, f64)> {
    let (mut tx, mut rx) = (0f64, 0f64);
    for line in text.lines().skip(1) {
        let Some(q) = line.split_whitespace().nth(4) else {
            continue;
        };
        let (t, r) = q
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("/proc/net/udp: bad queue column {q:?}"))?;
        let hex = |s: &str| {
            u64::from_str_radix(s, 16).map_err(|_| anyhow::anyhow!("/proc/net/udp: bad hex {s:?}"))
        };
        tx += hex(t)? as f64;
        rx += hex(r)? as f64;
    }
    Ok((tx, rx))
}

// ---------------------------------------------------------------- vmstat

/// node_exporter's default `--collector.vmstat.fields`.
static VMSTAT_FIELDS: LazyLock<CachedRegex> = LazyLock::new(|| {
    CachedRegex::new(Regex::new("^(oom_kill|pgpg|pswp|pg.*fault).*").expect("valid regex"))
});

pub fn build_vmstat(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("vmstat", paths, |p| {
        parse_vmstat(&read(&p.proc("vmstat"))?)
    }))
}

pub fn parse_vmstat(text: &str) -> CollectResult {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        if !VMSTAT_FIELDS.is_match(key) {
            continue;
        }
        out.push(
            Family::untyped(
                format!("node_vmstat_{key}"),
                format!("/proc/vmstat information field {key}."),
            )
            .single(num(value.trim(), &format!("/proc/vmstat {key}"))?),
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------- selinux

/// node_exporter's `selinux` collector (enabled by default): `node_selinux_enabled`
/// always, the current mode only when selinuxfs is mounted. node_exporter also reports
/// `node_selinux_config_mode` from /etc/selinux/config; not read here yet.
pub fn build_selinux(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("selinux", paths, |p| {
        // selinuxfs is mounted only when SELinux is enabled.
        let enforce = read_trimmed(&p.sys("fs/selinux/enforce"));
        let mut out = vec![gauge1(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            if enforce.is_some() { 1.0 } else { 0.0 },
        )];
        if let Some(mode) = enforce.and_then(|m| m.parse::<f64>().ok()) {
            out.push(gauge1(
                "node_selinux_current_mode",
                "SELinux is enforcing (1) or permissive (0).",
                mode,
            ));
        }
        Ok(out)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Value;

    #[test]
    fn pressure_some_is_waiting_full_is_stalled() {
        let f = parse_pressure(
            "io",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n",
        )
        .unwrap();
        assert_eq!(f[0].name, "node_pressure_io_waiting_seconds_total");
        assert_eq!(f[0].samples[0].value, Value::Scalar(1.5));
        assert_eq!(f[1].name, "node_pressure_io_stalled_seconds_total");
    }

    #[test]
    fn sockstat_mem_in_bytes() {
        let f = parse_sockstat(
            "sockets: used 7\nTCP: inuse 1 orphan 0 tw 0 alloc 2 mem 3\n",
            4096.0,
        )
        .unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"node_sockstat_sockets_used"));
        assert!(names.contains(&"node_sockstat_TCP_mem_bytes"));
        let bytes = f
            .iter()
            .find(|f| f.name == "node_sockstat_TCP_mem_bytes")
            .unwrap();
        assert_eq!(bytes.samples[0].value, Value::Scalar(3.0 * 4096.0));
    }

    #[test]
    fn softnet_and_udp_hex() {
        let f = parse_softnet("0000000a 00000001 00000002 0 0\n").unwrap();
        assert_eq!(f[1].samples[0].value, Value::Scalar(10.0));
        let (tx, rx) = parse_udp_queues(
            "  sl  local_address rem_address   st tx_queue rx_queue tr\n   1: 00000000:0044 00000000:0000 07 00000010:00000020 00:00000000\n",
        )
        .unwrap();
        assert_eq!((tx, rx), (16.0, 32.0));
    }
}
