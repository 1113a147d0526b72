//! Benchmark of the series store and rule evaluation (run by alerter/bench/rules.sh):
//! 10,000 series x 1h at 15s, every rule of rules/ evaluated at the end.
//!
//!     cargo run --release -p alerter --example bench_rules -- [--openmetrics FILE] [--end UNIX_SECONDS] [--rules N] [--rules-out FILE]
//!
//! `--rules N`: N rules, the rules of rules/ repeated in copies of their groups under new
//! names, written as one rule file (`--rules-out`, so Prometheus can load the same rules:
//! `RULES=50 bash alerter/bench/rules.sh`) and loaded from it.

use alerter::promql::{Engine, Labels, Store};
use alerter::rules::{EvalContext, Group, check_files};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Counter(f64),
    Gauge(f64),
    Const(f64),
}

fn l(pairs: &[(&str, String)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn series() -> Vec<(Labels, Kind)> {
    let mut v = Vec::new();
    for h in 0..20 {
        let inst = format!("host{h}:9100");
        for cpu in 0..8 {
            for mode in [
                "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
            ] {
                v.push((
                    l(&[
                        ("__name__", "node_cpu_seconds_total".into()),
                        ("instance", inst.clone()),
                        ("job", "node".into()),
                        ("cpu", cpu.to_string()),
                        ("mode", mode.into()),
                    ]),
                    Kind::Counter(if mode == "idle" { 14.0 } else { 1.0 }),
                ));
            }
        }
        v.push((
            l(&[
                ("__name__", "node_memory_MemAvailable_bytes".into()),
                ("instance", inst.clone()),
                ("job", "node".into()),
            ]),
            Kind::Gauge(2e9),
        ));
        v.push((
            l(&[
                ("__name__", "node_memory_MemTotal_bytes".into()),
                ("instance", inst.clone()),
                ("job", "node".into()),
            ]),
            Kind::Const(8e9),
        ));
        for m in 0..10 {
            let mp = format!("/mnt/disk{m}");
            v.push((
                l(&[
                    ("__name__", "node_filesystem_avail_bytes".into()),
                    ("instance", inst.clone()),
                    ("job", "node".into()),
                    ("mountpoint", mp.clone()),
                    ("fstype", "ext4".into()),
                    ("device", format!("/dev/sd{m}")),
                ]),
                Kind::Gauge(5e10),
            ));
            v.push((
                l(&[
                    ("__name__", "node_filesystem_size_bytes".into()),
                    ("instance", inst.clone()),
                    ("job", "node".into()),
                    ("mountpoint", mp),
                    ("fstype", "ext4".into()),
                    ("device", format!("/dev/sd{m}")),
                ]),
                Kind::Const(1e11),
            ));
        }
        v.push((
            l(&[
                ("__name__", "node_vmstat_oom_kill".into()),
                ("instance", inst.clone()),
                ("job", "node".into()),
            ]),
            Kind::Const(0.0),
        ));
        for job in ["node", "cadvisor", "redis", "celery", "app"] {
            v.push((
                l(&[
                    ("__name__", "up".into()),
                    ("instance", format!("host{h}:{job}")),
                    ("job", job.into()),
                ]),
                Kind::Const(1.0),
            ));
        }
        for c in 0..40 {
            let name = format!("app-{c}");
            let base = |n: &str| {
                l(&[
                    ("__name__", n.into()),
                    ("instance", format!("host{h}:8080")),
                    ("job", "cadvisor".into()),
                    ("name", name.clone()),
                    ("image", format!("registry/app{c}:1.{c}")),
                    ("id", format!("/docker/{h:04x}{c:060x}")),
                ])
            };
            v.push((
                base("container_cpu_usage_seconds_total"),
                Kind::Counter(0.5),
            ));
            v.push((
                base("container_start_time_seconds"),
                Kind::Const(1.7e9 + c as f64),
            ));
            v.push((base("container_oom_events_total"), Kind::Const(0.0)));
            v.push((base("container_spec_cpu_quota"), Kind::Const(100000.0)));
            v.push((base("container_spec_cpu_period"), Kind::Const(100000.0)));
            v.push((base("container_last_seen"), Kind::Counter(15.0)));
        }
        let rinst = format!("redis{h}:6379");
        for (n, k) in [
            ("redis_up", Kind::Const(1.0)),
            ("redis_memory_used_bytes", Kind::Gauge(3e8)),
            ("redis_memory_max_bytes", Kind::Const(1e9)),
            ("redis_connected_clients", Kind::Gauge(20.0)),
            ("redis_rejected_connections_total", Kind::Const(0.0)),
            ("redis_uptime_in_seconds", Kind::Counter(15.0)),
        ] {
            v.push((
                l(&[
                    ("__name__", n.into()),
                    ("instance", rinst.clone()),
                    ("job", "redis".into()),
                ]),
                k,
            ));
        }
        v.push((
            l(&[
                ("__name__", "celery_queue_length".into()),
                ("queue_name", format!("q{h}")),
                ("job", "celery".into()),
            ]),
            Kind::Gauge(10.0),
        ));
        v.push((
            l(&[
                ("__name__", "probe_success".into()),
                ("instance", format!("http://app{h}/health")),
                ("job", "blackbox".into()),
            ]),
            Kind::Const(1.0),
        ));
    }
    for job in 0..5 {
        for handler in 0..10 {
            for status in ["200", "201", "301", "404", "500", "503"] {
                v.push((
                    l(&[
                        ("__name__", "http_requests_total".into()),
                        ("job", format!("api{job}")),
                        ("handler", format!("/h{handler}")),
                        ("status", status.into()),
                    ]),
                    Kind::Counter(if status == "200" { 50.0 } else { 0.5 }),
                ));
            }
            for le in [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
                "+Inf",
            ] {
                v.push((
                    l(&[
                        ("__name__", "http_request_duration_seconds_bucket".into()),
                        ("job", format!("api{job}")),
                        ("handler", format!("/h{handler}")),
                        ("le", le.into()),
                    ]),
                    Kind::Counter(50.0 * (le.parse::<f64>().unwrap_or(100.0).min(1.0))),
                ));
            }
        }
    }
    for t in 0..100 {
        for exc in [
            "NotRegistered",
            "ValueError",
            "TimeoutError",
            "KeyError",
            "OSError",
        ] {
            v.push((
                l(&[
                    ("__name__", "celery_task_failed_total".into()),
                    ("name", format!("app.tasks.t{t}")),
                    ("exception", exc.into()),
                    ("hostname", format!("worker{}", t % 10)),
                    ("job", "celery".into()),
                ]),
                Kind::Const(0.0),
            ));
        }
    }
    for w in 0..50 {
        v.push((
            l(&[
                ("__name__", "celery_worker_up".into()),
                ("hostname", format!("worker{w}")),
                ("job", "celery".into()),
            ]),
            Kind::Const(1.0),
        ));
    }
    let mut i = 0;
    while v.len() < 10_000 {
        v.push((
            l(&[
                ("__name__", "node_network_receive_bytes_total".into()),
                ("instance", format!("host{}:9100", i % 20)),
                ("job", "node".into()),
                ("device", format!("veth{i:08x}")),
            ]),
            Kind::Counter(12_345.0),
        ));
        i += 1;
    }
    v
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let end_s: i64 = arg("--end").and_then(|s| s.parse().ok()).unwrap_or(7200);
    let om_path = arg("--openmetrics");
    let end = end_s * 1000;
    let start = end - 3600 * 1000 + 15_000;
    let ser = series();
    let rss0 = rss_kib();
    let mut store = Store::new();
    let mut rng = Rng(0x2545F4914F6CDD1D);
    let mut om = om_path.map(|p| {
        std::io::BufWriter::new(std::fs::File::create(p).expect("create openmetrics file"))
    });
    let mut state: Vec<f64> = ser
        .iter()
        .map(|(_, k)| match k {
            Kind::Counter(_) => 1000.0,
            Kind::Gauge(b) | Kind::Const(b) => *b,
        })
        .collect();
    let t0 = Instant::now();
    let mut t = start;
    while t <= end {
        for (i, (labels, kind)) in ser.iter().enumerate() {
            let v = match kind {
                Kind::Counter(rate) => {
                    state[i] += ((rate * 15.0 * (0.5 + rng.f())) * 100.0).round() / 100.0;
                    state[i]
                }
                Kind::Gauge(b) => (b * (0.9 + 0.2 * rng.f())).round(),
                Kind::Const(b) => *b,
            };
            let jitter = (rng.next() % 3) as i64;
            store.append(labels, t + jitter, v).expect("in order");
            if let Some(w) = om.as_mut() {
                let name = labels.get("__name__").cloned().unwrap_or_default();
                let rest: Vec<String> = labels
                    .iter()
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                let _ = writeln!(
                    w,
                    "{name}{{{}}} {v} {}.{:03}",
                    rest.join(","),
                    (t + jitter) / 1000,
                    (t + jitter) % 1000
                );
            }
        }
        t += 15_000;
    }
    if let Some(mut w) = om {
        let _ = writeln!(w, "# EOF");
        let _ = w.flush();
    }
    let load = t0.elapsed();
    let rss1 = rss_kib();
    let mut files: Vec<PathBuf> = std::fs::read_dir(e2e_root().join("rules"))
        .expect("rules/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    let _tmp;
    if let Some(want) = arg("--rules").and_then(|s| s.parse::<usize>().ok()) {
        let out = match arg("--rules-out") {
            Some(p) => PathBuf::from(p),
            None => {
                _tmp = tempfile::tempdir().expect("temp dir");
                _tmp.path().join("rules.yml")
            }
        };
        std::fs::write(&out, repeated_rules(&files, want)).expect("write --rules-out");
        files = vec![out];
    }
    let defs = check_files(&files).expect("rules load");
    let nrules: usize = defs.iter().map(|g| g.rules.len()).sum();
    let engine = Engine::default();
    let ctx = EvalContext::default();
    let mut times = Vec::new();
    let mut groups: Vec<Group> = defs.into_iter().map(Group::new).collect();
    for round in 0..21 {
        let mut s = store.clone();
        let t1 = Instant::now();
        for g in &mut groups {
            g.eval(&engine, &mut s, end + round, &ctx);
        }
        times.push(t1.elapsed().as_secs_f64() * 1000.0);
        for g in &groups {
            for r in &g.rules {
                if let Some(e) = &r.last_error {
                    eprintln!("rule {} error: {e}", r.def.name);
                }
            }
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("series: {}", store.series_count());
    println!("samples: {}", store.sample_count());
    println!(
        "store memory (accounted): {:.1} MB",
        store.memory_bytes() as f64 / 1e6
    );
    println!(
        "bytes per sample (accounted, all-in): {:.2}",
        store.memory_bytes() as f64 / store.sample_count() as f64
    );
    println!(
        "process RSS growth while loading: {:.1} MB",
        (rss1.saturating_sub(rss0)) as f64 * 1024.0 / 1e6
    );
    println!("load time: {:.2?}", load);
    println!("rules: {nrules} in {} groups", groups.len());
    println!(
        "evaluation of all rules: median {:.1} ms, max {:.1} ms (21 runs)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

/// `want` rules from copies of the groups of `files`, each copy's group and alert names
/// suffixed, as one rule file.
fn repeated_rules(files: &[PathBuf], want: usize) -> String {
    use serde_yaml::Value;
    let groups: Vec<Value> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("read rule file");
            let doc: Value = serde_yaml::from_str(&text).expect("rule file YAML");
            doc.get("groups")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let rules_of = |g: &Value| g.get("rules").and_then(Value::as_sequence).cloned();
    let mut out = Vec::new();
    let mut n = 0;
    if groups
        .iter()
        .all(|g| rules_of(g).is_none_or(|r| r.is_empty()))
    {
        return "groups: []\n".into();
    }
    'copies: for copy in 0.. {
        for g in &groups {
            if n == want {
                break 'copies;
            }
            let mut g = g.clone();
            let name = g.get("name").and_then(Value::as_str).unwrap_or("group");
            g["name"] = Value::from(format!("{name}_{copy}"));
            let mut rules = rules_of(&g).unwrap_or_default();
            rules.truncate(want - n);
            for r in &mut rules {
                if let Some(a) = r.get("alert").and_then(Value::as_str) {
                    r["alert"] = Value::from(format!("{a}_{copy}"));
                }
            }
            n += rules.len();
            g["rules"] = Value::Sequence(rules);
            out.push(g);
        }
    }
    let mut doc = serde_yaml::Mapping::new();
    doc.insert("groups".into(), Value::Sequence(out));
    serde_yaml::to_string(&doc).expect("rule file YAML")
}

fn e2e_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}
