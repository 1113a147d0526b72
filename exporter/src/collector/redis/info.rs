//! Pure parsing of Redis `INFO ALL` into redis_exporter's metric names, types and
//! labels. The field table mirrors redis_exporter's naming (observed side by side with
//! Debian's prometheus-redis-exporter 1.45 on Redis 7.0).

use std::collections::BTreeMap;

use crate::metrics::{Family, Kind};

/// How an INFO field becomes a metric.
#[derive(Clone, Copy)]
enum Conv {
    /// The number as it is.
    Plain,
    /// Microseconds to seconds.
    Usec,
    /// `ok` → 1, anything else → 0.
    Ok,
}

/// INFO field → (metric name without `redis_`, type, conversion).
const FIELDS: &[(&str, &str, Kind, Conv)] = {
    use Conv::{Ok as O, Plain as P, Usec as U};
    use Kind::{Counter as C, Gauge as G};
    &[
        // Server
        ("uptime_in_seconds", "uptime_in_seconds", G, P),
        ("process_id", "process_id", G, P),
        ("io_threads_active", "io_threads_active", G, P),
        // Clients
        ("connected_clients", "connected_clients", G, P),
        ("blocked_clients", "blocked_clients", G, P),
        ("tracking_clients", "tracking_clients", G, P),
        ("clients_in_timeout_table", "clients_in_timeout_table", G, P),
        ("cluster_connections", "cluster_connections", G, P),
        ("maxclients", "config_maxclients", G, P),
        (
            "client_recent_max_input_buffer",
            "client_recent_max_input_buffer_bytes",
            G,
            P,
        ),
        (
            "client_recent_max_output_buffer",
            "client_recent_max_output_buffer_bytes",
            G,
            P,
        ),
        // Memory
        ("used_memory", "memory_used_bytes", G, P),
        ("used_memory_rss", "memory_used_rss_bytes", G, P),
        ("used_memory_peak", "memory_used_peak_bytes", G, P),
        ("used_memory_lua", "memory_used_lua_bytes", G, P),
        ("used_memory_overhead", "memory_used_overhead_bytes", G, P),
        ("used_memory_startup", "memory_used_startup_bytes", G, P),
        ("used_memory_dataset", "memory_used_dataset_bytes", G, P),
        ("used_memory_scripts", "memory_used_scripts_bytes", G, P),
        ("maxmemory", "memory_max_bytes", G, P),
        ("number_of_cached_scripts", "number_of_cached_scripts", G, P),
        ("allocator_allocated", "allocator_allocated_bytes", G, P),
        ("allocator_active", "allocator_active_bytes", G, P),
        ("allocator_resident", "allocator_resident_bytes", G, P),
        ("allocator_frag_ratio", "allocator_frag_ratio", G, P),
        ("allocator_frag_bytes", "allocator_frag_bytes", G, P),
        ("allocator_rss_ratio", "allocator_rss_ratio", G, P),
        ("allocator_rss_bytes", "allocator_rss_bytes", G, P),
        ("mem_fragmentation_ratio", "mem_fragmentation_ratio", G, P),
        ("mem_fragmentation_bytes", "mem_fragmentation_bytes", G, P),
        (
            "mem_not_counted_for_evict",
            "mem_not_counted_for_eviction_bytes",
            G,
            P,
        ),
        ("mem_clients_slaves", "mem_clients_slaves", G, P),
        ("mem_clients_normal", "mem_clients_normal", G, P),
        ("active_defrag_running", "active_defrag_running", G, P),
        ("lazyfree_pending_objects", "lazyfree_pending_objects", G, P),
        // Persistence
        ("loading", "loading_dump_file", G, P),
        (
            "rdb_changes_since_last_save",
            "rdb_changes_since_last_save",
            G,
            P,
        ),
        ("rdb_bgsave_in_progress", "rdb_bgsave_in_progress", G, P),
        (
            "rdb_last_save_time",
            "rdb_last_save_timestamp_seconds",
            G,
            P,
        ),
        ("rdb_last_bgsave_status", "rdb_last_bgsave_status", G, O),
        (
            "rdb_last_bgsave_time_sec",
            "rdb_last_bgsave_duration_sec",
            G,
            P,
        ),
        (
            "rdb_current_bgsave_time_sec",
            "rdb_current_bgsave_duration_sec",
            G,
            P,
        ),
        ("rdb_last_cow_size", "rdb_last_cow_size_bytes", G, P),
        ("aof_enabled", "aof_enabled", G, P),
        ("aof_rewrite_in_progress", "aof_rewrite_in_progress", G, P),
        ("aof_rewrite_scheduled", "aof_rewrite_scheduled", G, P),
        (
            "aof_last_rewrite_time_sec",
            "aof_last_rewrite_duration_sec",
            G,
            P,
        ),
        (
            "aof_current_rewrite_time_sec",
            "aof_current_rewrite_duration_sec",
            G,
            P,
        ),
        (
            "aof_last_bgrewrite_status",
            "aof_last_bgrewrite_status",
            G,
            O,
        ),
        ("aof_last_write_status", "aof_last_write_status", G, O),
        ("aof_last_cow_size", "aof_last_cow_size_bytes", G, P),
        ("module_fork_in_progress", "module_fork_in_progress", G, P),
        (
            "module_fork_last_cow_size",
            "module_fork_last_cow_size",
            G,
            P,
        ),
        // Stats
        (
            "total_connections_received",
            "connections_received_total",
            C,
            P,
        ),
        ("total_commands_processed", "commands_processed_total", C, P),
        ("total_net_input_bytes", "net_input_bytes_total", C, P),
        ("total_net_output_bytes", "net_output_bytes_total", C, P),
        ("rejected_connections", "rejected_connections_total", C, P),
        ("sync_full", "replica_resyncs_full", G, P),
        ("sync_partial_ok", "replica_partial_resync_accepted", G, P),
        ("sync_partial_err", "replica_partial_resync_denied", G, P),
        ("expired_keys", "expired_keys_total", C, P),
        ("expired_stale_perc", "expired_stale_percentage", G, P),
        (
            "expired_time_cap_reached_count",
            "expired_time_cap_reached_total",
            G,
            P,
        ),
        ("evicted_keys", "evicted_keys_total", C, P),
        ("keyspace_hits", "keyspace_hits_total", C, P),
        ("keyspace_misses", "keyspace_misses_total", C, P),
        ("pubsub_channels", "pubsub_channels", G, P),
        ("pubsub_patterns", "pubsub_patterns", G, P),
        ("latest_fork_usec", "latest_fork_seconds", G, U),
        (
            "migrate_cached_sockets",
            "migrate_cached_sockets_total",
            G,
            P,
        ),
        (
            "slave_expires_tracked_keys",
            "slave_expires_tracked_keys",
            G,
            P,
        ),
        ("active_defrag_hits", "defrag_hits", G, P),
        ("active_defrag_misses", "defrag_misses", G, P),
        ("active_defrag_key_hits", "defrag_key_hits", G, P),
        ("active_defrag_key_misses", "defrag_key_misses", G, P),
        ("tracking_total_keys", "tracking_total_keys", G, P),
        ("tracking_total_items", "tracking_total_items", G, P),
        ("tracking_total_prefixes", "tracking_total_prefixes", G, P),
        ("unexpected_error_replies", "unexpected_error_replies", C, P),
        ("total_error_replies", "total_error_replies", C, P),
        (
            "dump_payload_sanitizations",
            "dump_payload_sanitizations",
            C,
            P,
        ),
        ("total_reads_processed", "total_reads_processed", C, P),
        ("total_writes_processed", "total_writes_processed", C, P),
        (
            "io_threaded_reads_processed",
            "io_threaded_reads_processed",
            C,
            P,
        ),
        (
            "io_threaded_writes_processed",
            "io_threaded_writes_processed",
            C,
            P,
        ),
        // Replication
        ("connected_slaves", "connected_slaves", G, P),
        ("master_repl_offset", "master_repl_offset", G, P),
        ("second_repl_offset", "second_repl_offset", G, P),
        ("repl_backlog_active", "repl_backlog_is_active", G, P),
        ("repl_backlog_size", "replication_backlog_bytes", G, P),
        (
            "repl_backlog_first_byte_offset",
            "repl_backlog_first_byte_offset",
            G,
            P,
        ),
        ("repl_backlog_histlen", "repl_backlog_history_bytes", G, P),
        (
            "master_last_io_seconds_ago",
            "master_last_io_seconds_ago",
            G,
            P,
        ),
        ("master_sync_in_progress", "master_sync_in_progress", G, P),
        ("slave_repl_offset", "slave_repl_offset", G, P),
        ("slave_priority", "slave_priority", G, P),
        ("slave_read_only", "slave_read_only", G, P),
        // CPU
        ("used_cpu_sys", "cpu_sys_seconds_total", C, P),
        ("used_cpu_user", "cpu_user_seconds_total", C, P),
        (
            "used_cpu_sys_children",
            "cpu_sys_children_seconds_total",
            C,
            P,
        ),
        (
            "used_cpu_user_children",
            "cpu_user_children_seconds_total",
            C,
            P,
        ),
        (
            "used_cpu_sys_main_thread",
            "cpu_sys_main_thread_seconds_total",
            C,
            P,
        ),
        (
            "used_cpu_user_main_thread",
            "cpu_user_main_thread_seconds_total",
            C,
            P,
        ),
        // Cluster
        ("cluster_enabled", "cluster_enabled", G, P),
    ]
};

/// `INFO ALL` as `field → value`, one map per section is not needed: field names are
/// unique across sections.
pub fn parse_info(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .collect()
}

/// `a=1,b=x` → pairs.
fn kv(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(',').filter_map(|p| p.split_once('='))
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// Every metric INFO gives, under redis_exporter's names. `now_secs` is the scrape time
/// (for `redis_start_time_seconds`).
pub fn info_families(info: &BTreeMap<&str, &str>, now_secs: f64) -> Vec<Family> {
    let mut out = Vec::with_capacity(FIELDS.len() + 16);
    for (field, name, kind, conv) in FIELDS {
        let Some(raw) = info.get(field) else { continue };
        let value = match conv {
            Conv::Plain => num(raw),
            Conv::Usec => num(raw).map(|v| v / 1e6),
            Conv::Ok => Some(if *raw == "ok" { 1.0 } else { 0.0 }),
        };
        let Some(value) = value else { continue };
        let name = format!("redis_{name}");
        let help = format!("{} metric", name.trim_start_matches("redis_"));
        out.push(Family::new(name, help, *kind).single(value));
    }
    if let Some(up) = info.get("uptime_in_seconds").and_then(|v| num(v)) {
        out.push(
            Family::gauge(
                "redis_start_time_seconds",
                "Start time of the Redis instance since unix epoch in seconds.",
            )
            .single((now_secs - up).floor()),
        );
    }
    if let Some(max) = info.get("maxmemory").and_then(|v| num(v)) {
        out.push(Family::gauge("redis_config_maxmemory", "config_maxmemory metric").single(max));
    }
    if info.get("role") == Some(&"slave") {
        let up = info.get("master_link_status") == Some(&"up");
        out.push(
            Family::gauge("redis_master_link_up", "master_link_up metric").single(if up {
                1.0
            } else {
                0.0
            }),
        );
    }
    let mut info_labels: Vec<(&str, String)> = Vec::new();
    for (label, field) in [
        ("maxmemory_policy", "maxmemory_policy"),
        ("os", "os"),
        ("process_id", "process_id"),
        ("redis_build_id", "redis_build_id"),
        ("redis_mode", "redis_mode"),
        ("redis_version", "redis_version"),
        ("role", "role"),
        ("run_id", "run_id"),
        ("tcp_port", "tcp_port"),
    ] {
        info_labels.push((label, info.get(field).copied().unwrap_or("").to_string()));
    }
    let mut f = Family::gauge(
        "redis_instance_info",
        "Information about the Redis instance",
    );
    f.push(info_labels, 1.0);
    out.push(f);

    out.extend(commandstats(info));
    out.extend(errorstats(info));
    out.extend(slaves(info));
    out
}

/// `cmdstat_get:calls=1,usec=8,...` → per-command counters.
fn commandstats(info: &BTreeMap<&str, &str>) -> Vec<Family> {
    let mut calls = Family::counter("redis_commands_total", "Total number of calls per command");
    let mut usec = Family::counter(
        "redis_commands_duration_seconds_total",
        "Total amount of time in seconds spent per command",
    );
    let mut rejected = Family::counter(
        "redis_commands_rejected_calls_total",
        "Total number of errors prior command execution per command",
    );
    let mut failed = Family::counter(
        "redis_commands_failed_calls_total",
        "Total number of errors within command execution per command",
    );
    for (k, v) in info.iter().filter(|(k, _)| k.starts_with("cmdstat_")) {
        let cmd = k.trim_start_matches("cmdstat_");
        for (field, value) in kv(v) {
            let Some(x) = num(value) else { continue };
            let labels = [("cmd", cmd)];
            match field {
                "calls" => calls.push(labels, x),
                "usec" => usec.push(labels, x / 1e6),
                "rejected_calls" => rejected.push(labels, x),
                "failed_calls" => failed.push(labels, x),
                _ => continue,
            };
        }
    }
    vec![calls, usec, rejected, failed]
}

/// `errorstat_ERR:count=3` → `redis_errors_total{err}`.
fn errorstats(info: &BTreeMap<&str, &str>) -> Vec<Family> {
    let mut f = Family::counter(
        "redis_errors_total",
        "Total number of errors per error type",
    );
    for (k, v) in info.iter().filter(|(k, _)| k.starts_with("errorstat_")) {
        if let Some(c) = kv(v).find(|(f, _)| *f == "count").and_then(|(_, c)| num(c)) {
            f.push([("err", k.trim_start_matches("errorstat_"))], c);
        }
    }
    if f.samples.is_empty() {
        Vec::new()
    } else {
        vec![f]
    }
}

/// `slave0:ip=..,port=..,state=online,offset=..,lag=..` on a master.
fn slaves(info: &BTreeMap<&str, &str>) -> Vec<Family> {
    let mut offset = Family::gauge(
        "redis_connected_slave_offset_bytes",
        "Offset of connected slave",
    );
    let mut lag = Family::gauge(
        "redis_connected_slave_lag_seconds",
        "Lag of connected slave",
    );
    for (k, v) in info.iter() {
        // `slave0`, `slave1`, …; not `slave_repl_offset` and the other `slave…` fields.
        let is_slave = k
            .strip_prefix("slave")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if !is_slave {
            continue;
        }
        let fields: BTreeMap<&str, &str> = kv(v).collect();
        let labels = [
            ("slave_ip", fields.get("ip").copied().unwrap_or("")),
            ("slave_port", fields.get("port").copied().unwrap_or("")),
            ("slave_state", fields.get("state").copied().unwrap_or("")),
        ];
        if let Some(o) = fields.get("offset").and_then(|o| num(o)) {
            offset.push(labels, o);
        }
        if let Some(l) = fields.get("lag").and_then(|l| num(l)) {
            lag.push(labels, l);
        }
    }
    [offset, lag]
        .into_iter()
        .filter(|f| !f.samples.is_empty())
        .collect()
}

/// `db0:keys=1,expires=1,avg_ttl=996749` for each db; dbs absent from INFO keyspace
/// get `keys` and `expiring` 0 up to `databases`, as redis_exporter reports them.
pub fn keyspace_families(info: &BTreeMap<&str, &str>, databases: u32) -> Vec<Family> {
    let mut keys = Family::gauge("redis_db_keys", "Total number of keys by DB");
    let mut expiring = Family::gauge(
        "redis_db_keys_expiring",
        "Total number of expiring keys by DB",
    );
    let mut ttl = Family::gauge("redis_db_avg_ttl_seconds", "Avg TTL in seconds");
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in info.iter() {
        let Some(n) = k.strip_prefix("db").and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let f: BTreeMap<&str, &str> = kv(v).collect();
        let db = format!("db{n}");
        keys.push(
            [("db", db.as_str())],
            f.get("keys").and_then(|x| num(x)).unwrap_or(0.0),
        );
        expiring.push(
            [("db", db.as_str())],
            f.get("expires").and_then(|x| num(x)).unwrap_or(0.0),
        );
        if let Some(t) = f.get("avg_ttl").and_then(|x| num(x)) {
            ttl.push([("db", db.as_str())], t / 1000.0);
        }
        seen.insert(n);
    }
    for n in (0..databases).filter(|n| !seen.contains(n)) {
        let db = format!("db{n}");
        keys.push([("db", db.as_str())], 0.0);
        expiring.push([("db", db.as_str())], 0.0);
    }
    vec![keys, expiring, ttl]
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = include_str!("../../../tests/fixtures/redis/info-7.0.txt");

    fn value(fams: &[Family], name: &str) -> Option<f64> {
        fams.iter()
            .find(|f| f.name == name)
            .and_then(|f| f.samples.first())
            .map(|s| match s.value {
                crate::metrics::Value::Scalar(v) => v,
                crate::metrics::Value::Histogram { .. } => f64::NAN,
            })
    }

    #[test]
    fn maps_info_fields_to_redis_exporter_names() {
        let info = parse_info(INFO);
        let f = info_families(&info, 2_000_000_000.0);
        assert_eq!(value(&f, "redis_connected_clients"), Some(1.0));
        assert_eq!(value(&f, "redis_memory_max_bytes"), Some(0.0));
        assert_eq!(value(&f, "redis_config_maxclients"), Some(10000.0));
        assert_eq!(value(&f, "redis_rdb_last_bgsave_status"), Some(1.0));
        assert!(value(&f, "redis_memory_used_bytes").is_some_and(|v| v > 0.0));
        let cmds = f
            .iter()
            .find(|f| f.name == "redis_commands_total")
            .expect("commandstats");
        assert!(
            cmds.samples
                .iter()
                .any(|s| s.labels == [("cmd".to_string(), "set".to_string())])
        );
        let info_metric = f
            .iter()
            .find(|f| f.name == "redis_instance_info")
            .expect("info");
        assert!(
            info_metric.samples[0]
                .labels
                .contains(&("redis_version".to_string(), "7.0.15".to_string()))
        );
    }

    #[test]
    fn keyspace_fills_empty_dbs() {
        let info = parse_info(
            "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=5000\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n",
        );
        let f = keyspace_families(&info, 4);
        assert_eq!(f[0].samples.len(), 4);
        assert_eq!(f[2].samples[0].value, crate::metrics::Value::Scalar(5.0));
    }

    fn sample(fams: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let f = fams.iter().find(|f| f.name == name)?;
        f.samples
            .iter()
            .find(|s| {
                s.labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .eq(labels.iter().copied())
            })
            .map(|s| match s.value {
                crate::metrics::Value::Scalar(v) => v,
                crate::metrics::Value::Histogram { .. } => f64::NAN,
            })
    }

    /// The sections that are not plain `field:number`, with values that tell a wrong
    /// column or unit apart.
    #[test]
    fn reads_replication_command_and_error_sections() {
        let info = parse_info(
            "# Server\r\n#x:1\r\nuptime_in_seconds:100\r\nlatest_fork_usec:2500000\r\n\
             # Replication\r\nrole:slave\r\nmaster_link_status:up\r\n\
             slave0:ip=10.0.0.2,port=6380,state=online,offset=1234,lag=2\r\nslaves:9\r\n\
             # Commandstats\r\n\
             cmdstat_get:calls=7,usec=3000000,usec_per_call=1.5,rejected_calls=2,failed_calls=1\r\n\
             # Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_WRONGTYPE:count=0\r\n",
        );
        assert_eq!(info.get("#x"), None, "a comment is not a field");
        let f = info_families(&info, 1_000.0);
        assert_eq!(value(&f, "redis_start_time_seconds"), Some(900.0));
        assert_eq!(value(&f, "redis_latest_fork_seconds"), Some(2.5));
        assert_eq!(value(&f, "redis_master_link_up"), Some(1.0));
        let get = [("cmd", "get")];
        assert_eq!(sample(&f, "redis_commands_total", &get), Some(7.0));
        assert_eq!(
            sample(&f, "redis_commands_duration_seconds_total", &get),
            Some(3.0)
        );
        assert_eq!(
            sample(&f, "redis_commands_rejected_calls_total", &get),
            Some(2.0)
        );
        assert_eq!(
            sample(&f, "redis_commands_failed_calls_total", &get),
            Some(1.0)
        );
        assert_eq!(
            sample(&f, "redis_errors_total", &[("err", "ERR")]),
            Some(3.0)
        );
        assert_eq!(
            sample(&f, "redis_errors_total", &[("err", "WRONGTYPE")]),
            Some(0.0)
        );
        let slave = [
            ("slave_ip", "10.0.0.2"),
            ("slave_port", "6380"),
            ("slave_state", "online"),
        ];
        assert_eq!(
            sample(&f, "redis_connected_slave_offset_bytes", &slave),
            Some(1234.0)
        );
        assert_eq!(
            sample(&f, "redis_connected_slave_lag_seconds", &slave),
            Some(2.0)
        );
        let slaves = f
            .iter()
            .find(|f| f.name == "redis_connected_slave_lag_seconds");
        assert_eq!(
            slaves.map(|f| f.samples.len()),
            Some(1),
            "`slaves:` is not a replica"
        );

        let down = parse_info("role:slave\r\nmaster_link_status:down\r\n");
        let f = info_families(&down, 0.0);
        assert_eq!(value(&f, "redis_master_link_up"), Some(0.0));
        let master = parse_info("role:master\r\nmaster_link_status:up\r\n");
        assert_eq!(
            value(&info_families(&master, 0.0), "redis_master_link_up"),
            None
        );
    }

    #[test]
    fn keyspace_adds_only_the_missing_dbs() {
        let info = parse_info("db1:keys=2,expires=0,avg_ttl=0\r\n");
        let f = keyspace_families(&info, 3);
        let dbs: Vec<&str> = f[0]
            .samples
            .iter()
            .map(|s| s.labels[0].1.as_str())
            .collect();
        assert_eq!(dbs, ["db1", "db0", "db2"]);
    }
}
