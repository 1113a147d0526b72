//! Network collectors: `netdev` (/proc/net/dev counters), `netclass` (/sys/class/net
//! properties, `node_network_up`, `node_network_info`) and `netstat` (/proc/net/netstat,
//! snmp, snmp6 fields node_exporter returns by default).

use std::sync::{Arc, LazyLock};

use regex_lite::Regex;

use super::{
    AttrDir, CachedRegex, DeviceFilter, DeviceMatcher, ProcReader, num, read, read_trimmed,
};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

// ---------------------------------------------------------------- netdev

const RX: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "frame",
    "compressed",
    "multicast",
];
const TX: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "colls",
    "carrier",
    "compressed",
];

device_filter_flags!(
    NetdevFlags,
    "netdev",
    include_help = "Regexp of net devices to include (mutually exclusive to device-exclude)",
    exclude_help = "Regexp of net devices to exclude (mutually exclusive to device-include)",
    default_exclude = None,
);

/// `netdev:` in the config file.
pub type NetdevRawConfig = super::DeviceFilterRaw;

pub type NetdevConfig = DeviceFilter;

pub fn build_netdev(paths: &HostPaths, cfg: &NetdevConfig) -> anyhow::Result<Arc<dyn Collector>> {
    let devices = DeviceMatcher::new(cfg);
    Ok(ProcReader::arc("netdev", paths, move |p: &HostPaths| {
        collect_netdev(p, &devices)
    }))
}

fn collect_netdev(p: &HostPaths, filter: &DeviceMatcher) -> CollectResult {
    let mut out = parse_netdev(&read(&p.proc("net/dev"))?)?;
    for fam in &mut out {
        fam.samples
            .retain(|s| s.labels.first().is_none_or(|(_, dev)| filter.allows(dev)));
    }
    // rx_nohandler is only in sysfs (node_exporter gets it over netlink).
    let mut nohandler = Family::counter(
        "node_network_receive_nohandler_total",
        "Network device statistic receive_nohandler.",
    );
    for dev in devices(&out) {
        let path = p.sys(&format!("class/net/{dev}/statistics/rx_nohandler"));
        if let Some(v) = read_trimmed(&path).and_then(|v| v.parse::<f64>().ok()) {
            nohandler.push([("device", dev.as_str())], v);
        }
    }
    if !nohandler.samples.is_empty() {
        out.push(nohandler);
    }
    Ok(out)
}

fn devices(families: &[Family]) -> Vec<String> {
    families
        .first()
        .map(|f| {
            f.samples
                .iter()
                .filter_map(|s| s.labels.first().map(|(_, v)| v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// /proc/net/dev: two header lines, then `  eth0: rx... tx...` per device.
pub fn parse_netdev(text: &str) -> CollectResult {
    let mut fams: Vec<Family> = RX
        .iter()
        .map(|f| ("receive", f))
        .chain(TX.iter().map(|f| ("transmit", f)))
        .map(|(dir, f)| {
            Family::counter(
                format!("node_network_{dir}_{f}_total"),
                format!("Network device statistic {dir}_{f}."),
            )
        })
        .collect();
    for line in text.lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else {
            continue;
        };
        let dev = dev.trim();
        let vals: Vec<&str> = rest.split_whitespace().collect();
        if vals.len() < 16 {
            anyhow::bail!(
                "/proc/net/dev: {dev}: expected 16 counters, got {}",
                vals.len()
            );
        }
        for (fam, v) in fams.iter_mut().zip(&vals) {
            fam.push([("device", dev)], num(v, &format!("/proc/net/dev {dev}"))?);
        }
    }
    Ok(fams)
}

// ---------------------------------------------------------------- netclass

pub fn build_netclass(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("netclass", paths, collect_netclass))
}

/// Numeric /sys/class/net/<dev>/<file> attributes and their metric suffixes.
const NUMERIC: [(&str, &str, bool); 14] = [
    ("addr_assign_type", "address_assign_type", false),
    ("carrier", "carrier", false),
    ("carrier_changes", "carrier_changes_total", true),
    ("carrier_down_count", "carrier_down_changes_total", true),
    ("carrier_up_count", "carrier_up_changes_total", true),
    ("dev_id", "device_id", false),
    ("dormant", "dormant", false),
    ("flags", "flags", false),
    ("ifindex", "iface_id", false),
    ("iflink", "iface_link", false),
    ("link_mode", "iface_link_mode", false),
    ("mtu", "mtu_bytes", false),
    ("name_assign_type", "name_assign_type", false),
    ("netdev_group", "net_dev_group", false),
];

fn collect_netclass(p: &HostPaths) -> CollectResult {
    let dir = p.sys("class/net");
    let mut devs: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| anyhow::anyhow!("read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    devs.sort();

    let mut numeric: Vec<Family> = NUMERIC
        .iter()
        .map(|(_, suffix, counter)| {
            let name = format!("node_network_{suffix}");
            let help = format!("Network device property: {suffix}");
            if *counter {
                Family::counter(name, help)
            } else {
                Family::gauge(name, help)
            }
        })
        .collect();
    let mut protocol = Family::gauge(
        "node_network_protocol_type",
        "Network device property: protocol_type",
    );
    let mut speed = Family::gauge(
        "node_network_speed_bytes",
        "Network device property: speed_bytes",
    );
    let mut txq = Family::gauge(
        "node_network_transmit_queue_length",
        "Network device property: transmit_queue_length",
    );
    let mut info = Family::gauge(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    );
    let mut up = Family::gauge(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
    );

    for dev in &devs {
        let Some(base) = AttrDir::open(&dir.join(dev)) else {
            continue;
        };
        let attr = |f: &str| base.get(f);
        // Unreadable attributes (EINVAL on virtual devices) are skipped, as node_exporter.
        let int = |f: &str| attr(f).and_then(|v| parse_int(&v));
        for ((file, _, _), fam) in NUMERIC.iter().zip(numeric.iter_mut()) {
            if let Some(v) = int(file) {
                fam.push([("device", dev.as_str())], v);
            }
        }
        if let Some(v) = int("type") {
            protocol.push([("device", dev.as_str())], v);
        }
        if let Some(v) = int("speed") {
            // Mbit/s to bytes/s, including the kernel's -1 for "unknown".
            speed.push([("device", dev.as_str())], v * 125_000.0);
        }
        if let Some(v) = int("tx_queue_len") {
            txq.push([("device", dev.as_str())], v);
        }
        let operstate = attr("operstate").unwrap_or_default();
        info.push(
            [
                ("address", attr("address").unwrap_or_default()),
                ("broadcast", attr("broadcast").unwrap_or_default()),
                ("device", dev.clone()),
                ("duplex", attr("duplex").unwrap_or_default()),
                ("ifalias", attr("ifalias").unwrap_or_default()),
                ("operstate", operstate.clone()),
            ],
            1.0,
        );
        up.push(
            [("device", dev.as_str())],
            if operstate == "up" { 1.0 } else { 0.0 },
        );
    }
    numeric.extend([protocol, speed, txq, info, up]);
    numeric.retain(|f| !f.samples.is_empty());
    Ok(numeric)
}

/// Decimal or `0x` hex (flags).
fn parse_int(s: &str) -> Option<f64> {
    if let Some(hex) = s.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    s.parse::<i64>().ok().map(|v| v as f64)
}

// ---------------------------------------------------------------- netstat

/// node_exporter's default `--collector.netstat.fields`.
static NETSTAT_FIELDS: LazyLock<CachedRegex> = LazyLock::new(|| {
    CachedRegex::new(Regex::new("^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$")
        .expect("valid regex"))
});

pub fn build_netstat(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("netstat", paths, collect_netstat))
}

fn collect_netstat(p: &HostPaths) -> CollectResult {
    let mut pairs = parse_header_pairs(&read(&p.proc("net/netstat"))?)?;
    pairs.extend(parse_header_pairs(&read(&p.proc("net/snmp"))?)?);
    if let Ok(text) = super::read_small(p.proc("net/snmp6")) {
        pairs.extend(parse_snmp6(&text)?);
    }
    Ok(netstat_families(pairs))
}

/// Keeps the default fields, as untyped `node_netstat_<Proto>_<Field>`.
pub fn netstat_families(pairs: Vec<(String, String, f64)>) -> Vec<Family> {
    pairs
        .into_iter()
        .filter_map(|(proto, field, v)| {
            let key = format!("{proto}_{field}");
            NETSTAT_FIELDS.is_match(&key).then(|| {
                Family::untyped(
                    format!("node_netstat_{key}"),
                    format!("Statistic {proto}{field}."),
                )
                .single(v)
            })
        })
        .collect()
}

/// /proc/net/netstat and /proc/net/snmp: `Proto: names...` then `Proto: values...`.
pub fn parse_header_pairs(text: &str) -> anyhow::Result<Vec<(String, String, f64)>> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((proto, names)), Some((proto2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            anyhow::bail!("netstat: expected `Proto: ...` line pairs");
        };
        if proto != proto2 {
            anyhow::bail!("netstat: header {proto:?} followed by values of {proto2:?}");
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            out.push((
                proto.to_string(),
                n.to_string(),
                num(v, &format!("netstat {proto} {n}"))?,
            ));
        }
    }
    Ok(out)
}

/// /proc/net/snmp6: `Ip6InReceives  123` lines; the protocol ends at the first '6'.
pub fn parse_snmp6(text: &str) -> anyhow::Result<Vec<(String, String, f64)>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let Some(i) = key.find('6') else { continue };
        let (proto, field) = key.split_at(i + 1);
        out.push((
            proto.to_string(),
            field.to_string(),
            num(v, &format!("snmp6 {key}"))?,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdev_counters_per_device() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n  eth0: 100 2 0 0 0 0 0 0 200 3 0 0 0 0 0 0\n";
        let f = parse_netdev(text).unwrap();
        assert_eq!(f[0].name, "node_network_receive_bytes_total");
        assert_eq!(f[8].name, "node_network_transmit_bytes_total");
        assert_eq!(f[8].samples[0].value, crate::metrics::Value::Scalar(200.0));
    }

    #[test]
    fn netstat_keeps_default_fields() {
        let pairs = parse_header_pairs("Tcp: InSegs OutSegs Foo\nTcp: 1 2 3\n").unwrap();
        let names: Vec<_> = netstat_families(pairs)
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            names,
            ["node_netstat_Tcp_InSegs", "node_netstat_Tcp_OutSegs"]
        );
        let snmp6 = parse_snmp6("Udp6InDatagrams  5\nIp6InOctets 7\n").unwrap();
        assert_eq!(snmp6[0].0, "Udp6");
        assert_eq!(snmp6[1].1, "InOctets");
    }

    #[test]
    fn netdev_refuses_a_short_device_line() {
        let text = "h1\nh2\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n";
        let err = parse_netdev(text).unwrap_err().to_string();
        assert!(err.contains("eth0: expected 16 counters, got 15"), "{err}");
    }
}
