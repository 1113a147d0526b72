//! Whole-system counters from /proc/stat: boot time, context switches, forks,
//! interrupts, running and blocked processes.

use std::sync::Arc;

use super::{ProcReader, gauge1, num, read};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

pub fn build(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("stat", paths, collect))
}

fn collect(paths: &HostPaths) -> CollectResult {
    parse(&read(&paths.proc("stat"))?)
}

pub fn parse(text: &str) -> CollectResult {
    let mut out = Vec::with_capacity(6);
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(first)) = (it.next(), it.next()) else {
            continue;
        };
        let what = || format!("/proc/stat: {key}");
        match key {
            "intr" => out.push(
                Family::counter("node_intr_total", "Total number of interrupts serviced.")
                    .single(num(first, &what())?),
            ),
            "ctxt" => out.push(
                Family::counter(
                    "node_context_switches_total",
                    "Total number of context switches.",
                )
                .single(num(first, &what())?),
            ),
            "btime" => out.push(gauge1(
                "node_boot_time_seconds",
                "Node boot time, in unixtime.",
                num(first, &what())?,
            )),
            "processes" => out.push(
                Family::counter("node_forks_total", "Total number of forks.")
                    .single(num(first, &what())?),
            ),
            "procs_running" => out.push(gauge1(
                "node_procs_running",
                "Number of processes in runnable state.",
                num(first, &what())?,
            )),
            "procs_blocked" => out.push(gauge1(
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                num(first, &what())?,
            )),
            _ => {}
        }
    }
    if out.is_empty() {
        anyhow::bail!("/proc/stat: none of btime, ctxt, intr, processes found");
    }
    Ok(out)
}
