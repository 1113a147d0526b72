//! THE list of collectors; the trait they implement is in [`source`]. Adding a
//! collector is one new module, one config section (see `config.rs`, and a field of
//! [`Sections`] if it has settings) and one entry in [`LIST`].
//!
//! Each collector is built from its own validated section (and the host paths), handed
//! over as [`Sections`]; nothing here sees the whole configuration, so this module and
//! the collectors never import `config` (which imports them).

use std::sync::Arc;
use std::time::Duration;

use crate::setting::HostPaths;

pub mod celery;
pub mod containers;
pub mod host;
pub mod probes;
pub mod redis;
pub mod source;

pub use source::{CollectResult, Collector};

/// What the collectors are built from: the host paths, the per-collector time budget
/// and each collector's own validated section. `config::Config::sections` lends them.
#[derive(Clone, Copy)]
pub struct Sections<'a> {
    pub paths: &'a HostPaths,
    pub collector_timeout: Duration,
    pub diskstats: &'a host::diskstats::Config,
    pub filesystem: &'a host::filesystem::Config,
    pub netdev: &'a host::net::NetdevConfig,
    pub textfile: &'a host::textfile::Config,
    pub redis: &'a redis::Config,
    pub celery: &'a celery::Config,
    pub docker: &'a containers::Config,
    pub probes: &'a probes::Config,
}

/// Builds one collector from its section (no I/O beyond cheap checks).
pub type BuildFn = fn(&Sections<'_>) -> anyhow::Result<Arc<dyn Collector>>;

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

/// `entry!("cpu", "help", build_fn, host)` for a host collector (needs procfs; built
/// from the host paths), `entry!("diskstats", "help", build_fn, host, diskstats)` for one
/// that also takes its section, `entry!("redis", "help", build_fn, redis)` for any other
/// (built from its section), and `entry!("x", "help", build_fn, host, default_enabled = false)`
/// for a host collector that is off by default; `build = |s| ...` when a host collector
/// takes more than its section.
#[macro_export]
macro_rules! entry {
    ($name:literal, $help:literal, $build:path, host) => {
        $crate::entry!(@ $name, $help, |s| $build(s.paths), true, true)
    };
    ($name:literal, $help:literal, $build:path, host, default_enabled = $on:expr) => {
        $crate::entry!(@ $name, $help, |s| $build(s.paths), $on, true)
    };
    ($name:literal, $help:literal, $build:path, host, $section:ident) => {
        $crate::entry!(@ $name, $help, |s| $build(s.paths, s.$section), true, true)
    };
    ($name:literal, $help:literal, build = $build:expr, host) => {
        $crate::entry!(@ $name, $help, $build, true, true)
    };
    ($name:literal, $help:literal, $build:path, $section:ident) => {
        $crate::entry!(@ $name, $help, |s| $build(s.$section), true, false)
    };
    (@ $name:literal, $help:literal, $build:expr, $on:expr, $host:expr) => {
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
        celery::build,
        celery
    ),
    entry!(
        "conntrack",
        "netfilter conntrack entries and statistics",
        host::simple::build_conntrack,
        host
    ),
    entry!(@
        "containers",
        "Docker containers with cAdvisor's names, restarts and OOM kills (--docker.host)",
        |s| containers::build(s.docker, s.paths, s.collector_timeout),
        true,
        false
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
        host,
        diskstats
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
        build = |s| host::filesystem::build(s.paths, s.filesystem, s.collector_timeout),
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
        host,
        netdev
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
        "selinux",
        "SELinux status (/sys/fs/selinux)",
        host::simple::build_selinux,
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
        build = |s| host::textfile::build(s.textfile),
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
        "probes",
        "HTTP probes with blackbox_exporter's names (probes: in the config file)",
        probes::build,
        probes
    ),
    entry!(
        "redis",
        "Redis metrics with redis_exporter's names (targets from --redis.addr)",
        redis::build,
        redis
    ),
];

/// Looks an entry up by name.
pub fn find(name: &str) -> Option<&'static Entry> {
    LIST.iter().find(|e| e.name == name)
}

/// Builds every collector `enabled` names, in [`LIST`] order.
pub fn build_enabled(
    sections: &Sections<'_>,
    enabled: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<Arc<dyn Collector>>> {
    LIST.iter()
        .filter(|e| enabled(e.name))
        .map(|e| (e.build)(sections))
        .collect()
}
