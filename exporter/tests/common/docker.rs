//! Real Docker for the tests: a `FROM scratch` image with Debian's busybox-static
//! (nothing can be pulled here) and containers removed by a guard, also on panic.

use std::process::Command;
use std::sync::OnceLock;

const IMAGE: &str = "exporter-test-busybox:containers";

/// Whether Docker and busybox are here; under CI their absence fails the test.
pub fn ready() -> bool {
    let Some(_) = e2e::require(
        "docker",
        "the containers collector is tested on real Docker",
    ) else {
        return false;
    };
    let Some(_) = e2e::require(
        "/bin/busybox",
        "test images are FROM scratch plus Debian's busybox-static",
    ) else {
        return false;
    };
    let up = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        up || !e2e::under_ci(),
        "the Docker daemon does not answer (`docker version`)"
    );
    if !up {
        eprintln!("SKIP: the Docker daemon does not answer");
        return false;
    }
    image();
    true
}

/// Builds the test image once per test binary (Docker caches it across runs).
pub fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy("/bin/busybox", dir.path().join("busybox")).unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\nENTRYPOINT [\"/bin/sh\", \"-c\"]\n",
        )
        .unwrap();
        let out = Command::new("docker")
            .args(["build", "-q", "-t", IMAGE])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "docker build: {out:?}");
    });
    IMAGE
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container removed (with `docker rm -f`) when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name <unique> <opts> IMAGE <script>`.
    pub fn run(tag: &str, opts: &[&str], script: &str) -> Container {
        let name = format!("exptest-{}-{tag}", std::process::id());
        let _ = Command::new("docker").args(["rm", "-f", &name]).output();
        let c = Container { name };
        let mut args = vec!["run", "-d", "--name", &c.name];
        args.extend(opts);
        args.extend([image(), script]);
        docker(&args);
        c
    }

    pub fn pid(&self) -> u32 {
        docker(&["inspect", "-f", "{{.State.Pid}}", &self.name])
            .parse()
            .unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}
