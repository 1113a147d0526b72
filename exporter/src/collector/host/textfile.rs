//! `node_textfile_*`: metrics from `*.prom` files in `--collector.textfile.directory`,
//! as node_exporter's textfile collector.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{Problems, pick};

#[derive(clap::Args, Debug, Default, Clone)]
#[group(id = "textfile_flags")]
pub struct Flags {
    /// Directory to read text files with metrics from [default: none].
    #[arg(long = "collector.textfile.directory", value_name = "DIR")]
    pub directory: Option<PathBuf>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub directory: Option<PathBuf>,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub directory: Option<PathBuf>,
}

impl Config {
    pub fn validate(
        flags: &Flags,
        raw: RawConfig,
        path: Option<&Path>,
        _problems: &mut Problems,
    ) -> Config {
        Config {
            directory: pick(
                flags.directory.clone(),
                "collector.textfile.directory",
                raw.directory,
                "textfile.directory",
                path,
            )
            .map(|(d, _)| d),
        }
    }
}

// ---------------------------------------------------------------- collector

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::collector::{CollectResult, Collector};
use crate::metrics::Family;

pub struct Textfile {
    directory: Option<PathBuf>,
}

pub fn build(cfg: &crate::config::Config) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Textfile {
        directory: cfg.textfile.directory.clone(),
    }))
}

impl Collector for Textfile {
    fn name(&self) -> &'static str {
        "textfile"
    }

    fn collect(&self) -> BoxFuture<'_, CollectResult> {
        // A local directory listing: inline, like the procfs readers.
        Box::pin(std::future::ready(Ok(collect(self.directory.as_deref()))))
    }
}

/// `node_textfile_mtime_seconds{file}` for every `*.prom` file and
/// `node_textfile_scrape_error` (1 when the directory cannot be read).
fn collect(dir: Option<&Path>) -> Vec<Family> {
    let mut error = 0.0;
    let mut mtime = Family::gauge(
        "node_textfile_mtime_seconds",
        "Unixtime mtime of textfiles successfully read.",
    );
    if let Some(dir) = dir {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut files: Vec<(String, f64)> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".prom"))
                    .filter_map(|e| {
                        let modified = e.metadata().ok()?.modified().ok()?;
                        let secs = modified
                            .duration_since(std::time::UNIX_EPOCH)
                            .ok()?
                            .as_secs_f64();
                        Some((e.file_name().to_string_lossy().into_owned(), secs))
                    })
                    .collect();
                files.sort_by(|a, b| a.0.cmp(&b.0));
                for (f, secs) in files {
                    mtime.push([("file", f)], secs);
                }
            }
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "textfile directory unreadable");
                error = 1.0;
            }
        }
    }
    let mut out = vec![
        Family::gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
        )
        .single(error),
    ];
    if !mtime.samples.is_empty() {
        out.push(mtime);
    }
    out
}
