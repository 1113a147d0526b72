//! Helpers shared by every crate's integration tests: free ports, child processes
//! that are always stopped, finding the real peers, and ../shared.
//!
//! A test that needs a peer calls [`require`]: under CI (`CI=true`) a missing peer
//! fails the test with the reason; elsewhere the test prints why and returns early.

pub mod dashboards;
pub mod load;
pub mod prometheus;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True when running under CI, where a missing peer is a failure, never a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds `program` on PATH (or as an absolute path). Under CI a missing program
/// panics with `why`; elsewhere it prints a SKIP line and returns `None`.
pub fn require(program: &str, why: &str) -> Option<PathBuf> {
    if let Some(found) = which(program) {
        return Some(found);
    }
    let msg = format!("{program} not found ({why}); `bash tests/run.sh` installs it");
    assert!(!under_ci(), "{msg}");
    eprintln!("SKIP: {msg}");
    None
}

fn which(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|c| c.is_file())
    })
}

/// The repository's `../shared` reference folder. Under CI a missing folder panics;
/// elsewhere (a user's clone) it prints a SKIP line and returns `None`.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("..").join("shared");
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "{} is missing (reference material beside the repo)",
        dir.display()
    );
    assert!(!under_ci(), "{msg}");
    eprintln!("SKIP: {msg}");
    None
}

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives one level below the workspace root")
        .to_path_buf()
}

/// A free TCP port on 127.0.0.1 (bound, then released for the peer to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

/// A child process killed (and reaped) when dropped, so no test leaves one behind.
pub struct ChildGuard {
    pub name: String,
    child: Option<Child>,
}

impl ChildGuard {
    /// Spawns `cmd` with stdout and stderr going to `log` (a file the test can read).
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> ChildGuard {
        let out = std::fs::File::create(log).expect("create child log file");
        let err = out.try_clone().expect("clone child log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        ChildGuard {
            name: name.to_string(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGKILL and waits for the process to go.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (e.g. "TERM", "HUP") with kill(1) and returns without waiting.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or panics naming `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_port(port: u16, timeout: Duration) {
    wait_for(&format!("127.0.0.1:{port} to accept"), timeout, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
}

/// A throwaway redis-server on a free port, stopped on drop. `None` when redis-server is
/// missing outside CI (see [`require`]).
pub struct RedisServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub guard: ChildGuard,
}

impl RedisServer {
    /// Starts redis-server with extra `redis.conf`-style arguments (e.g. `["--requirepass", "x"]`).
    pub fn start(extra: &[&str]) -> Option<RedisServer> {
        let bin = require("redis-server", "the Redis tests drive a real server")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        Some(Self::start_on(&bin, dir, port, extra))
    }

    /// Starts redis-server on `port` (one a test held for another peer until now).
    pub fn start_on_port(port: u16, extra: &[&str]) -> Option<RedisServer> {
        let bin = require("redis-server", "the Redis tests drive a real server")?;
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Self::start_on(&bin, dir, port, extra))
    }

    fn start_on(bin: &Path, dir: tempfile::TempDir, port: u16, extra: &[&str]) -> RedisServer {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "no", "--dir"])
        .arg(dir.path())
        .args(extra);
        let guard = ChildGuard::spawn("redis-server", &mut cmd, &dir.path().join("redis.log"));
        wait_port(port, Duration::from_secs(10));
        RedisServer { port, dir, guard }
    }

    /// Stops the server and starts a new one on the same port and data dir.
    pub fn restart(self, extra: &[&str]) -> RedisServer {
        let RedisServer {
            port,
            dir,
            mut guard,
        } = self;
        guard.kill();
        let bin = which("redis-server").expect("redis-server was found before");
        Self::start_on(&bin, dir, port, extra)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// A webhook receiver for end-to-end tests: an HTTP server on 127.0.0.1 that records
/// every JSON body POSTed to it and answers with a status the test can change (to
/// play a failing receiver). Stopped when dropped.
/// What a [`WebhookSink`] saw of one request besides its body.
#[derive(Clone, Debug)]
pub struct SinkRequest {
    pub method: String,
    /// As sent: absolute (`http://host/path`) when it came through us as a proxy.
    pub uri: String,
    /// Every header, names lowercase (a repeated one keeps its last value).
    pub headers: std::collections::BTreeMap<String, String>,
    pub authorization: Option<String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: serde_json::Value,
    /// The body as text, for the forms that are not JSON.
    pub raw: String,
}

pub struct WebhookSink {
    pub port: u16,
    state: std::sync::Arc<SinkState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct SinkState {
    received: std::sync::Mutex<Vec<(Instant, serde_json::Value)>>,
    requests: std::sync::Mutex<Vec<SinkRequest>>,
    status: std::sync::atomic::AtomicU16,
    /// Answered as JSON when not empty.
    body: std::sync::Mutex<String>,
}

impl WebhookSink {
    pub fn start() -> WebhookSink {
        let state = std::sync::Arc::new(SinkState::default());
        state.status.store(200, std::sync::atomic::Ordering::SeqCst);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind webhook sink");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new().fallback(axum::routing::any(
                    move |method: axum::http::Method,
                          uri: axum::http::Uri,
                          headers: axum::http::HeaderMap,
                          body: axum::body::Bytes| {
                        let st = st.clone();
                        async move {
                            let v =
                                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                            st.requests.lock().expect("lock").push(SinkRequest {
                                method: method.to_string(),
                                uri: uri.to_string(),
                                headers: headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (
                                            k.as_str().to_string(),
                                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                        )
                                    })
                                    .collect(),
                                authorization: headers
                                    .get(axum::http::header::AUTHORIZATION)
                                    .and_then(|h| h.to_str().ok())
                                    .map(str::to_string),
                                body: v.clone(),
                                raw: String::from_utf8_lossy(&body).into_owned(),
                            });
                            st.received.lock().expect("lock").push((Instant::now(), v));
                            let code = st.status.load(std::sync::atomic::Ordering::SeqCst);
                            let code = axum::http::StatusCode::from_u16(code)
                                .unwrap_or(axum::http::StatusCode::OK);
                            let answer = st.body.lock().expect("lock").clone();
                            if answer.is_empty() {
                                axum::response::IntoResponse::into_response(code)
                            } else {
                                axum::response::IntoResponse::into_response((
                                    code,
                                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                                    answer,
                                ))
                            }
                        }
                    },
                ));
                let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        WebhookSink {
            port,
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every body received so far, oldest first.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.state
            .received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every body received so far with when it arrived, oldest first.
    pub fn received_at(&self) -> Vec<(Instant, serde_json::Value)> {
        self.state.received.lock().expect("lock").clone()
    }

    /// Every request received so far, oldest first, with its URI and credentials.
    pub fn requests(&self) -> Vec<SinkRequest> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// The JSON body answered from now on (empty: none), e.g. a token for an
    /// integration that fetches one first.
    pub fn set_body(&self, json: &str) {
        *self.state.body.lock().expect("lock") = json.to_string();
    }

    /// The HTTP status answered from now on (e.g. 500 to fail every delivery).
    pub fn set_status(&self, code: u16) {
        self.state
            .status
            .store(code, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A blocking request to `http://127.0.0.1:{port}{path}` (5 s timeout), `body` sent as
/// JSON with POST; returns the status and the body text.
pub fn http(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let c = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}{path}");
        let req = match method {
            "POST" => c
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or("").to_string()),
            "GET" => c.get(url),
            other => return Err(format!("unsupported method {other}")),
        };
        let r = req
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, text))
    })
}

/// GET, expecting a 2xx answer: the body as JSON (or as a JSON string when it is not).
pub fn get_json(port: u16, path: &str) -> Result<serde_json::Value, String> {
    let (status, text) = http("GET", port, path, None)?;
    if !(200..300).contains(&status) {
        return Err(format!("{path}: HTTP {status}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// A self-signed certificate (not a CA, so it is its own trust anchor) for `cn` with the
/// subjectAltName `san`, made by openssl as `{stem}.pem` and `{stem}.key` in `dir`.
pub fn self_signed_cert(dir: &Path, stem: &str, cn: &str, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3", "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .args(["-addext", &format!("subjectAltName={san}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
