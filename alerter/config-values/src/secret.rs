//! A secret (password, token, URL with a key in it). It shows as `<secret>` in
//! `Debug`, `Display` and serialized output, so a config printed by the status API,
//! `check-config` or a log line cannot leak it, whoever prints it. Only
//! [`Secret::expose`] gives the value, at the one place that sends it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const REDACTED: &str = "<secret>";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set or empty")]
    Env(String),
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// A secret file's content, without its trailing newline (as Prometheus's
    /// `*_file` settings read it, so `echo pw > file` works).
    pub fn read_file(path: &Path) -> Result<Self, SecretError> {
        read_secret_file(path)
            .map(|s| Secret::new(s.trim_end_matches(['\r', '\n'])))
            .map_err(|source| SecretError::File {
                path: path.to_path_buf(),
                source,
            })
    }

    /// The variable's value, looked up through `env` (the process environment in
    /// the binaries, a table in tests); unset or empty is an error.
    pub fn from_env(var: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, SecretError> {
        env(var)
            .filter(|v| !v.is_empty())
            .map(Secret)
            .ok_or_else(|| SecretError::Env(var.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The most a secret file may hold: a password, token or URL is far smaller.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a secret file as text, refusing what cannot be one: not a regular file
/// (a FIFO would block the reader, `/dev/zero` never ends) or larger than
/// [`MAX_SECRET_FILE`]. Symlinks are followed (Kubernetes and Docker mount secrets so).
pub fn read_secret_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB, not a secret",
            MAX_SECRET_FILE / 1024
        )));
    }
    Ok(text)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// An inline secret in a config file (Alertmanager allows it; callers warn).
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown_by_debug_display_or_serde() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<secret> <secret>");
        #[derive(Serialize, Debug)]
        struct Holder {
            password: Secret,
            key: Option<Secret>,
        }
        let h = Holder {
            password: s.clone(),
            key: Some(s.clone()),
        };
        let yaml = serde_yaml::to_string(&h).unwrap();
        assert!(
            !yaml.contains("hunter2") && !format!("{h:?}").contains("hunter2"),
            "{yaml}"
        );
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_loses_its_trailing_newline_and_errors_name_the_source() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "pa ss\r\n").unwrap();
        assert_eq!(Secret::read_file(&f).unwrap().expose(), "pa ss");
        let e = Secret::read_file(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();

        let env = |k: &str| (k == "SET").then(|| "v".to_string());
        assert_eq!(Secret::from_env("SET", &env).unwrap().expose(), "v");
        let e = Secret::from_env("UNSET", &env).unwrap_err().to_string();
        assert!(e.contains("UNSET"), "{e}");
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn secret_files_are_bounded_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("pw");
        std::fs::write(&ok, "hunter2\n").unwrap();
        assert_eq!(Secret::read_file(&ok).unwrap().expose(), "hunter2");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_SECRET_FILE as usize + 1]).unwrap();
        let e = Secret::read_file(&big).unwrap_err().to_string();
        assert!(e.contains("larger than 64 KiB"), "{e}");
        let e = Secret::read_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = Secret::read_file(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
