//! The collector trait and THE list of collectors. Adding a collector is one new
//! module, one config section (see `config.rs`) and one entry in [`LIST`].

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::Config;
use crate::metrics::Family;

pub mod celery;
pub mod host;
pub mod redis;

pub type CollectResult = Result<Vec<Family>, anyhow::Error>;

/// A source of metrics. `collect` runs on every scrape, concurrently with the other
/// collectors and under a timeout; an error marks only this collector as failed.
pub trait Collector: Send + Sync {
    /// Name used in `--collector.<name>` and in the `collector` label of the
    /// `*_scrape_collector_success` / `*_scrape_collector_duration_seconds` series.
    fn name(&self) -> &'static str;

    /// Prefix of this collector's success/duration series: `node` gives node_exporter's
    /// `node_scrape_collector_success{collector="cpu"}`.
    fn scrape_prefix(&self) -> &'static str {
        "node"
    }

    /// Gathers owned values; blocking I/O belongs in `spawn_blocking`.
    fn collect(&self) -> BoxFuture<'_, CollectResult>;
}

/// Builds one collector from the validated config (no I/O beyond cheap checks).
pub type BuildFn = fn(&Config) -> anyhow::Result<Arc<dyn Collector>>;

/// One registered collector: its flag names, whether it runs without being asked,
/// and how to build it. Write entries with [`entry!`].
pub struct Entry {
    pub name: &'static str,
    /// `collector.<name>`, the long flag that enables it.
    pub flag: &'static str,
    /// `no-collector.<name>`, the long flag that disables it.
    pub no_flag: &'static str,
    pub default_enabled: bool,
    /// Reads the host's procfs/sysfs (so `--path.procfs` is checked at start).
    pub host: bool,
    pub help: &'static str,
    pub build: BuildFn,
}

/// `entry!("cpu", "help", build_fn, host)` for a host collector (needs procfs),
/// `entry!("redis", "help", build_fn)` for any other, and
/// `entry!("x", "help", build_fn, default_enabled = false)` for one that is off by default.
#[macro_export]
macro_rules! entry {
    ($name:literal, $help:literal, $build:path) => {
        $crate::entry!(@ $name, $help, $build, true, false)
    };
    ($name:literal, $help:literal, $build:path, host) => {
        $crate::entry!(@ $name, $help, $build, true, true)
    };
    ($name:literal, $help:literal, $build:path, default_enabled = $on:expr) => {
        $crate::entry!(@ $name, $help, $build, $on, false)
    };
    (@ $name:literal, $help:literal, $build:path, $on:expr, $host:expr) => {
        $crate::collector::Entry {
            name: $name,
            flag: concat!("collector.", $name),
            no_flag: concat!("no-collector.", $name),
            default_enabled: $on,
            host: $host,
            help: $help,
            build: $build,
        }
    };
}

/// THE list. Order is the order of the landing page; scrapes run them concurrently.
pub const LIST: &[Entry] = &[
    entry!(
        "arp",
        "ARP entries per device (/proc/net/arp)",
        host::simple::build_arp,
        host
    ),
    entry!(
        "celery",
        "Celery queue lengths from a Redis broker (--celery.broker-url)",
        celery::build
    ),
    entry!(
        "conntrack",
        "netfilter conntrack entries and statistics",
        host::simple::build_conntrack,
        host
    ),
    entry!(
        "cpu",
        "CPU seconds per mode (/proc/stat)",
        host::cpu::build,
        host
    ),
    entry!(
        "diskstats",
        "disk I/O (/proc/diskstats)",
        host::diskstats::build,
        host
    ),
    entry!(
        "entropy",
        "kernel entropy pool",
        host::simple::build_entropy,
        host
    ),
    entry!(
        "filefd",
        "allocated file handles (/proc/sys/fs/file-nr)",
        host::simple::build_filefd,
        host
    ),
    entry!(
        "filesystem",
        "filesystem sizes (statfs, bounded per mount)",
        host::filesystem::build,
        host
    ),
    entry!(
        "loadavg",
        "load averages (/proc/loadavg)",
        host::loadavg::build,
        host
    ),
    entry!(
        "meminfo",
        "all of /proc/meminfo",
        host::meminfo::build,
        host
    ),
    entry!(
        "netclass",
        "network interface properties (/sys/class/net)",
        host::net::build_netclass,
        host
    ),
    entry!(
        "netdev",
        "network device counters (/proc/net/dev)",
        host::net::build_netdev,
        host
    ),
    entry!(
        "netstat",
        "network statistics (/proc/net/netstat, snmp, snmp6)",
        host::net::build_netstat,
        host
    ),
    entry!("os", "os-release information", host::system::build_os, host),
    entry!(
        "pressure",
        "pressure stall information (/proc/pressure)",
        host::simple::build_pressure,
        host
    ),
    entry!(
        "sockstat",
        "socket statistics (/proc/net/sockstat)",
        host::simple::build_sockstat,
        host
    ),
    entry!(
        "softnet",
        "softnet statistics (/proc/net/softnet_stat)",
        host::simple::build_softnet,
        host
    ),
    entry!(
        "stat",
        "boot time, context switches, forks, interrupts (/proc/stat)",
        host::stat::build,
        host
    ),
    entry!(
        "textfile",
        "metrics from *.prom files",
        host::textfile::build,
        host
    ),
    entry!(
        "time",
        "system time and clocksources",
        host::system::build_time,
        host
    ),
    entry!(
        "timex",
        "kernel clock discipline (adjtimex(2))",
        host::timex::build,
        host
    ),
    entry!(
        "udp_queues",
        "UDP queue lengths (/proc/net/udp)",
        host::simple::build_udp_queues,
        host
    ),
    entry!(
        "uname",
        "uname(2) information",
        host::system::build_uname,
        host
    ),
    entry!(
        "vmstat",
        "selected /proc/vmstat counters",
        host::simple::build_vmstat,
        host
    ),
    entry!(
        "redis",
        "Redis metrics with redis_exporter's names (targets from --redis.addr)",
        redis::build
    ),
];

/// Looks an entry up by name.
pub fn find(name: &str) -> Option<&'static Entry> {
    LIST.iter().find(|e| e.name == name)
}

/// Builds every collector the config enables, in [`LIST`] order.
pub fn build_enabled(cfg: &Config) -> anyhow::Result<Vec<Arc<dyn Collector>>> {
    LIST.iter()
        .filter(|e| cfg.enabled(e.name))
        .map(|e| (e.build)(cfg))
        .collect()
}
