//! Shared by the exporter's integration tests: start the built `exporter` binary, scrape
//! it, and read an exposition back into (family -> type, samples).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::ChildGuard;

/// A running exporter on a free port.
pub struct Exporter {
    pub port: u16,
    pub guard: ChildGuard,
    pub log: tempfile::NamedTempFile,
}

impl Exporter {
    pub fn start(extra: &[&str]) -> Exporter {
        Self::start_env(extra, &[])
    }

    /// Starts the exporter with extra flags and environment variables.
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Exporter {
        let port = e2e::free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_exporter"));
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .env_remove("EXPORTER_CONFIG_FILE")
            .env_remove("REDIS_PASSWORD")
            .env_remove("REDIS_ADDR")
            .envs(env.iter().copied());
        let guard = ChildGuard::spawn("exporter", &mut cmd, log.path());
        e2e::wait_port(port, Duration::from_secs(10));
        Exporter { port, guard, log }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.port)
    }
}

/// GET `url` (classic text format) and return the body.
pub async fn scrape(url: &str) -> String {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.text().await.unwrap()
}

#[derive(Debug, Default, Clone)]
pub struct Fam {
    pub kind: String,
    /// (sample name, labels) -> value
    pub samples: BTreeMap<(String, Vec<(String, String)>), f64>,
}

impl Fam {
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples
            .keys()
            .flat_map(|(_, l)| l.iter().map(|(k, _)| k.clone()))
            .filter(|k| k != "le" && k != "quantile")
            .collect()
    }
}

/// Reads text format 0.0.4 into families keyed by the TYPE line's name.
pub fn parse(text: &str) -> BTreeMap<String, Fam> {
    let mut fams: BTreeMap<String, Fam> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            current = name.to_string();
            fams.entry(current.clone()).or_default().kind = kind.to_string();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, value) = parse_sample(line);
        let fam = if name.starts_with(&current) && !current.is_empty() {
            current.clone()
        } else {
            name.clone()
        };
        fams.entry(fam)
            .or_default()
            .samples
            .insert((name, labels), value);
    }
    fams
}

fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
    let (head, value) = line.rsplit_once(' ').unwrap();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or(f64::NAN),
    };
    let Some((name, labels)) = head.split_once('{') else {
        return (head.to_string(), Vec::new(), value);
    };
    let labels = labels.strip_suffix('}').unwrap();
    let mut out = Vec::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (k, r) = rest.split_once("=\"").unwrap();
        let mut v = String::new();
        let mut chars = r.char_indices();
        let mut end = r.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        v.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = i;
                    break;
                }
                c => v.push(c),
            }
        }
        out.push((k.trim_start_matches(',').to_string(), v));
        rest = r[end + 1..].trim_start_matches(',');
    }
    out.sort();
    (name.to_string(), out, value)
}

/// Runs `promtool check metrics` on `text`; returns its problem lines.
pub fn promtool_problems(promtool: &Path, text: &str) -> Vec<String> {
    use std::io::Write as _;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}
