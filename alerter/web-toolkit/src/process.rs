//! The `process_*` series every Prometheus client library serves about its own
//! process, read from /proc/self (never from a `--path.procfs`: they describe this
//! process, not the monitored host). Both binaries serve them, so a dashboard's
//! memory and CPU panels work for either.

use procfs::process::{LimitValue, Process};

/// One `process_*` sample; `counter` families are named with their `_total` suffix.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub counter: bool,
    pub value: f64,
}

/// What can be read now; a source that cannot be read is left out.
pub fn samples() -> Vec<Sample> {
    let mut out = Vec::with_capacity(7);
    let Ok(me) = Process::myself() else {
        return out;
    };
    let mut push = |name, help, counter, value| {
        out.push(Sample {
            name,
            help,
            counter,
            value,
        })
    };
    if let Ok(stat) = me.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        push(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            true,
            (stat.utime + stat.stime) as f64 / ticks,
        );
        push(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            false,
            (stat.rss * procfs::page_size()) as f64,
        );
        push(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            false,
            stat.vsize as f64,
        );
        if let Ok(boot) = procfs::boot_time_secs() {
            push(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                false,
                boot as f64 + stat.starttime as f64 / ticks,
            );
        }
    }
    if let Ok(n) = me.fd_count() {
        push(
            "process_open_fds",
            "Number of open file descriptors.",
            false,
            n as f64,
        );
    }
    if let Ok(limits) = me.limits() {
        let value = |l: LimitValue| match l {
            LimitValue::Value(v) => v as f64,
            // client_golang reports "unlimited" as the largest uint64.
            LimitValue::Unlimited => u64::MAX as f64,
        };
        push(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            false,
            value(limits.max_open_files.soft_limit),
        );
        push(
            "process_virtual_memory_max_bytes",
            "Maximum amount of virtual memory available in bytes.",
            false,
            value(limits.max_address_space.soft_limit),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = samples();
        let get = |n: &str| s.iter().find(|x| x.name == n).map(|x| x.value);
        assert!(get("process_resident_memory_bytes").unwrap() > 1e5);
        assert!(get("process_open_fds").unwrap() >= 3.0);
        assert!(get("process_start_time_seconds").unwrap() > 1.5e9);
        assert!(s.iter().all(|x| x.counter == x.name.ends_with("_total")));
    }
}
