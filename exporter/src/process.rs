//! The exporter's own `process_*` metrics (as every Prometheus client library exports
//! them) and `exporter_build_info`. Always read from the real /proc/self, whatever
//! `--path.procfs` says: they describe this process, not the monitored host.

use procfs::process::{LimitValue, Process};

use crate::metrics::Family;

/// Process and build-info families; a family whose source cannot be read is left out.
pub fn families() -> Vec<Family> {
    let mut out = Vec::with_capacity(8);
    let mut build = Family::gauge(
        "exporter_build_info",
        "A metric with a constant '1' value labeled by version and arch the exporter was built for.",
    );
    build.push(
        [
            ("version", env!("CARGO_PKG_VERSION")),
            ("arch", std::env::consts::ARCH),
        ],
        1.0,
    );
    out.push(build);
    let Ok(me) = Process::myself() else {
        return out;
    };
    if let Ok(stat) = me.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        out.push(
            Family::counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            )
            .single((stat.utime + stat.stime) as f64 / ticks),
        );
        out.push(
            Family::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )
            .single((stat.rss * procfs::page_size()) as f64),
        );
        out.push(
            Family::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )
            .single(stat.vsize as f64),
        );
        if let Ok(boot) = procfs::boot_time_secs() {
            out.push(
                Family::gauge(
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                )
                .single(boot as f64 + stat.starttime as f64 / ticks),
            );
        }
    }
    if let Ok(n) = me.fd_count() {
        out.push(
            Family::gauge("process_open_fds", "Number of open file descriptors.").single(n as f64),
        );
    }
    if let Ok(limits) = me.limits() {
        let value = |l: LimitValue| match l {
            LimitValue::Value(v) => v as f64,
            // client_golang reports "unlimited" as the largest uint64.
            LimitValue::Unlimited => u64::MAX as f64,
        };
        out.push(
            Family::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            )
            .single(value(limits.max_open_files.soft_limit)),
        );
        out.push(
            Family::gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
            )
            .single(value(limits.max_address_space.soft_limit)),
        );
    }
    out
}
