//! `node_textfile_*`: metrics from `*.prom` files in `--collector.textfile.directory`,
//! as node_exporter's textfile collector.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::setting::{Problems, pick};

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

use crate::collector::source::{CollectResult, Collector};
use crate::metrics::{Family, Kind};

pub struct Textfile {
    directory: Option<PathBuf>,
}

pub fn build(cfg: &Config) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(Arc::new(Textfile {
        directory: cfg.directory.clone(),
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

/// The metrics of every `*.prom` file (counters, gauges and untyped), plus
/// `node_textfile_mtime_seconds{file}` and `node_textfile_scrape_error` (1 when the
/// directory or any file cannot be read or parsed; the other files still count).
fn collect(dir: Option<&Path>) -> Vec<Family> {
    let mut error = 0.0;
    let mut mtime = Family::gauge(
        "node_textfile_mtime_seconds",
        "Unixtime mtime of textfiles successfully read.",
    );
    let mut out = Vec::new();
    if let Some(dir) = dir {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "prom"))
                    .collect();
                files.sort();
                for path in files {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let parsed = std::fs::read_to_string(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|text| parse(&text));
                    match parsed {
                        Ok(families) => {
                            out.extend(families);
                            let secs = std::fs::metadata(&path)
                                .and_then(|m| m.modified())
                                .ok()
                                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                                .map_or(0.0, |d| d.as_secs_f64());
                            mtime.push([("file", name)], secs);
                        }
                        Err(e) => {
                            tracing::warn!(file = %path.display(), error = %e, "textfile skipped");
                            error = 1.0;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "textfile directory unreadable");
                error = 1.0;
            }
        }
    }
    out.push(
        Family::gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
        )
        .single(error),
    );
    if !mtime.samples.is_empty() {
        out.push(mtime);
    }
    out
}

/// Reads one file in text format 0.0.4. Counters, gauges and untyped metrics are
/// supported; histograms, summaries and client-side timestamps are rejected (with the
/// line number), so the file is skipped and `node_textfile_scrape_error` is 1.
pub fn parse(text: &str) -> Result<Vec<Family>, String> {
    use std::collections::BTreeMap;
    let mut help: BTreeMap<&str, &str> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, &str> = BTreeMap::new();
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name, h);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, k) = rest
                .split_once(' ')
                .ok_or(format!("line {n}: TYPE without a type"))?;
            match k.trim() {
                "counter" | "gauge" | "untyped" => kinds.insert(name, k.trim()),
                other => return Err(format!("line {n}: {name}: type {other} is not supported")),
            };
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = parse_sample(line).map_err(|e| format!("line {n}: {e}"))?;
        let fam = families.entry(name.to_string()).or_insert_with(|| {
            let kind = match kinds.get(name).copied() {
                // A counter keeps its exact name only if it already ends in _total
                // (the OpenMetrics encoder would append one).
                Some("counter") if name.ends_with("_total") => Kind::Counter,
                Some("gauge") => Kind::Gauge,
                _ => Kind::Untyped,
            };
            let h = help
                .get(name)
                .copied()
                .unwrap_or("Metric read from a textfile.");
            Family::new(name, h, kind)
        });
        fam.push(labels, value);
    }
    Ok(families.into_values().collect())
}

/// A sample line: name, labels in file order, value.
type ParsedSample<'a> = (&'a str, Vec<(String, String)>, f64);

fn parse_sample(line: &str) -> Result<ParsedSample<'_>, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("expected `name value`")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' if key.trim().is_empty() => {
                    end = Some(i);
                    break;
                }
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return Err("label value must be quoted".into());
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => value.push('\n'),
                                Some((_, c)) => value.push(c),
                                None => return Err("unterminated label value".into()),
                            },
                            Some((_, '"')) => break,
                            Some((_, c)) => value.push(c),
                            None => return Err("unterminated label value".into()),
                        }
                    }
                    labels.push((key.trim().trim_start_matches(',').trim().to_string(), value));
                    key.clear();
                }
                c => key.push(c),
            }
        }
        let end = end.ok_or("unterminated label set")?;
        rest = &body[end + 1..];
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("missing value")?;
    if fields.next().is_some() {
        return Err("client-side timestamps are not supported".into());
    }
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .map_err(|_| format!("invalid value {v:?}"))?,
    };
    Ok((name, labels, value))
}

#[cfg(test)]
mod tests {
    use crate::metrics::{Kind, Value};

    #[test]
    fn parses_counters_gauges_and_labels() {
        let f = super::parse(
            "# HELP apt_upgrades_pending Pending upgrades.\n# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{origin=\"Debian \\\"stable\\\"\",arch=\"amd64\"} 3\n# TYPE backups_total counter\nbackups_total 12\nplain 1.5e3\n",
        )
        .unwrap();
        assert_eq!(f[0].name, "apt_upgrades_pending");
        assert_eq!(f[0].kind, Kind::Gauge);
        assert_eq!(
            f[0].samples[0].labels,
            [
                ("origin".to_string(), "Debian \"stable\"".to_string()),
                ("arch".into(), "amd64".into())
            ]
        );
        assert_eq!(f[1].kind, Kind::Counter);
        assert_eq!(f[2].samples[0].value, Value::Scalar(1500.0));
    }

    #[test]
    fn rejects_timestamps_and_histograms_with_line() {
        assert!(
            super::parse("x 1 1700000000\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            super::parse("# TYPE h histogram\n")
                .unwrap_err()
                .contains("histogram")
        );
        assert!(super::parse("x{a=b} 1\n").is_err());
    }
}
