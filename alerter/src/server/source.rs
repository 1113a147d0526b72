//! Where the config comes from (a file, or the built-in default), reading and
//! compiling it, and saying loudly what is now running.

use std::path::PathBuf;

use crate::config;

/// The built-in config: the users' routing policy (MISSION.md), used when no
/// `--config.file` is given and the default file does not exist.
pub const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// Where the config comes from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Embedded,
}

impl Source {
    pub(super) fn origin(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Embedded => "<built-in default config>".into(),
        }
    }

    pub(super) fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Source::File(p) => {
                std::fs::read(p).map_err(|e| format!("{}: cannot read: {e}", p.display()))
            }
            Source::Embedded => Ok(DEFAULT_CONFIG.as_bytes().to_vec()),
        }
    }
}

/// A loaded config, before it is put in service.
pub type Loaded = config::Compiled;

/// Reads and compiles the config. Pure apart from reading the config, template and
/// secret files; nothing is started.
pub fn load(source: &Source) -> Result<Loaded, String> {
    let bytes = source.read()?;
    let origin = source.origin();
    let text = String::from_utf8(bytes).map_err(|e| format!("{origin}: not UTF-8: {e}"))?;
    let base_dir = match source {
        Source::File(p) => p
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
        Source::Embedded => PathBuf::from("."),
    };
    let env = |k: &str| std::env::var(k).ok();
    let mut loaded = config::compile(&text, &origin, &base_dir, &env)?;
    if matches!(source, Source::Embedded) {
        loaded.warnings.insert(
            0,
            format!(
                "{EMBEDDED_NOTICE}: no --config.file given and ./alertmanager.yml does not exist"
            ),
        );
    }
    Ok(loaded)
}

/// How the status warnings say that the built-in config is running.
const EMBEDDED_NOTICE: &str = "running the built-in default config";

/// Logs what is now running, and every warning at error level: a receiver that
/// cannot send is an outage in waiting.
pub(super) fn announce(source: &Source, l: &Loaded) {
    tracing::info!(
        file = %source.origin(),
        hash = %l.hash,
        receivers = l.receivers.len(),
        "configuration loaded"
    );
    if matches!(source, Source::Embedded) {
        tracing::warn!(
            "no --config.file given and ./alertmanager.yml does not exist: running the built-in default config (set ALERTER_SMTP_PASSWORD and edit addresses, or pass --config.file)"
        );
    }
    // The built-in-config notice is in `warnings` for /api/v2/status; it was just
    // logged above at warn.
    for w in l
        .warnings
        .iter()
        .filter(|w| !w.starts_with(EMBEDDED_NOTICE))
    {
        tracing::error!(file = %source.origin(), "{w}");
    }
}
