//! Host collectors, node_exporter-compatible: one file per sub-collector, each a pure
//! parser over a procfs/sysfs file's text plus a thin reader. Paths come from
//! `--path.procfs` / `--path.sysfs` / `--path.rootfs`, so the fixture tree in
//! `tests/fixtures/` (and a host mounted into a container) work unchanged.

use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::{HostPaths, Origin, Problems};

/// Declares a collector's `--collector.<name>.device-include` / `device-exclude` flags
/// as the clap struct `$flags`, whose `validate` merges them over the file's
/// [`DeviceFilterRaw`] into a [`DeviceFilter`]: diskstats and netdev take the same pair.
macro_rules! device_filter_flags {
    (
        $flags:ident,
        $name:literal,
        include_help = $include_help:literal,
        exclude_help = $exclude_help:literal,
        default_exclude = $default:expr $(,)?
    ) => {
        #[derive(clap::Args, Debug, Default, Clone)]
        #[group(id = concat!($name, "_flags"))]
        pub struct $flags {
            #[arg(
                                        id = concat!($name, ".device-include"),
                                        long = concat!("collector.", $name, ".device-include"),
                                        value_name = "REGEX",
                                        help = $include_help
                                    )]
            pub device_include: Option<String>,
            #[arg(
                                        id = concat!($name, ".device-exclude"),
                                        long = concat!("collector.", $name, ".device-exclude"),
                                        value_name = "REGEX",
                                        help = $exclude_help
                                    )]
            pub device_exclude: Option<String>,
        }

        impl $flags {
            /// These flags over the config file's section (`path`), validated.
            pub fn validate(
                &self,
                raw: $crate::collector::host::DeviceFilterRaw,
                path: Option<&std::path::Path>,
                problems: &mut $crate::setting::Problems,
            ) -> $crate::collector::host::DeviceFilter {
                use $crate::setting::pick;
                $crate::collector::host::DeviceFilter::validate(
                    pick(
                        self.device_include.clone(),
                        concat!("collector.", $name, ".device-include"),
                        raw.device_include,
                        concat!($name, ".device_include"),
                        path,
                    ),
                    pick(
                        self.device_exclude.clone(),
                        concat!("collector.", $name, ".device-exclude"),
                        raw.device_exclude,
                        concat!($name, ".device_exclude"),
                        path,
                    ),
                    $default,
                    problems,
                )
            }
        }
    };
}

pub mod cpu;
pub mod diskstats;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod net;
pub mod simple;
pub mod stat;
pub mod system;
pub mod textfile;
pub mod timex;

/// A host collector whose work is reading procfs/sysfs files. It runs inline on the
/// scrape's task: the kernel generates those files in memory, so reading them never
/// waits on a device or the network, and a thread hop per collector per scrape cost
/// more CPU and memory than the reads themselves. The one host call that can block
/// (statfs on a network mount) is bounded separately in `filesystem`.
pub struct ProcReader {
    name: &'static str,
    paths: HostPaths,
    read: Box<ReadFn>,
}

/// What a [`ProcReader`] runs on each scrape.
pub type ReadFn = dyn Fn(&HostPaths) -> CollectResult + Send + Sync;

impl ProcReader {
    pub fn arc(
        name: &'static str,
        paths: &HostPaths,
        read: impl Fn(&HostPaths) -> CollectResult + Send + Sync + 'static,
    ) -> Arc<dyn Collector> {
        Arc::new(ProcReader {
            name,
            paths: paths.clone(),
            read: Box::new(read),
        })
    }
}

impl Collector for ProcReader {
    fn name(&self) -> &'static str {
        self.name
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        Box::pin(std::future::ready((self.read)(&self.paths)))
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> anyhow::Result<String> {
    read_small(path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))
}

/// Reads a procfs/sysfs file. `fs::read_to_string` first asks for the file's size,
/// which pseudo-files report as 0 or 4096; skipping that statx halves the syscalls.
pub fn read_small(path: impl AsRef<Path>) -> std::io::Result<String> {
    let path = path.as_ref();
    use std::io::Read as _;
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        match f.read(&mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                break;
            }
            Ok(n) => buf.truncate(start + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reads a one-line sysfs/procfs value, trimmed; `None` when missing or unreadable.
pub fn read_trimmed(path: &Path) -> Option<String> {
    read_small(path).ok().map(|s| s.trim().to_string())
}

/// A directory of one-value attribute files (a sysfs device), opened once so each
/// attribute is an `openat` on it instead of a walk of the whole path.
pub struct AttrDir(rustix::fd::OwnedFd);

impl AttrDir {
    pub fn open(dir: &Path) -> Option<AttrDir> {
        use rustix::fs::{Mode, OFlags};
        rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(AttrDir)
    }

    /// The attribute's trimmed value; `None` when missing or unreadable (sysfs answers
    /// EINVAL for, e.g., the speed of a virtual interface).
    pub fn get(&self, name: &str) -> Option<String> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            &self.0,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut buf = [0u8; 512];
        let n = rustix::io::read(&fd, &mut buf).ok()?;
        std::str::from_utf8(&buf[..n])
            .ok()
            .map(|s| s.trim().to_string())
    }
}

/// A regex whose verdicts are remembered: the names it filters (netstat fields,
/// vmstat keys, devices, mount points) are the same on every scrape, and a cache hit
/// is cheaper than running the (small, slow) regex-lite engine again.
pub struct CachedRegex {
    re: regex_lite::Regex,
    seen: std::sync::Mutex<std::collections::HashMap<String, bool>>,
}

impl CachedRegex {
    pub fn new(re: regex_lite::Regex) -> Self {
        Self {
            re,
            seen: std::sync::Mutex::default(),
        }
    }

    pub fn is_match(&self, s: &str) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = seen.get(s) {
            return *v;
        }
        let v = self.re.is_match(s);
        // Bounded: names come from the kernel, but a churn of device names must not
        // grow the cache forever.
        if seen.len() > 4096 {
            seen.clear();
        }
        seen.insert(s.to_string(), v);
        v
    }
}

/// `device_include` / `device_exclude` in a collector's section of the config file.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceFilterRaw {
    pub device_include: Option<String>,
    pub device_exclude: Option<String>,
}

/// `--collector.<name>.device-include` / `device-exclude`, as node_exporter's netdev
/// and diskstats collectors take them (mutually exclusive).
#[derive(Clone, Debug)]
pub struct DeviceFilter {
    include: Option<regex_lite::Regex>,
    exclude: Option<regex_lite::Regex>,
}

impl DeviceFilter {
    /// Validates one collector's include/exclude pair (flag over file), falling back to
    /// `default_exclude`.
    pub fn validate(
        include: Option<(String, Origin)>,
        exclude: Option<(String, Origin)>,
        default_exclude: Option<&str>,
        problems: &mut Problems,
    ) -> DeviceFilter {
        if let (Some(_), Some((_, origin))) = (&include, &exclude) {
            problems.push(
                origin,
                "device-include and device-exclude are mutually exclusive",
            );
        }
        let mut compile =
            |(text, origin): (String, Origin)| crate::setting::regex(&text, &origin, problems);
        let include = include.and_then(&mut compile);
        let exclude = match exclude {
            Some(e) => compile(e),
            None if include.is_none() => {
                default_exclude.and_then(|d| regex_lite::Regex::new(d).ok())
            }
            None => None,
        };
        DeviceFilter { include, exclude }
    }

    pub fn cached(&self) -> (Option<CachedRegex>, Option<CachedRegex>) {
        (
            self.include.clone().map(CachedRegex::new),
            self.exclude.clone().map(CachedRegex::new),
        )
    }
}

/// [`DeviceFilter`] with remembered verdicts, held by a collector.
pub struct DeviceMatcher(Option<CachedRegex>, Option<CachedRegex>);

impl DeviceMatcher {
    pub fn new(f: &DeviceFilter) -> Self {
        let (i, e) = f.cached();
        Self(i, e)
    }

    pub fn allows(&self, dev: &str) -> bool {
        self.0.as_ref().is_none_or(|i| i.is_match(dev))
            && self.1.as_ref().is_none_or(|e| !e.is_match(dev))
    }
}

/// Parses a number that must be there, naming the field in the error.
pub fn num(field: &str, what: &str) -> anyhow::Result<f64> {
    field
        .parse::<f64>()
        .map_err(|_| anyhow::anyhow!("{what}: expected a number, got {field:?}"))
}

/// Shorthand for a family with one sample.
pub fn gauge1(name: &str, help: &str, v: f64) -> Family {
    Family::gauge(name, help).single(v)
}
