//! What the email tests share: the peers they need (python3 with aiosmtpd, openssl)
//! and a self-signed certificate for `localhost` made at test time.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::require;

/// Whether the Python SMTP server can run (aiosmtpd importable); a FAIL under CI.
pub fn have_peers() -> bool {
    if require("python3", "runs the aiosmtpd SMTP server").is_none()
        || require("openssl", "makes the test certificate").is_none()
    {
        return false;
    }
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !e2e::under_ci(),
            "aiosmtpd missing: pip install -r tests/requirements.txt"
        );
        eprintln!("SKIP: aiosmtpd missing (pip install -r tests/requirements.txt)");
    }
    ok
}

/// A self-signed certificate for `localhost`, not a CA (so it can be its own trust anchor).
#[allow(dead_code)] // not every test file runs a TLS peer
pub fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    e2e::self_signed_cert(dir, "localhost", "localhost", "DNS:localhost,IP:127.0.0.1")
}

/// Decodes a received message with Python's email parser (the receiving side's
/// view): subject, one header, and each part's decoded body by content type.
#[allow(dead_code)] // not every test file reads messages
pub fn decode_message(raw: &str, header: &str) -> serde_json::Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
parts = {p.get_content_type(): p.get_content() for p in m.walk() if not p.is_multipart()}
print(json.dumps({"subject": m["Subject"], "header": m[sys.argv[1]], "to": m["To"], "parts": parts}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, header])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}
