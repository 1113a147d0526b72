//! The fallback when a container's cgroup files cannot be read (the exporter in a
//! container without the host's /sys and /proc): Docker's one-shot stats API, one
//! request per container per scrape. It costs the daemon far more than reading files,
//! which is why it is only the fallback; `container_exporter_stats_source` says which
//! path each scrape took.

use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures::StreamExt as _;

use super::cgroup::{NetDev, Stats};
use super::docker::Meta;

/// One container's stats from the API, or why not.
pub async fn fetch(
    docker: &Docker,
    id: &str,
    timeout: Duration,
) -> Result<ContainerStatsResponse, String> {
    let opts = StatsOptions {
        stream: false,
        one_shot: true,
    };
    let mut stream = docker.stats(id, Some(opts));
    match tokio::time::timeout(timeout, stream.next()).await {
        Ok(Some(Ok(s))) => Ok(s),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(None) => Err("empty stats answer".into()),
        Err(_) => Err(format!("no stats within {timeout:?}")),
    }
}

/// The API's figures in [`Stats`]; limits come from the inspect (`meta`), as the API
/// does not report quota, period or shares. The API reports CPU time in nanoseconds
/// on both cgroup versions.
pub fn to_stats(s: &ContainerStatsResponse, meta: &Meta) -> (Stats, Vec<NetDev>) {
    let cpu = s.cpu_stats.as_ref();
    let usage = cpu.and_then(|c| c.cpu_usage.as_ref());
    let throttling = cpu.and_then(|c| c.throttling_data.as_ref());
    let mem = s.memory_stats.as_ref();
    let mstat = mem.and_then(|m| m.stats.as_ref());
    // v1 daemons report `total_*` keys, v2 ones the plain kernel names.
    let stat = |v1: &str, v2: &str| {
        mstat
            .and_then(|m| m.get(v1).or_else(|| m.get(v2)))
            .map(|v| *v as f64)
    };
    let ns = |v: Option<u64>| v.map(|v| v as f64 / 1e9);
    let n = |v: Option<u64>| v.map(|v| v as f64);
    let mem_usage = n(mem.and_then(|m| m.usage));
    let inactive = stat("total_inactive_file", "inactive_file").unwrap_or(0.0);
    let mut io: Vec<(String, f64, f64)> = Vec::new();
    for e in s
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref())
        .into_iter()
        .flatten()
    {
        let (Some(maj), Some(min), Some(op), Some(v)) =
            (e.major, e.minor, e.op.as_deref(), e.value)
        else {
            continue;
        };
        let dev = format!("{maj}:{min}");
        let pos = match io.iter().position(|(d, _, _)| *d == dev) {
            Some(p) => p,
            None => {
                io.push((dev, 0.0, 0.0));
                io.len() - 1
            }
        };
        match op.to_ascii_lowercase().as_str() {
            "read" => io[pos].1 = v as f64,
            "write" => io[pos].2 = v as f64,
            _ => {}
        }
    }
    io.sort_by(|a, b| a.0.cmp(&b.0));
    let stats = Stats {
        cpu_usage_seconds: ns(usage.and_then(|u| u.total_usage)),
        cpu_user_seconds: ns(usage.and_then(|u| u.usage_in_usermode)),
        cpu_system_seconds: ns(usage.and_then(|u| u.usage_in_kernelmode)),
        cfs_periods: n(throttling.and_then(|t| t.periods)),
        cfs_throttled_periods: n(throttling.and_then(|t| t.throttled_periods)),
        cfs_throttled_seconds: ns(throttling.and_then(|t| t.throttled_time)),
        memory_usage: mem_usage,
        memory_working_set: mem_usage.map(|u| (u - inactive).max(0.0)),
        memory_rss: stat("total_rss", "anon"),
        memory_cache: stat("total_cache", "file"),
        memory_swap: stat("total_swap", "swap"),
        memory_failcnt: n(mem.and_then(|m| m.failcnt)),
        memory_limit: meta.spec_memory,
        cpu_quota: meta.spec_cpu_quota,
        cpu_period: meta.spec_cpu_period.or(Some(100_000.0)),
        cpu_shares: meta.spec_cpu_shares.or(Some(1024.0)),
        oom_kills: None,
        processes: n(s.pids_stats.as_ref().and_then(|p| p.current)),
        io,
    };
    let mut net: Vec<NetDev> = s
        .networks
        .iter()
        .flatten()
        .map(|(name, v)| {
            let f = |x: Option<u64>| x.map_or(0.0, |x| x as f64);
            NetDev {
                interface: name.clone(),
                rx: [
                    f(v.rx_bytes),
                    f(v.rx_packets),
                    f(v.rx_errors),
                    f(v.rx_dropped),
                ],
                tx: [
                    f(v.tx_bytes),
                    f(v.tx_packets),
                    f(v.tx_errors),
                    f(v.tx_dropped),
                ],
            }
        })
        .collect();
    net.sort_by(|a, b| a.interface.cmp(&b.interface));
    (stats, net)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot answer of Docker 20.10 on cgroup v1, trimmed.
    const V1_ANSWER: &str = r#"{"read":"2026-12-02T18:40:00.1Z","preread":"0001-01-01T00:00:00Z",
      "pids_stats":{"current":3,"limit":0},
      "blkio_stats":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"Read","value":4096},{"major":8,"minor":0,"op":"Write","value":8192},{"major":8,"minor":0,"op":"Total","value":12288}]},
      "cpu_stats":{"cpu_usage":{"total_usage":2500000000,"usage_in_kernelmode":500000000,"usage_in_usermode":2000000000},"system_cpu_usage":1,"online_cpus":2,"throttling_data":{"periods":10,"throttled_periods":2,"throttled_time":300000000}},
      "memory_stats":{"usage":10485760,"stats":{"total_inactive_file":1048576,"total_rss":6291456,"total_cache":2097152,"total_swap":0},"limit":33554432,"failcnt":4},
      "name":"/web","id":"abc",
      "networks":{"eth0":{"rx_bytes":100,"rx_packets":2,"rx_errors":0,"rx_dropped":1,"tx_bytes":50,"tx_packets":1,"tx_errors":0,"tx_dropped":0}}}"#;

    #[test]
    fn api_answer_maps_onto_the_cgroup_figures() {
        let s: ContainerStatsResponse = serde_json::from_str(V1_ANSWER).unwrap();
        let meta = Meta {
            spec_memory: Some(33_554_432.0),
            spec_cpu_quota: Some(50_000.0),
            ..Meta::default()
        };
        let (st, net) = to_stats(&s, &meta);
        assert_eq!(st.cpu_usage_seconds, Some(2.5));
        assert_eq!(st.cpu_user_seconds, Some(2.0));
        assert_eq!(st.cpu_system_seconds, Some(0.5));
        assert_eq!(st.cfs_throttled_seconds, Some(0.3));
        assert_eq!(st.memory_working_set, Some(9_437_184.0));
        assert_eq!(st.memory_rss, Some(6_291_456.0));
        assert_eq!(st.memory_failcnt, Some(4.0));
        assert_eq!(st.memory_limit, Some(33_554_432.0));
        assert_eq!(st.cpu_quota, Some(50_000.0));
        assert_eq!(st.processes, Some(3.0));
        assert_eq!(st.io, vec![("8:0".to_string(), 4096.0, 8192.0)]);
        assert_eq!(net.len(), 1);
        assert_eq!(net[0].rx, [100.0, 2.0, 0.0, 1.0]);
    }
}
