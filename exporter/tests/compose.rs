//! compose.yml with this machine's docker-compose: the file validates, the two images
//! build from the binaries cargo built (FROM scratch, nothing pulled), the exporter and
//! alerter services turn `healthy` by their own HEALTHCHECK, the exporter in its container
//! reports the host's network interfaces and root filesystem (not the container's), and
//! the alerter answers /-/healthy. Everything the test starts is taken down.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{parse, scrape};

fn root() -> PathBuf {
    e2e::workspace_root()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The compose project, taken down (containers, network, volumes) and its images
/// removed when dropped.
struct Stack {
    project: String,
    env: Vec<(String, String)>,
    tag: String,
}

impl Stack {
    fn compose(&self) -> Command {
        let mut c = Command::new("docker-compose");
        c.current_dir(root())
            .args(["-p", &self.project, "-f", "compose.yml"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    fn container(&self, service: &str) -> String {
        let out = run(self.compose().args(["ps", "-q", service]));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn health(&self, service: &str) -> String {
        let id = self.container(service);
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Health.Status}}", &id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn logs(&self) -> String {
        let out = self
            .compose()
            .args(["logs", "--no-color"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose().args(["down", "-v", "-t", "2"]).output();
        for bin in ["exporter", "alerter"] {
            let _ = Command::new("docker")
                .args(["rmi", &format!("exporter-alerter/{bin}:{}", self.tag)])
                .output();
        }
    }
}

/// Devices of the host's network namespace (this test runs on the host), veths left out:
/// they come and go with containers.
fn host_devices() -> Vec<String> {
    std::fs::read_to_string("/proc/1/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|d| d.trim().to_string()))
        .filter(|d| !d.starts_with("veth"))
        .collect()
}

#[tokio::test]
async fn compose_stack_turns_healthy_and_reports_the_host() {
    for (prog, why) in [
        ("docker", "compose.yml is run on this machine's Docker"),
        (
            "docker-compose",
            "compose.yml is checked with docker-compose 1.29",
        ),
        (
            "strip",
            "debug binaries are stripped before they go into an image",
        ),
    ] {
        if e2e::require(prog, why).is_none() {
            return;
        }
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_exporter"))
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(
        bin_dir.join("alerter").is_file(),
        "no alerter binary beside the exporter in {}: build it (`cargo build -p alerter`, or run the whole suite)",
        bin_dir.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("smtp_password");
    std::fs::write(&secret, "test-secret-not-used").unwrap();
    let gid = run(Command::new("stat").args(["-c", "%g", "/var/run/docker.sock"]));
    let (exporter_port, alerter_port) = (e2e::free_port(), e2e::free_port());
    let tag = format!("test{}", std::process::id());
    let stack = Stack {
        project: format!("composetest{}", std::process::id()),
        env: vec![
            ("STACK_VERSION".into(), tag.clone()),
            ("EXPORTER_PORT".into(), exporter_port.to_string()),
            ("ALERTER_PORT".into(), alerter_port.to_string()),
            (
                "DOCKER_GID".into(),
                String::from_utf8_lossy(&gid.stdout).trim().to_string(),
            ),
            ("SMTP_PASSWORD_FILE".into(), secret.display().to_string()),
        ],
        tag: tag.clone(),
    };

    run(stack.compose().arg("config").arg("-q"));
    let built = run(Command::new("bash")
        .arg(root().join("tests/images.sh"))
        .env("BIN_DIR", &bin_dir)
        .env("TAG", &tag));
    println!("{}", String::from_utf8_lossy(&built.stdout));
    run(stack.compose().args(["up", "-d", "exporter", "alerter"]));

    // The first health check runs one interval (10 s) after start.
    e2e::wait_for(
        "both services healthy by their HEALTHCHECK",
        Duration::from_secs(90),
        || {
            let h = (stack.health("exporter"), stack.health("alerter"));
            assert!(
                h.0 != "unhealthy" && h.1 != "unhealthy",
                "unhealthy: {h:?}\n{}",
                stack.logs()
            );
            (h.0 == "healthy" && h.1 == "healthy").then_some(())
        },
    );

    let metrics = parse(&scrape(&format!("http://127.0.0.1:{exporter_port}/metrics")).await);
    let devices: Vec<String> = metrics["node_network_receive_bytes_total"]
        .samples
        .keys()
        .filter_map(|(_, l)| {
            l.iter()
                .find(|(k, _)| k == "device")
                .map(|(_, v)| v.clone())
        })
        .collect();
    for d in host_devices() {
        assert!(
            devices.contains(&d),
            "host device {d} missing: the exporter reports {devices:?}\n{}",
            stack.logs()
        );
    }
    let root_size = metrics["node_filesystem_size_bytes"]
        .samples
        .iter()
        .find(|((_, l), _)| l.iter().any(|(k, v)| k == "mountpoint" && v == "/"))
        .map(|(_, v)| *v);
    let st = run(Command::new("stat").args(["-f", "-c", "%b %S", "/"]));
    let st = String::from_utf8_lossy(&st.stdout);
    let mut it = st.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    let host_root = it.next().unwrap() * it.next().unwrap();
    assert_eq!(root_size, Some(host_root), "the host's / filesystem");

    let healthy = reqwest::get(format!("http://127.0.0.1:{alerter_port}/-/healthy"))
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
}
