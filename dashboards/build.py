#!/usr/bin/env python3
"""Builds the Grafana dashboards in this directory from one description, so that every panel
follows the same rules: the `datasource` variable on every query, `$__rate_interval` in every
rate, `job`/`instance` variables, and links between the dashboards.

    python3 dashboards/build.py          # rewrite the JSON files
    python3 dashboards/build.py --check  # fail if a JSON file differs from what this builds
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA = 39


def target(expr, legend="", ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
    if instant:
        t["instant"] = True
        t["range"] = False
    return t


def _targets(exprs, instant=False):
    out = []
    for i, e in enumerate(exprs):
        expr, legend = e if isinstance(e, tuple) else (e, "")
        out.append(target(expr, legend, chr(ord("A") + i), instant))
    return out


def timeseries(title, exprs, unit="short", desc="", w=12, h=8, stack=False, minimum=None):
    defaults = {"unit": unit, "custom": {"fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}}
    if stack:
        defaults["custom"]["stacking"] = {"mode": "normal", "group": "A"}
    if minimum is not None:
        defaults["min"] = minimum
    return {
        "type": "timeseries", "title": title, "description": desc, "datasource": DS,
        "targets": _targets(exprs),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "_size": (w, h),
    }


def stat(title, expr, unit="short", desc="", steps=None, w=4, h=4, mappings=None, legend=""):
    steps = steps or [("green", None)]
    return {
        "type": "stat", "title": title, "description": desc, "datasource": DS,
        "targets": _targets([(expr, legend)], instant=True),
        "fieldConfig": {"defaults": {
            "unit": unit,
            "mappings": mappings or [],
            "thresholds": {"mode": "absolute",
                           "steps": [{"color": c, "value": v} for c, v in steps]},
        }, "overrides": []},
        "options": {"colorMode": "background", "graphMode": "none", "justifyMode": "auto",
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "textMode": "auto"},
        "_size": (w, h),
    }


def table(title, exprs, desc="", w=24, h=8):
    return {
        "type": "table", "title": title, "description": desc, "datasource": DS,
        "targets": [dict(t, format="table") for t in _targets(exprs, instant=True)],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
        "transformations": [{"id": "merge", "options": {}}],
        "_size": (w, h),
    }


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_size": (24, 1)}


UP_DOWN = [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                         "1": {"text": "UP", "color": "green"}}}]


def query_var(name, query, label, multi=True, include_all=True, hide=0):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "definition": query, "refresh": 2, "sort": 1, "hide": hide,
        "multi": multi, "includeAll": include_all, "allValue": ".+" if include_all else None,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "options": [],
    }


def datasource_var():
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "refresh": 1, "hide": 0, "current": {}, "options": []}


def layout(panels):
    out, x, y, row_h, pid = [], 0, 0, 0, 1
    for p in panels:
        w, h = p.pop("_size")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        p["id"] = pid
        pid += 1
        out.append(p)
        x += w
        row_h = max(row_h, h)
        if w == 24:
            x, y, row_h = 0, y + row_h, 0
    return out


def dashboard(uid, title, desc, panels, variables):
    return {
        "uid": uid, "title": title, "description": desc,
        "tags": ["exporter-alerter"], "timezone": "browser", "editable": True,
        "graphTooltip": 1, "refresh": "30s", "schemaVersion": SCHEMA, "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource_var()] + variables},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["exporter-alerter"], "asDropdown": True,
                   "title": "Stack dashboards", "includeVars": True, "keepTime": True}],
        "panels": layout(panels),
    }


# The exporter serves every family from one target; `job` picks it, `instance` the host.
def host_vars(metric="node_uname_info"):
    return [query_var("job", f"label_values({metric}, job)", "Job"),
            query_var("instance", f'label_values({metric}{{job=~"$job"}}, instance)', "Instance")]


SEL = 'job=~"$job", instance=~"$instance"'
RI = "$__rate_interval"


def host():
    cpu_busy = f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle", {SEL}}}[{RI}]))'
    mem_used = (f'1 - node_memory_MemAvailable_bytes{{{SEL}}} / node_memory_MemTotal_bytes{{{SEL}}}')
    fs = f'{SEL}, fstype!~"tmpfs|overlay|squashfs|ramfs"'
    disk_used = (f'max by (instance) (1 - node_filesystem_avail_bytes{{{fs}}} '
                 f'/ node_filesystem_size_bytes{{{fs}}})')
    pct = [("green", None), ("orange", 0.8), ("red", 0.9)]
    return dashboard("ea-host", "Host", "The server: CPU, memory, disks, network, pressure.", [
        stat("Uptime", f"time() - node_boot_time_seconds{{{SEL}}}", "s"),
        stat("CPU busy", cpu_busy, "percentunit", steps=pct),
        stat("Memory used", mem_used, "percentunit", steps=pct),
        stat("Fullest filesystem", disk_used, "percentunit", steps=pct),
        stat("Load (5m) per CPU",
             f'node_load5{{{SEL}}} / on (instance) count by (instance) (node_cpu_seconds_total{{mode="idle", {SEL}}})',
             "short", steps=[("green", None), ("orange", 1), ("red", 2)]),
        stat("OOM kills (24h)", f"increase(node_vmstat_oom_kill{{{SEL}}}[24h])", "short",
             steps=[("green", None), ("red", 1)]),
        row("CPU and memory"),
        timeseries("CPU by mode", [(f'sum by (mode) (rate(node_cpu_seconds_total{{mode!="idle", {SEL}}}[{RI}]))'
                                    f' / on () group_left count(node_cpu_seconds_total{{mode="idle", {SEL}}})', "{{mode}}")],
                   "percentunit", stack=True, minimum=0),
        timeseries("Load", [(f"node_load1{{{SEL}}}", "1m"), (f"node_load5{{{SEL}}}", "5m"),
                            (f"node_load15{{{SEL}}}", "15m")]),
        timeseries("Memory", [
            (f"node_memory_MemTotal_bytes{{{SEL}}} - node_memory_MemAvailable_bytes{{{SEL}}}", "used"),
            (f"node_memory_Cached_bytes{{{SEL}}} + node_memory_Buffers_bytes{{{SEL}}}", "cache + buffers"),
            (f"node_memory_MemAvailable_bytes{{{SEL}}}", "available"),
            (f"node_memory_SwapTotal_bytes{{{SEL}}} - node_memory_SwapFree_bytes{{{SEL}}}", "swap used")],
            "bytes", minimum=0),
        timeseries("Pressure (share of time stalled)", [
            (f"rate(node_pressure_cpu_waiting_seconds_total{{{SEL}}}[{RI}])", "cpu waiting"),
            (f"rate(node_pressure_memory_waiting_seconds_total{{{SEL}}}[{RI}])", "memory waiting"),
            (f"rate(node_pressure_io_waiting_seconds_total{{{SEL}}}[{RI}])", "io waiting")],
            "percentunit", minimum=0),
        row("Disks"),
        timeseries("Filesystem used", [(f"1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}",
                                        "{{mountpoint}}")], "percentunit", minimum=0),
        timeseries("Disk throughput", [
            (f"rate(node_disk_read_bytes_total{{{SEL}}}[{RI}])", "{{device}} read"),
            (f"-rate(node_disk_written_bytes_total{{{SEL}}}[{RI}])", "{{device}} write")], "Bps"),
        timeseries("Disk busy", [(f"rate(node_disk_io_time_seconds_total{{{SEL}}}[{RI}])", "{{device}}")],
                   "percentunit", minimum=0),
        timeseries("Inodes used", [(f"1 - node_filesystem_files_free{{{fs}}} / node_filesystem_files{{{fs}}}",
                                    "{{mountpoint}}")], "percentunit", minimum=0),
        row("Network"),
        timeseries("Network traffic", [
            (f'rate(node_network_receive_bytes_total{{device!="lo", {SEL}}}[{RI}])', "{{device}} in"),
            (f'-rate(node_network_transmit_bytes_total{{device!="lo", {SEL}}}[{RI}])', "{{device}} out")], "Bps"),
        timeseries("Network errors and drops", [
            (f'rate(node_network_receive_errs_total{{device!="lo", {SEL}}}[{RI}])', "{{device}} rx errors"),
            (f'rate(node_network_transmit_errs_total{{device!="lo", {SEL}}}[{RI}])', "{{device}} tx errors"),
            (f'rate(node_network_receive_drop_total{{device!="lo", {SEL}}}[{RI}])', "{{device}} rx drops")], "pps"),
        timeseries("TCP", [(f"node_netstat_Tcp_CurrEstab{{{SEL}}}", "established"),
                           (f"node_sockstat_TCP_tw{{{SEL}}}", "time-wait"),
                           (f"rate(node_netstat_Tcp_RetransSegs{{{SEL}}}[{RI}])", "retransmits/s")]),
        timeseries("Conntrack and file handles", [
            (f"node_nf_conntrack_entries{{{SEL}}} / node_nf_conntrack_entries_limit{{{SEL}}}", "conntrack"),
            (f"node_filefd_allocated{{{SEL}}} / node_filefd_maximum{{{SEL}}}", "file handles")],
            "percentunit", minimum=0),
        row("Time"),
        timeseries("Clock offset", [(f"node_timex_offset_seconds{{{SEL}}}", "offset"),
                                    (f"node_timex_maxerror_seconds{{{SEL}}}", "max error")], "s"),
        timeseries("Collectors", [(f"1 - node_scrape_collector_success{{{SEL}}}", "{{collector}} failed"),
                                  (f"node_scrape_collector_duration_seconds{{{SEL}}}", "{{collector}} duration")], "short"),
    ], host_vars())


def containers():
    sel = f'{SEL}, name=~"$container"'
    variables = host_vars("container_exporter_stats_source") + [
        query_var("container", f'label_values(container_last_seen{{{SEL}}}, name)', "Container")]
    return dashboard("ea-containers", "Containers", "Docker containers: CPU, memory against the limit, restarts, OOM kills, health.", [
        stat("Running", f'count(container_state{{state="running", {sel}}} == 1)', "short"),
        stat("Not running", f'count(container_state{{state!="running", {sel}}} == 1) or vector(0)', "short",
             steps=[("green", None), ("red", 1)]),
        stat("Unhealthy", f'count(container_health_status{{status="unhealthy", {sel}}} == 1) or vector(0)', "short",
             steps=[("green", None), ("red", 1)]),
        stat("Restarts (1h)", f"sum(increase(container_restarts_total{{{sel}}}[1h])) or vector(0)", "short",
             steps=[("green", None), ("orange", 1), ("red", 3)]),
        stat("OOM kills (24h)", f"sum(increase(container_oom_events_total{{{sel}}}[24h])) or vector(0)", "short",
             steps=[("green", None), ("red", 1)]),
        stat("Collector", f"1 - max(container_scrape_error{{{SEL}}})", "short", mappings=UP_DOWN,
             steps=[("red", None), ("green", 1)]),
        timeseries("CPU (cores)", [(f"rate(container_cpu_usage_seconds_total{{{sel}}}[{RI}])", "{{name}}")], "short", minimum=0),
        timeseries("CPU throttled", [(f"rate(container_cpu_cfs_throttled_periods_total{{{sel}}}[{RI}]) "
                                      f"/ rate(container_cpu_cfs_periods_total{{{sel}}}[{RI}])", "{{name}}")],
                   "percentunit", minimum=0),
        timeseries("Memory working set", [(f"container_memory_working_set_bytes{{{sel}}}", "{{name}}")], "bytes", minimum=0),
        timeseries("Memory against limit", [(f"container_memory_working_set_bytes{{{sel}}} "
                                             f"/ (container_spec_memory_limit_bytes{{{sel}}} > 0)", "{{name}}")],
                   "percentunit", minimum=0,
                   desc="Only containers with a memory limit; the OOM killer acts at 100%."),
        timeseries("Network", [(f"rate(container_network_receive_bytes_total{{{sel}}}[{RI}])", "{{name}} in"),
                               (f"-rate(container_network_transmit_bytes_total{{{sel}}}[{RI}])", "{{name}} out")], "Bps"),
        timeseries("Block I/O", [(f"rate(container_fs_reads_bytes_total{{{sel}}}[{RI}])", "{{name}} read"),
                                 (f"-rate(container_fs_writes_bytes_total{{{sel}}}[{RI}])", "{{name}} write")], "Bps"),
        table("Containers", [(f"container_start_time_seconds{{{sel}}} * 1000", "started"),
                             (f"container_restarts_total{{{sel}}}", "restarts"),
                             (f"container_last_exit_code{{{sel}}}", "last exit code")]),
    ], variables)


def redis():
    variables = host_vars("redis_up")
    return dashboard("ea-redis", "Redis", "Redis: up, memory, clients, commands, hit ratio, keys.", [
        stat("Redis", f"redis_up{{{SEL}}}", mappings=UP_DOWN, steps=[("red", None), ("green", 1)]),
        stat("Uptime", f"time() - redis_start_time_seconds{{{SEL}}}", "s"),
        stat("Memory used", f"redis_memory_used_bytes{{{SEL}}}", "bytes"),
        stat("Memory of maxmemory", f"redis_memory_used_bytes{{{SEL}}} / (redis_memory_max_bytes{{{SEL}}} > 0)",
             "percentunit", steps=[("green", None), ("orange", 0.8), ("red", 0.9)],
             desc="Empty when Redis has no maxmemory."),
        stat("Clients", f"redis_connected_clients{{{SEL}}}"),
        stat("Keys", f"sum by (instance) (redis_db_keys{{{SEL}}})"),
        timeseries("Commands per second", [(f"sum by (cmd) (rate(redis_commands_total{{{SEL}}}[{RI}]))", "{{cmd}}")],
                   "ops", stack=True, minimum=0),
        timeseries("Hit ratio", [(f"rate(redis_keyspace_hits_total{{{SEL}}}[{RI}]) / (rate(redis_keyspace_hits_total{{{SEL}}}[{RI}]) "
                                  f"+ rate(redis_keyspace_misses_total{{{SEL}}}[{RI}]))", "hits")], "percentunit"),
        timeseries("Memory", [(f"redis_memory_used_bytes{{{SEL}}}", "used"),
                              (f"redis_memory_used_rss_bytes{{{SEL}}}", "rss"),
                              (f"redis_memory_max_bytes{{{SEL}}} > 0", "maxmemory")], "bytes", minimum=0),
        timeseries("Clients", [(f"redis_connected_clients{{{SEL}}}", "connected"),
                               (f"redis_blocked_clients{{{SEL}}}", "blocked"),
                               (f"rate(redis_rejected_connections_total{{{SEL}}}[{RI}])", "rejected/s")]),
        timeseries("Keys per database", [(f"redis_db_keys{{{SEL}}}", "{{db}}"),
                                         (f"redis_db_keys_expiring{{{SEL}}}", "{{db}} expiring")]),
        timeseries("Expired and evicted keys", [(f"rate(redis_expired_keys_total{{{SEL}}}[{RI}])", "expired"),
                                                (f"rate(redis_evicted_keys_total{{{SEL}}}[{RI}])", "evicted")], "ops"),
        timeseries("Network", [(f"rate(redis_net_input_bytes_total{{{SEL}}}[{RI}])", "in"),
                               (f"-rate(redis_net_output_bytes_total{{{SEL}}}[{RI}])", "out")], "Bps"),
        timeseries("Errors and slow log", [(f"sum by (err) (rate(redis_errors_total{{{SEL}}}[{RI}]))", "{{err}}"),
                                           (f"redis_slowlog_length{{{SEL}}}", "slowlog entries")]),
    ], variables)


def celery():
    variables = host_vars("celery_broker_up") + [
        query_var("queue", f'label_values(celery_queue_length{{{SEL}}}, queue_name)', "Queue")]
    q = f'{SEL}, queue_name=~"$queue"'
    return dashboard("ea-celery", "Celery", "Celery on a Redis broker: queues, workers, task outcomes and runtimes.", [
        stat("Broker", f"celery_broker_up{{{SEL}}}", mappings=UP_DOWN, steps=[("red", None), ("green", 1)]),
        stat("Queued tasks", f"sum(celery_queue_length{{{q}}})", steps=[("green", None), ("orange", 50), ("red", 100)]),
        stat("Workers up", f"sum(celery_worker_up{{{SEL}}}) or vector(0)", steps=[("red", None), ("green", 1)]),
        stat("Failed (1h)", f"sum(increase(celery_task_failed_total{{{SEL}}}[1h])) or vector(0)",
             steps=[("green", None), ("red", 1)]),
        stat("Not registered (1h)",
             f'sum(increase(celery_task_failed_total{{exception="NotRegistered", {SEL}}}[1h])) or vector(0)',
             steps=[("green", None), ("red", 1)],
             desc="Tasks sent to workers that do not know them: a deploy with old workers, usually."),
        stat("Events subscribed", f"celery_events_subscribed{{{SEL}}}", mappings=UP_DOWN,
             steps=[("red", None), ("green", 1)]),
        timeseries("Queue length", [(f"celery_queue_length{{{q}}}", "{{queue_name}}")], minimum=0),
        timeseries("Unacked (taken by a worker, not done)", [(f"celery_queue_unacked{{{SEL}}}", "unacked"),
                                                             (f"celery_queue_unacked_oldest_age_seconds{{{SEL}}}", "oldest age (s)")]),
        timeseries("Task outcomes", [
            # A counter appears with its first event: none yet is a rate of 0.
            (f"sum(rate(celery_task_{o}_total{{{SEL}}}[{RI}])) or vector(0)", o)
            for o in ["succeeded", "failed", "retried", "rejected", "revoked"]],
            "ops", minimum=0),
        timeseries("Runtime percentiles", [
            (f"histogram_quantile(0.5, sum by (le) (rate(celery_task_runtime_bucket{{{SEL}}}[{RI}])))", "p50"),
            (f"histogram_quantile(0.95, sum by (le) (rate(celery_task_runtime_bucket{{{SEL}}}[{RI}])))", "p95"),
            (f"histogram_quantile(0.99, sum by (le) (rate(celery_task_runtime_bucket{{{SEL}}}[{RI}])))", "p99")], "s"),
        timeseries("Workers", [(f"celery_worker_up{{{SEL}}}", "{{hostname}} up"),
                               (f"celery_worker_tasks_active{{{SEL}}}", "{{hostname}} active")]),
        table("Failures by task and exception", [
            (f"sum by (name, exception) (increase(celery_task_failed_total{{{SEL}}}[1h]))", "last hour")]),
    ], variables)


def overview():
    pct = [("green", None), ("orange", 0.8), ("red", 0.9)]
    link = lambda uid, title: {"title": title, "url": f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}"}
    p = [
        stat("Targets down", "count(up == 0) or vector(0)", steps=[("green", None), ("red", 1)],
             desc="Scrape targets Prometheus cannot reach."),
        stat("Collectors failing", "count(node_scrape_collector_success == 0) or vector(0)",
             steps=[("green", None), ("red", 1)]),
        stat("CPU busy", f'1 - avg(rate(node_cpu_seconds_total{{mode="idle"}}[{RI}]))', "percentunit", steps=pct),
        stat("Memory used", "max(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)", "percentunit", steps=pct),
        stat("Fullest filesystem", 'max(1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs|ramfs"} '
             '/ node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs|ramfs"})', "percentunit", steps=pct),
        stat("Containers not running", 'count(container_state{state!="running"} == 1) or vector(0)',
             steps=[("green", None), ("red", 1)]),
        stat("Redis", "min(redis_up)", mappings=UP_DOWN, steps=[("red", None), ("green", 1)]),
        stat("Celery queued", "sum(celery_queue_length)", steps=[("green", None), ("orange", 50), ("red", 100)]),
        stat("Celery workers up", "sum(celery_worker_up) or vector(0)", steps=[("red", None), ("green", 1)]),
        stat("Alerts firing", 'sum(ALERTS{alertstate="firing"}) or vector(0)', steps=[("green", None), ("red", 1)]),
        stat("Notifications failing (1h)", "sum(increase(alertmanager_notifications_failed_total[1h])) or vector(0)",
             steps=[("green", None), ("red", 1)], desc="Alerts that could not be delivered: see the Alerter dashboard."),
        stat("Alerter config", "min(alertmanager_config_last_reload_successful)",
             mappings=[{"type": "value", "options": {"0": {"text": "RELOAD FAILED", "color": "red"},
                                                     "1": {"text": "OK", "color": "green"}}}],
             steps=[("red", None), ("green", 1)]),
        timeseries("Targets", [("up", "{{job}} {{instance}}")], w=24, h=6, minimum=0),
    ]
    for x in p:
        x["links"] = []
    links = {"CPU busy": ("ea-host", "Host"), "Memory used": ("ea-host", "Host"),
             "Fullest filesystem": ("ea-host", "Host"), "Collectors failing": ("ea-host", "Host"),
             "Containers not running": ("ea-containers", "Containers"), "Redis": ("ea-redis", "Redis"),
             "Celery queued": ("ea-celery", "Celery"), "Celery workers up": ("ea-celery", "Celery"),
             "Notifications failing (1h)": ("ea-alerter", "Alerter"), "Alerter config": ("ea-alerter", "Alerter"),
             "Alerts firing": ("ea-alerter", "Alerter")}
    for x in p:
        if x["title"] in links:
            x["links"] = [link(*links[x["title"]])]
    return dashboard("ea-overview", "Overview", "Is everything OK? One screen; each tile links to its dashboard.", p, [])


def alerter():
    variables = [query_var("job", "label_values(alertmanager_build_info, job)", "Job"),
                 query_var("instance", 'label_values(alertmanager_build_info{job=~"$job"}, instance)', "Instance")]
    return dashboard("ea-alerter", "Alerter", "The alerter: alerts, notifications by integration and reason, config reloads.", [
        stat("Config", f"alertmanager_config_last_reload_successful{{{SEL}}}",
             mappings=[{"type": "value", "options": {"0": {"text": "RELOAD FAILED", "color": "red"},
                                                     "1": {"text": "OK", "color": "green"}}}],
             steps=[("red", None), ("green", 1)]),
        stat("Last good reload", f"time() - alertmanager_config_last_reload_success_timestamp_seconds{{{SEL}}}", "s"),
        stat("Active alerts", f'sum(alertmanager_alerts{{state="active", {SEL}}})'),
        stat("Suppressed alerts", f'sum(alertmanager_alerts{{state="suppressed", {SEL}}})'),
        stat("Active silences", f'sum(alertmanager_silences{{state="active", {SEL}}})'),
        stat("Failed notifications (1h)", f"sum(increase(alertmanager_notifications_failed_total{{{SEL}}}[1h])) or vector(0)",
             steps=[("green", None), ("red", 1)]),
        timeseries("Alerts", [(f"sum by (state) (alertmanager_alerts{{{SEL}}})", "{{state}}")], minimum=0),
        timeseries("Alerts received", [(f"sum by (status) (rate(alertmanager_alerts_received_total{{{SEL}}}[{RI}]))", "{{status}}"),
                                       (f"rate(alertmanager_alerts_invalid_total{{{SEL}}}[{RI}])", "invalid")], "ops"),
        timeseries("Notifications sent", [(f"sum by (integration) (rate(alertmanager_notifications_total{{{SEL}}}[{RI}]))",
                                           "{{integration}}")], "ops", minimum=0),
        timeseries("Notifications failed", [(f"sum by (integration, reason) (rate(alertmanager_notifications_failed_total{{{SEL}}}[{RI}]))",
                                             "{{integration}} {{reason}}")], "ops", minimum=0),
        timeseries("Notification latency p99", [(f"histogram_quantile(0.99, sum by (integration, le) "
                                                 f"(rate(alertmanager_notification_latency_seconds_bucket{{{SEL}}}[{RI}])))",
                                                 "{{integration}}")], "s"),
        timeseries("Memory", [(f"process_resident_memory_bytes{{{SEL}}}", "rss")], "bytes", minimum=0),
    ], variables)


BUILDERS = {"overview": overview, "host": host, "containers": containers, "redis": redis,
            "celery": celery, "alerter": alerter}


def main():
    check = "--check" in sys.argv[1:]
    bad = []
    for name, build in BUILDERS.items():
        text = json.dumps(build(), indent=2, sort_keys=True) + "\n"
        path = HERE / f"{name}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                bad.append(path.name)
        else:
            path.write_text(text)
    if bad:
        sys.exit(f"out of date (run python3 dashboards/build.py): {', '.join(bad)}")


if __name__ == "__main__":
    main()
