//! The containers collector against this machine's real Docker engine, with a
//! `FROM scratch` + busybox image the tests build themselves (nothing can be pulled):
//! CPU, OOM kills (exiting and surviving), restarts, working set against
//! `docker stats`, compose labels, removal, the stats-API path and dashboard 193's
//! names (Docker down is a row of the reliability matrix: tests/reliability/peers.rs). Every container is removed by a guard, also on panic.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::docker::{Container, docker, image, ready};
use common::{Exporter, Fam, parse};

/// Generous: the machine is shared with builds.
const DEADLINE: Duration = Duration::from_secs(60);

fn start_exporter(extra: &[&str]) -> Exporter {
    let mut args = vec!["--collector.disable-defaults", "--collector.containers"];
    args.extend(extra);
    Exporter::start_env(&args, &[("DOCKER_HOST", "unix:///var/run/docker.sock")])
}

fn scrape(e: &Exporter) -> BTreeMap<String, Fam> {
    let (status, text) = e2e::http("GET", e.port, "/metrics", None).unwrap();
    assert_eq!(status, 200, "{text}");
    parse(&text)
}

/// The value of `family` for the container `name` whose other labels include `extra`.
fn value(
    f: &BTreeMap<String, Fam>,
    family: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> Option<f64> {
    f.get(family)?.samples.iter().find_map(|((_, labels), v)| {
        let has = |k: &str, want: &str| labels.iter().any(|(lk, lv)| lk == k && lv == want);
        (has("name", name) && extra.iter().all(|(k, w)| has(k, w))).then_some(*v)
    })
}

/// Polls scrapes until `f` returns `Some`, failing with the last scrape after DEADLINE.
fn until<T>(e: &Exporter, what: &str, mut f: impl FnMut(&BTreeMap<String, Fam>) -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let fams = scrape(e);
        if let Some(v) = f(&fams) {
            return v;
        }
        if Instant::now() > deadline {
            let (_, text) = e2e::http("GET", e.port, "/metrics", None).unwrap();
            let log = std::fs::read_to_string(e.log.path()).unwrap_or_default();
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("exptest-") || l.contains("collector=\"containers\""))
                .collect();
            panic!(
                "timed out after {DEADLINE:?} waiting for {what}\nscrape:\n{}\nexporter log:\n{log}",
                mine.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// utime + stime of a process in seconds, from the kernel (`/proc/<pid>/stat`).
fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `after` starts at field 3.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
fn cpu_burning_container_uses_about_one_core_second_per_second() {
    if !ready() {
        return;
    }
    let c = Container::run("cpu", &[], "while :; do :; done");
    let e = start_exporter(&[]);
    let cpu = |f: &BTreeMap<String, Fam>| {
        value(
            f,
            "container_cpu_usage_seconds_total",
            &c.name,
            &[("cpu", "total")],
        )
    };
    let pid = c.pid();
    let v0 = until(&e, "the container's CPU counter", cpu);
    let (p0, t0) = (proc_cpu_seconds(pid), Instant::now());
    // Wait for a positive signal (the counter grew by 3 s), not for a fixed time.
    let v1 = until(&e, "3 CPU seconds more", |f| {
        cpu(f).filter(|v| *v >= v0 + 3.0)
    });
    let (p1, t1) = (proc_cpu_seconds(pid), Instant::now());
    let rate = (v1 - v0) / (t1 - t0).as_secs_f64();
    let kernel = p1 - p0;
    assert!(
        (0.4..=1.15).contains(&rate),
        "{rate} core-seconds per second (shared machine: at least 0.4, at most one core)"
    );
    // The same interval as the kernel counts it for the container's only process.
    assert!(
        ((v1 - v0) - kernel).abs() <= 0.1 * kernel + 0.1,
        "cgroup says {} s, /proc/{pid}/stat says {kernel} s",
        v1 - v0
    );
}

#[test]
fn oom_kill_that_ends_the_container_is_counted() {
    if !ready() {
        return;
    }
    let e = start_exporter(&[]);
    let c = Container::run(
        "oomexit",
        &["--memory", "32m", "--memory-swap", "32m"],
        "x=$(head -c 100m /dev/zero | tr '\\0' a)",
    );
    until(
        &e,
        "container_oom_events_total 1 and an OOM-killed exit",
        |f| {
            let ooms = value(f, "container_oom_events_total", &c.name, &[])?;
            let killed = value(f, "container_oom_killed", &c.name, &[])?;
            let exited = value(f, "container_state", &c.name, &[("state", "exited")])?;
            let code = value(f, "container_last_exit_code", &c.name, &[])?;
            (ooms >= 1.0 && killed == 1.0 && exited == 1.0 && code == 137.0).then_some(())
        },
    );
    // Once every source has seen the run end, the count holds: the three sources
    // are not added up. (Not asserted as exactly 1: under cgroup v1 Docker sends an
    // `oom` event per OOM notification, and one run of this three-process script
    // gave 1, 2 and 6 of them.)
    let settled = value(&scrape(&e), "container_oom_events_total", &c.name, &[]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let later = value(&scrape(&e), "container_oom_events_total", &c.name, &[]);
    assert!(settled.is_some_and(|n| n >= 1.0), "{settled:?}");
    assert_eq!(later, settled);
}

#[test]
fn oom_kill_of_a_child_is_counted_while_the_container_lives() {
    if !ready() {
        return;
    }
    let e = start_exporter(&[]);
    let c = Container::run(
        "oomchild",
        &["--memory", "32m", "--memory-swap", "32m"],
        "while true; do (x=$(head -c 100m /dev/zero | tr '\\0' a)); sleep 1; done",
    );
    until(&e, "OOM kills counted while the container runs", |f| {
        let ooms = value(f, "container_oom_events_total", &c.name, &[])?;
        let running = value(f, "container_state", &c.name, &[("state", "running")])?;
        let killed = value(f, "container_oom_killed", &c.name, &[])?;
        (ooms >= 2.0 && running == 1.0 && killed == 0.0).then_some(())
    });
}

#[test]
fn oom_kills_are_not_forgotten_when_the_container_restarts() {
    if !ready() {
        return;
    }
    let e = start_exporter(&[]);
    let c = Container::run(
        "oomrestart",
        &[
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            "--restart",
            "on-failure",
        ],
        "x=$(head -c 100m /dev/zero | tr '\\0' a)",
    );
    // cAdvisor's count falls back to 0 with each new cgroup (google/cadvisor#3015).
    until(&e, "2 OOM kills across restarts", |f| {
        let ooms = value(f, "container_oom_events_total", &c.name, &[])?;
        let restarts = value(f, "container_restarts_total", &c.name, &[])?;
        (ooms >= 2.0 && restarts >= 1.0).then_some(())
    });
}

#[test]
fn restart_policy_and_docker_restart_are_counted() {
    if !ready() {
        return;
    }
    let e = start_exporter(&[]);
    let failing = Container::run("onfailure", &["--restart", "on-failure"], "sleep 1; exit 3");
    // Docker sends no `restart` event for these; RestartCount rises.
    until(
        &e,
        "container_restarts_total rising under restart: on-failure",
        |f| {
            let r = value(f, "container_restarts_total", &failing.name, &[])?;
            let code = value(f, "container_last_exit_code", &failing.name, &[])?;
            (r >= 2.0 && code == 3.0).then_some(())
        },
    );

    let manual = Container::run("manual", &[], "sleep 600");
    let started = until(&e, "the container's start time", |f| {
        value(f, "container_start_time_seconds", &manual.name, &[])
    });
    assert_eq!(
        value(&scrape(&e), "container_restarts_total", &manual.name, &[]),
        Some(0.0)
    );
    // `docker restart` sends `restart` and leaves RestartCount alone: counted once.
    docker(&["restart", "-t", "0", &manual.name]);
    let r = until(&e, "the restart counted and the new start seen", |f| {
        let r = value(f, "container_restarts_total", &manual.name, &[])?;
        let t = value(f, "container_start_time_seconds", &manual.name, &[])?;
        (r >= 1.0 && t > started).then_some(r)
    });
    assert_eq!(r, 1.0);
}

/// `docker stats`' MEM USAGE, e.g. `20.52MiB / 23.54GiB`, in bytes.
fn docker_stats_mem(name: &str) -> Option<f64> {
    let text = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]);
    let used = text.split('/').next()?.trim();
    let split = used.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = used.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(num.parse::<f64>().ok()? * scale)
}

#[test]
fn working_set_agrees_with_docker_stats() {
    if !ready() {
        return;
    }
    // A steady 24 MB in a tmpfs (shmem, charged to the container and never inactive
    // file), so both reads see the same figure.
    let c = Container::run(
        "wss",
        &["--tmpfs", "/data"],
        "head -c 24m /dev/zero > /data/f; sleep 600",
    );
    let e = start_exporter(&[]);
    until(&e, "the working set within 5% of docker stats", |f| {
        let ours = value(f, "container_memory_working_set_bytes", &c.name, &[])?;
        let theirs = docker_stats_mem(&c.name)?;
        (ours > 20e6 && (ours - theirs).abs() <= 0.05 * theirs).then_some(())
    });
}

/// `docker-compose down` when dropped.
struct Compose {
    project: String,
    file: tempfile::NamedTempFile,
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .args(["-p", &self.project, "-f"])
            .arg(self.file.path())
            .args(["down", "-t", "0"])
            .output();
    }
}

#[test]
fn compose_service_label_is_exported() {
    if !ready() {
        return;
    }
    let Some(bin) = e2e::require(
        "docker-compose",
        "compose labels are checked with docker-compose",
    ) else {
        return;
    };
    let project = format!("exptest{}", std::process::id());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "version: '2.4'\nservices:\n  web:\n    image: {}\n    command: ['sleep 600']\n",
            image()
        ),
    )
    .unwrap();
    let compose = Compose { project, file };
    let e = start_exporter(&[]);
    let out = Command::new(bin)
        .args(["-p", &compose.project, "-f"])
        .arg(compose.file.path())
        .args(["up", "-d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker-compose up: {out:?}");
    let (name, project) = until(&e, "a container labelled by compose", |f| {
        f.get("container_memory_usage_bytes")?
            .samples
            .keys()
            .find_map(|(_, labels)| {
                let get = |k: &str| {
                    labels
                        .iter()
                        .find(|(lk, _)| lk == k)
                        .map(|(_, v)| v.clone())
                };
                (get("container_label_com_docker_compose_service")? == "web"
                    && get("container_label_com_docker_compose_project")? == compose.project)
                    .then(|| {
                        (
                            get("name"),
                            get("container_label_com_docker_compose_project"),
                        )
                    })
            })
    });
    // Compose v1 names it proj_web_1, v2 proj-web-1: grouping is by label, not name.
    assert!(name.is_some_and(|n| n.contains("web")));
    assert_eq!(project.as_deref(), Some(compose.project.as_str()));
}

#[test]
fn removed_container_disappears() {
    if !ready() {
        return;
    }
    let e = start_exporter(&[]);
    let c = Container::run("removed", &[], "sleep 600");
    until(&e, "the container to appear", |f| {
        value(f, "container_last_seen", &c.name, &[])
    });
    docker(&["rm", "-f", &c.name]);
    until(&e, "the container to disappear", |f| {
        let any = f
            .values()
            .flat_map(|fam| fam.samples.keys())
            .any(|(_, l)| l.iter().any(|(k, v)| k == "name" && *v == c.name));
        (!any).then_some(())
    });
}

#[test]
fn stats_api_path_reports_the_same_families() {
    if !ready() {
        return;
    }
    let c = Container::run("api", &["--memory", "64m"], "sleep 600");
    let e = start_exporter(&["--docker.stats-source=api"]);
    until(&e, "figures from the stats API", |f| {
        let api = f
            .get("container_exporter_stats_source")?
            .samples
            .iter()
            .find(|((_, l), _)| l.iter().any(|(k, v)| k == "source" && v == "api"))
            .map(|(_, v)| *v)?;
        let limit = value(f, "container_spec_memory_limit_bytes", &c.name, &[])?;
        let cpu = value(
            f,
            "container_cpu_usage_seconds_total",
            &c.name,
            &[("cpu", "total")],
        )?;
        let rx = value(
            f,
            "container_network_receive_bytes_total",
            &c.name,
            &[("interface", "eth0")],
        )?;
        (api >= 1.0 && limit == 64.0 * 1024.0 * 1024.0 && cpu >= 0.0 && rx >= 0.0).then_some(())
    });
}

/// Every name dashboard 193 queries (../shared/anchors) is exported for a running
/// container, and the whole output passes `promtool check metrics`.
#[test]
fn dashboard_193_names_are_exported() {
    if !ready() {
        return;
    }
    let Some(shared) = e2e::shared_dir() else {
        return;
    };
    let list =
        std::fs::read_to_string(shared.join("anchors/metrics/docker-monitoring-193.metrics.txt"))
            .unwrap();
    let c = Container::run("dash", &[], "sleep 600");
    let e = start_exporter(&[]);
    let fams = until(&e, "the container's figures", |f| {
        value(f, "container_network_receive_bytes_total", &c.name, &[]).map(|_| f.clone())
    });
    let missing: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .filter(|n| !fams.contains_key(*n))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    if let Some(promtool) = e2e::require(
        "promtool",
        "the output is linted with promtool check metrics",
    ) {
        let (_, text) = e2e::http("GET", e.port, "/metrics", None).unwrap();
        // cAdvisor's name and type, kept for its dashboards: a counter without `_total`.
        let problems: Vec<String> = common::promtool_problems(&promtool, &text)
            .into_iter()
            .filter(|l| !l.starts_with("container_memory_failcnt "))
            .collect();
        assert!(problems.is_empty(), "{problems:?}");
    }
}

/// The `docker:` section of the config file takes effect, and a misspelt key in it is
/// an error naming the key.
#[test]
fn docker_section_of_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exporter.yml");
    std::fs::write(
        &file,
        "docker:\n  host: unix:///nonexistent/exptest/from-file.sock\n  stats_source: api\n",
    )
    .unwrap();
    let e = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.containers",
        &format!("--config.file={}", file.display()),
    ]);
    scrape(&e);
    e2e::wait_for(
        "the log line naming the file's socket",
        Duration::from_secs(10),
        || {
            let log = std::fs::read_to_string(e.log.path()).ok()?;
            log.contains("/nonexistent/exptest/from-file.sock")
                .then_some(())
        },
    );

    std::fs::write(&file, "docker:\n  hots: unix:///x.sock\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .arg(format!("--config.file={}", file.display()))
        .arg("--config.check")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("docker") && err.contains("unknown field `hots`"),
        "{err}"
    );
}
