//! A container's figures from its cgroup files, for both layouts: where its cgroup
//! is ([`locate`], from the init process's `/proc/<pid>/cgroup`, which names the path
//! for the cgroupfs and the systemd driver alike) and what the files say ([`read_v1`],
//! [`read_v2`]), both into one [`Stats`], so v1 and v2 give the same metric names.
//!
//! The parsers are pure (text in, numbers out); reading is one closure per layout, so
//! tests run the same code on fixture trees built from the kernel's documentation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

/// Kernel clock ticks per second for `cpuacct.stat` (USER_HZ, 100 on every Linux
/// architecture Docker runs on; runc's libcontainer assumes the same).
const USER_HZ: f64 = 100.0;

/// v1 reports "no limit" as the largest page-aligned i64; anything this large is no limit.
const V1_UNLIMITED: u64 = 1 << 62;

/// One container's figures, whichever way they were read (cgroup v1, v2, or Docker's
/// stats API). `None`: the source does not have that figure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub cpu_usage_seconds: Option<f64>,
    pub cpu_user_seconds: Option<f64>,
    pub cpu_system_seconds: Option<f64>,
    pub cfs_periods: Option<f64>,
    pub cfs_throttled_periods: Option<f64>,
    pub cfs_throttled_seconds: Option<f64>,
    pub memory_usage: Option<f64>,
    pub memory_working_set: Option<f64>,
    pub memory_rss: Option<f64>,
    pub memory_cache: Option<f64>,
    pub memory_swap: Option<f64>,
    pub memory_failcnt: Option<f64>,
    /// `None` when unlimited.
    pub memory_limit: Option<f64>,
    /// CFS quota in microseconds; `None` when unlimited (cAdvisor omits the series then).
    pub cpu_quota: Option<f64>,
    pub cpu_period: Option<f64>,
    pub cpu_shares: Option<f64>,
    /// OOM kills the kernel counted in this cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    pub oom_kills: Option<u64>,
    pub processes: Option<f64>,
    /// `(major:minor, read bytes, written bytes)` per block device.
    pub io: Vec<(String, f64, f64)>,
}

/// Where a container's cgroup is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Controller name (`cpu`, `cpuacct`, `memory`, `blkio`, `pids`) -> directory.
    V1(BTreeMap<String, PathBuf>),
    V2(PathBuf),
}

/// The controllers a v1 read needs.
const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "blkio", "pids"];

/// `/proc/<pid>/cgroup` lines `hierarchy-ID:controller-list:path` as
/// `(controllers, path)`; malformed lines are skipped.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<&str>, &str)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let list = if controllers.is_empty() {
                Vec::new()
            } else {
                controllers.split(',').collect()
            };
            Some((list, path))
        })
        .collect()
}

/// Finds the cgroup directories of a process under `root` (the cgroup mount, e.g.
/// `/sys/fs/cgroup`). v1 wins when the memory controller is on a v1 hierarchy
/// (hybrid hosts also list the unified `0::` line); else the `0::` line is v2.
/// A v1 controller co-mounted with others (`cpu,cpuacct`) lives in a directory named
/// by the whole list, or by its own name where distributions add the symlink.
pub fn locate(root: &Path, proc_cgroup: &str) -> Option<Layout> {
    let lines = parse_proc_cgroup(proc_cgroup);
    if lines.iter().any(|(c, _)| c.contains(&"memory")) {
        let mut dirs = BTreeMap::new();
        for (list, path) in &lines {
            let rel = path.trim_start_matches('/');
            for c in list {
                if !V1_CONTROLLERS.contains(c) {
                    continue;
                }
                let joined = root.join(list.join(",")).join(rel);
                let own = root.join(c).join(rel);
                let dir = if joined.is_dir() { joined } else { own };
                dirs.insert((*c).to_string(), dir);
            }
        }
        return Some(Layout::V1(dirs));
    }
    lines
        .iter()
        .find(|(c, _)| c.is_empty())
        // A path with `..` is relative to another cgroup namespace: not ours to resolve.
        .filter(|(_, p)| !p.contains("/.."))
        .map(|(_, p)| Layout::V2(root.join(p.trim_start_matches('/'))))
}

/// Where Docker puts a container's cgroup when `/proc/<pid>/cgroup` cannot tell
/// (no host /proc): cgroupfs driver `docker/<id>`, systemd driver
/// `system.slice/docker-<id>.scope`; v2 when `cgroup.controllers` is at the root.
pub fn conventional(root: &Path, id: &str) -> Option<Layout> {
    if root.join("cgroup.controllers").is_file() {
        return [
            format!("system.slice/docker-{id}.scope"),
            format!("docker/{id}"),
        ]
        .into_iter()
        .map(|p| root.join(p))
        .find(|d| d.is_dir())
        .map(Layout::V2);
    }
    let dirs: BTreeMap<String, PathBuf> = V1_CONTROLLERS
        .iter()
        .map(|c| {
            let base = root.join(c);
            let systemd = base.join(format!("system.slice/docker-{id}.scope"));
            let dir = if systemd.is_dir() {
                systemd
            } else {
                base.join("docker").join(id)
            };
            ((*c).to_string(), dir)
        })
        .collect();
    dirs.get("memory")
        .is_some_and(|d| d.is_dir())
        .then_some(Layout::V1(dirs))
}

/// `key value` lines (`cpu.stat`, `memory.stat`, `memory.events`, `cpuacct.stat`,
/// `memory.oom_control`); lines that are not two fields with a number are skipped.
pub fn parse_flat_keyed(text: &str) -> BTreeMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (k, v, rest) = (f.next()?, f.next()?, f.next());
            if rest.is_some() {
                return None;
            }
            Some((k, v.parse().ok()?))
        })
        .collect()
}

/// A file holding one number (`memory.usage_in_bytes`, `pids.current`, ...). v1's
/// `cpu.cfs_quota_us` holds `-1` for no limit, so negatives parse too.
pub fn parse_single(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// v2 `memory.max` / `memory.swap.max`: a number or `max`.
pub fn parse_max(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => None,
        t => t.parse().ok(),
    }
}

/// v2 `cpu.max`: `$MAX $PERIOD`, `$MAX` being `max` for no limit.
pub fn parse_cpu_max(text: &str) -> (Option<u64>, Option<u64>) {
    let mut f = text.split_whitespace();
    let quota = f.next().and_then(|q| q.parse().ok());
    let period = f.next().and_then(|p| p.parse().ok());
    (quota, period)
}

/// v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. ...` per device.
pub fn parse_io_stat(text: &str) -> Vec<(String, f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let dev = f.next()?;
            let (mut r, mut w) = (0.0, 0.0);
            for kv in f {
                match kv.split_once('=') {
                    Some(("rbytes", v)) => r = v.parse().unwrap_or(0.0),
                    Some(("wbytes", v)) => w = v.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
            Some((dev.to_string(), r, w))
        })
        .collect()
}

/// v1 `blkio.throttle.io_service_bytes`: `MAJ:MIN Read N` / `Write N` / ... lines and
/// a `Total N` line. (The `throttle` file is filled for every cgroup; the CFQ/BFQ
/// ones only under those schedulers, which is why runc reads it first.)
pub fn parse_blkio(text: &str) -> Vec<(String, f64, f64)> {
    let mut by_dev: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [dev, op, v] = f.as_slice() else {
            continue;
        };
        let Ok(v) = v.parse::<f64>() else { continue };
        let e = by_dev.entry(dev).or_default();
        match *op {
            "Read" => e.0 = v,
            "Write" => e.1 = v,
            _ => {}
        }
    }
    by_dev
        .into_iter()
        .map(|(d, (r, w))| (d.to_string(), r, w))
        .collect()
}

fn num(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

/// Working set as cAdvisor and `docker stats` compute it: usage minus inactive file
/// pages (cAdvisor's container.go `setMemoryStats`), never below zero.
fn working_set(usage: Option<f64>, inactive_file: Option<u64>) -> Option<f64> {
    usage.map(|u| (u - inactive_file.map_or(0.0, |i| i as f64)).max(0.0))
}

/// A v1 container from its controller directories; `read(controller, file)` returns a
/// file's text (`None`: unreadable). `Err` when the memory controller's usage cannot
/// be read, i.e. the cgroup is gone or not visible from here.
pub fn read_v1(read: impl Fn(&str, &str) -> Option<String>) -> Result<Stats, String> {
    let usage = read("memory", "memory.usage_in_bytes")
        .as_deref()
        .and_then(parse_single)
        .ok_or("memory.usage_in_bytes is not readable")?;
    let usage = Some(usage as f64);
    let one = |c: &str, f: &str| read(c, f).as_deref().and_then(parse_single);
    let mem_stat = read("memory", "memory.stat").unwrap_or_default();
    let mem = parse_flat_keyed(&mem_stat);
    let cpu_stat = read("cpu", "cpu.stat").unwrap_or_default();
    let cpu = parse_flat_keyed(&cpu_stat);
    let acct_stat = read("cpuacct", "cpuacct.stat").unwrap_or_default();
    let acct = parse_flat_keyed(&acct_stat);
    let oom = read("memory", "memory.oom_control").unwrap_or_default();
    let limit = one("memory", "memory.limit_in_bytes")
        .and_then(|l| u64::try_from(l).ok())
        .filter(|l| *l < V1_UNLIMITED);
    Ok(Stats {
        cpu_usage_seconds: one("cpuacct", "cpuacct.usage").map(|ns| ns as f64 / 1e9),
        cpu_user_seconds: acct.get("user").map(|t| *t as f64 / USER_HZ),
        cpu_system_seconds: acct.get("system").map(|t| *t as f64 / USER_HZ),
        cfs_periods: num(cpu.get("nr_periods").copied()),
        cfs_throttled_periods: num(cpu.get("nr_throttled").copied()),
        cfs_throttled_seconds: cpu.get("throttled_time").map(|ns| *ns as f64 / 1e9),
        memory_usage: usage,
        memory_working_set: working_set(usage, mem.get("total_inactive_file").copied()),
        memory_rss: num(mem.get("total_rss").copied()),
        memory_cache: num(mem.get("total_cache").copied()),
        memory_swap: num(mem.get("total_swap").copied()),
        memory_failcnt: one("memory", "memory.failcnt").map(|v| v as f64),
        memory_limit: num(limit),
        cpu_quota: one("cpu", "cpu.cfs_quota_us")
            .filter(|q| *q > 0)
            .map(|q| q as f64),
        cpu_period: one("cpu", "cpu.cfs_period_us").map(|p| p as f64),
        cpu_shares: one("cpu", "cpu.shares").map(|s| s as f64),
        oom_kills: parse_flat_keyed(&oom).get("oom_kill").copied(),
        processes: one("pids", "pids.current").map(|p| p as f64),
        io: read("blkio", "blkio.throttle.io_service_bytes")
            .map(|t| parse_blkio(&t))
            .unwrap_or_default(),
    })
}

/// A v2 container from its one directory; `read(file)` returns a file's text.
/// `Err` when `memory.current` cannot be read.
pub fn read_v2(read: impl Fn(&str) -> Option<String>) -> Result<Stats, String> {
    let usage = read("memory.current")
        .as_deref()
        .and_then(parse_single)
        .ok_or("memory.current is not readable")?;
    let usage = Some(usage as f64);
    let mem_stat = read("memory.stat").unwrap_or_default();
    let mem = parse_flat_keyed(&mem_stat);
    let cpu_stat = read("cpu.stat").unwrap_or_default();
    let cpu = parse_flat_keyed(&cpu_stat);
    let events = read("memory.events").unwrap_or_default();
    let events = parse_flat_keyed(&events);
    let (quota, period) = read("cpu.max")
        .map(|t| parse_cpu_max(&t))
        .unwrap_or((None, None));
    let us = |k: &str| cpu.get(k).map(|v| *v as f64 / 1e6);
    Ok(Stats {
        cpu_usage_seconds: us("usage_usec"),
        cpu_user_seconds: us("user_usec"),
        cpu_system_seconds: us("system_usec"),
        cfs_periods: num(cpu.get("nr_periods").copied()),
        cfs_throttled_periods: num(cpu.get("nr_throttled").copied()),
        cfs_throttled_seconds: us("throttled_usec"),
        memory_usage: usage,
        memory_working_set: working_set(usage, mem.get("inactive_file").copied()),
        // cAdvisor on v2: rss is `anon`, cache is `file`.
        memory_rss: num(mem.get("anon").copied()),
        memory_cache: num(mem.get("file").copied()),
        memory_swap: read("memory.swap.current")
            .as_deref()
            .and_then(parse_single)
            .map(|v| v as f64),
        // v2 has no failcnt; runc reports memory.events `max` (times usage hit the limit).
        memory_failcnt: num(events.get("max").copied()),
        memory_limit: num(read("memory.max").as_deref().and_then(parse_max)),
        cpu_quota: num(quota),
        cpu_period: num(period),
        // cAdvisor converts cpu.weight back to v1 shares (runc's inverse mapping).
        cpu_shares: read("cpu.weight")
            .as_deref()
            .and_then(parse_single)
            .map(|w| (2 + ((w - 1) * 262_142) / 9_999) as f64),
        oom_kills: events.get("oom_kill").copied(),
        processes: read("pids.current")
            .as_deref()
            .and_then(parse_single)
            .map(|p| p as f64),
        io: read("io.stat")
            .map(|t| parse_io_stat(&t))
            .unwrap_or_default(),
    })
}

/// The files the parsers read, by controller: opened once per container.
const V1_FILES: &[(&str, &str)] = &[
    ("cpu", "cpu.stat"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpu", "cpu.shares"),
    ("cpuacct", "cpuacct.usage"),
    ("cpuacct", "cpuacct.stat"),
    ("memory", "memory.usage_in_bytes"),
    ("memory", "memory.stat"),
    ("memory", "memory.failcnt"),
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.oom_control"),
    ("blkio", "blkio.throttle.io_service_bytes"),
    ("pids", "pids.current"),
];
const V2_FILES: &[&str] = &[
    "cpu.stat",
    "cpu.max",
    "cpu.weight",
    "memory.current",
    "memory.stat",
    "memory.events",
    "memory.max",
    "memory.swap.current",
    "io.stat",
    "pids.current",
];

/// A container's cgroup files, held open: each scrape is then one `pread` at offset 0
/// per file (the kernel renders it afresh), where opening the file by its path cost
/// most of a scrape. An open file does not keep Docker from removing the cgroup; reads
/// then fail, and the caller drops this.
pub struct Opened {
    v2: bool,
    /// `(controller, file)` (controller `""` on v2) -> open file.
    files: Vec<(&'static str, &'static str, OwnedFd)>,
}

fn open_ro(path: &Path, dir: bool) -> Option<OwnedFd> {
    let flags = if dir {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
    } else {
        OFlags::RDONLY | OFlags::CLOEXEC
    };
    rustix::fs::open(path, flags, Mode::empty()).ok()
}

impl Opened {
    /// Opens the files of `layout`; `None` when the memory usage file cannot be opened.
    pub fn open(layout: &Layout) -> Option<Opened> {
        let opened = match layout {
            Layout::V1(dirs) => Opened {
                v2: false,
                files: V1_FILES
                    .iter()
                    .filter_map(|(c, f)| Some((*c, *f, open_ro(&dirs.get(*c)?.join(f), false)?)))
                    .collect(),
            },
            Layout::V2(dir) => {
                let d = open_ro(dir, true)?;
                Opened {
                    v2: true,
                    files: V2_FILES
                        .iter()
                        .filter_map(|f| {
                            let fd = rustix::fs::openat(
                                &d,
                                *f,
                                OFlags::RDONLY | OFlags::CLOEXEC,
                                Mode::empty(),
                            )
                            .ok()?;
                            Some(("", *f, fd))
                        })
                        .collect(),
                }
            }
        };
        let usage = if opened.v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        opened
            .files
            .iter()
            .any(|(_, f, _)| *f == usage)
            .then_some(opened)
    }

    fn file(&self, controller: &str, name: &str) -> Option<String> {
        let (_, _, fd) = self
            .files
            .iter()
            .find(|(c, f, _)| *c == controller && *f == name)?;
        let mut buf = Vec::with_capacity(2048);
        loop {
            if buf.len() == buf.capacity() {
                buf.reserve(buf.capacity());
            }
            let start = buf.len();
            buf.resize(buf.capacity(), 0);
            match rustix::io::pread(fd, &mut buf[start..], start as u64) {
                Ok(0) => {
                    buf.truncate(start);
                    break;
                }
                Ok(n) => buf.truncate(start + n),
                Err(rustix::io::Errno::INTR) => buf.truncate(start),
                Err(_) => return None,
            }
        }
        String::from_utf8(buf).ok()
    }

    /// The container's figures, through the parsers of its layout.
    pub fn read(&self) -> Result<Stats, String> {
        if self.v2 {
            read_v2(|f| self.file("", f))
        } else {
            read_v1(|c, f| self.file(c, f))
        }
    }
}

/// Reads a container's files at `layout`.
pub fn read(layout: &Layout) -> Result<Stats, String> {
    Opened::open(layout)
        .ok_or("the cgroup directory cannot be opened")?
        .read()
}

/// One interface's counters from `/proc/<pid>/net/dev`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetDev {
    pub interface: String,
    /// bytes, packets, errs, drop (receive), then the same four for transmit.
    pub rx: [f64; 4],
    pub tx: [f64; 4],
}

/// `/proc/<pid>/net/dev` of the container's network namespace, without `lo`
/// (cAdvisor leaves loopback out).
pub fn parse_net_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (dev, rest) = l.split_once(':')?;
            let dev = dev.trim();
            if dev == "lo" {
                return None;
            }
            let v: Vec<f64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0.0))
                .collect();
            if v.len() < 16 {
                return None;
            }
            Some(NetDev {
                interface: dev.to_string(),
                rx: [v[0], v[1], v[2], v[3]],
                tx: [v[8], v[9], v[10], v[11]],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup")
    }

    #[test]
    fn proc_cgroup_of_both_drivers_and_layouts() {
        let root = Path::new("/sys/fs/cgroup");
        // This machine: cgroupfs driver, v1, cpu and cpuacct mounted separately, plus
        // the unified `0::` line of a hybrid host.
        let v1 = "4:memory:/docker/abc\n2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n0::/docker/abc\n";
        let Some(Layout::V1(dirs)) = locate(root, v1) else {
            panic!("v1 expected")
        };
        assert_eq!(dirs["memory"], root.join("memory/docker/abc"));
        assert_eq!(dirs["cpuacct"], root.join("cpuacct/docker/abc"));
        // systemd driver on v2 (Debian 12, Ubuntu 22.04+).
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            locate(root, v2),
            Some(Layout::V2(root.join("system.slice/docker-abc.scope")))
        );
        // Read from another cgroup namespace: not resolvable, so the caller falls back.
        assert_eq!(locate(root, "0::/../docker-abc.scope\n"), None);
        assert_eq!(locate(root, "garbage"), None);
    }

    #[test]
    fn v2_fixture_gives_every_figure() {
        let dir = fixtures().join("v2/system.slice/docker-0123abcd.scope");
        let s = read(&Layout::V2(dir)).unwrap();
        assert_eq!(s.cpu_usage_seconds, Some(12.5));
        assert_eq!(s.cpu_user_seconds, Some(10.0));
        assert_eq!(s.cpu_system_seconds, Some(2.5));
        assert_eq!(s.cfs_periods, Some(1000.0));
        assert_eq!(s.cfs_throttled_periods, Some(40.0));
        assert_eq!(s.cfs_throttled_seconds, Some(1.5));
        assert_eq!(s.memory_usage, Some(104_857_600.0));
        assert_eq!(s.memory_working_set, Some(104_857_600.0 - 20_971_520.0));
        assert_eq!(s.memory_rss, Some(62_914_560.0));
        assert_eq!(s.memory_cache, Some(31_457_280.0));
        assert_eq!(s.memory_swap, Some(4096.0));
        assert_eq!(s.memory_failcnt, Some(7.0));
        assert_eq!(s.memory_limit, Some(805_306_368.0));
        assert_eq!(s.cpu_quota, Some(50_000.0));
        assert_eq!(s.cpu_period, Some(100_000.0));
        assert_eq!(s.cpu_shares, Some(998.0));
        assert_eq!(s.oom_kills, Some(3));
        assert_eq!(s.processes, Some(5.0));
        assert_eq!(
            s.io,
            vec![
                ("8:0".to_string(), 1_459_200.0, 314_773_504.0),
                ("8:16".to_string(), 4096.0, 0.0)
            ]
        );
    }

    #[test]
    fn v2_unlimited_is_no_limit() {
        let s = read_v2(|f| match f {
            "memory.current" => Some("4096\n".into()),
            "memory.max" => Some("max\n".into()),
            "cpu.max" => Some("max 100000\n".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.cpu_quota, None);
        assert_eq!(s.cpu_period, Some(100_000.0));
        assert_eq!(s.oom_kills, None);
    }

    #[test]
    fn v1_fixture_gives_the_same_figures() {
        let base = fixtures().join("v1");
        let mut dirs = BTreeMap::new();
        for c in V1_CONTROLLERS {
            dirs.insert((*c).to_string(), base.join(c).join("docker/0123abcd"));
        }
        let s = read(&Layout::V1(dirs)).unwrap();
        let v2 = read(&Layout::V2(
            fixtures().join("v2/system.slice/docker-0123abcd.scope"),
        ))
        .unwrap();
        // The v1 tree holds the same container as the v2 one, in v1's units.
        assert_eq!(s, v2);
    }

    #[test]
    fn v1_unlimited_and_missing_cgroup() {
        let s = read_v1(|_, f| match f {
            "memory.usage_in_bytes" => Some("8192\n".into()),
            "memory.limit_in_bytes" => Some("9223372036854771712\n".into()),
            "cpu.cfs_quota_us" => Some("-1\n".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.cpu_quota, None);
        assert_eq!(s.memory_working_set, Some(8192.0));
        assert!(read_v1(|_, _| None).is_err());
    }

    #[test]
    fn net_dev_without_loopback() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets\n    lo: 5 5 0 0 0 0 0 0 5 5 0 0 0 0 0 0\n  eth0: 736 8 1 2 0 0 0 0 100 3 4 5 0 0 0 0\n";
        assert_eq!(
            parse_net_dev(text),
            vec![NetDev {
                interface: "eth0".into(),
                rx: [736.0, 8.0, 1.0, 2.0],
                tx: [100.0, 3.0, 4.0, 5.0]
            }]
        );
    }
}
