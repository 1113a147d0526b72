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
