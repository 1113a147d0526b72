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
pub fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    e2e::self_signed_cert(dir, "localhost", "localhost", "DNS:localhost,IP:127.0.0.1")
}
