//! Shared by the exporter's integration tests: start the built `exporter` binary, scrape
//! it, and read an exposition back into (family -> type, samples).

#![allow(dead_code)]

pub mod celery;
pub mod docker;

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

/// How far our value may sit outside the band between the peer's two reads, for a
/// family whose value differs from the peer's by design; `why` says why.
pub struct Slack {
    pub family: &'static str,
    /// How much lower than the band our value may be.
    pub below: f64,
    /// How much higher than the band our value may be.
    pub above: f64,
    pub why: &'static str,
}

/// The family names of one or more reads.
pub fn names<'a>(reads: impl IntoIterator<Item = &'a BTreeMap<String, Fam>>) -> BTreeSet<String> {
    reads.into_iter().flat_map(|f| f.keys().cloned()).collect()
}

/// Compares the family lists: the families only the peer has (`theirs_only`) and
/// only we have (`ours_only`) must be exactly the listed ones, so a family appearing
/// on either side fails until the list says why. `ignore` filters out names neither
/// list needs to mention (e.g. the peer's Go runtime). Returns the problems.
pub fn family_lists(
    peer: &str,
    theirs: &BTreeSet<String>,
    ours: &BTreeSet<String>,
    theirs_only: &[(&str, &str)],
    ours_only: &[(&str, &str)],
    ignore: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let listed = |l: &[(&str, &str)]| -> BTreeSet<String> {
        l.iter().map(|(n, _)| (*n).to_string()).collect()
    };
    let actual_theirs: BTreeSet<String> = theirs
        .difference(ours)
        .filter(|n| !ignore(n))
        .cloned()
        .collect();
    let actual_ours: BTreeSet<String> = ours
        .difference(theirs)
        .filter(|n| !ignore(n))
        .cloned()
        .collect();
    for (actual, list, side) in [
        (
            &actual_theirs,
            listed(theirs_only),
            format!("only {peer} has"),
        ),
        (&actual_ours, listed(ours_only), "only we have".to_string()),
    ] {
        for n in actual.difference(&list) {
            problems.push(format!("{n}: {side} it, and the list does not say why"));
        }
        for n in list.difference(actual) {
            problems.push(format!("{n}: listed as {side}, but it is not"));
        }
    }
    problems
}

/// The value comparison of our reads interleaved with the peer's: `theirs[i]`, then
/// `ours[i]`, then `theirs[i + 1]` are one round. For every family both expose (minus
/// `skip`) in the first round: the same type; every series the peer had before our read
/// we have, and we have none the peer lacks after it. Values: a counter only grows, so in
/// every round ours lies between the peer's two reads. Any other value may move both
/// ways while other processes run (memory, sockets, open files), so it must lie in the
/// band between the peer's two reads (widened by the family's [`Slack`]) in at least one
/// round; a value off by a parser bug is off in all of them. A family of the peer's that
/// our read lacks is a problem. `ignore` names the families not compared at all (each
/// process's own, the listed ones only the peer has). Returns the problems and how many
/// series were compared.
pub fn differential(
    peer: &str,
    theirs: &[BTreeMap<String, Fam>],
    ours: &[BTreeMap<String, Fam>],
    slack: &[Slack],
    skip: &[(&str, &str)],
    ignore: impl Fn(&str) -> bool,
) -> (Vec<String>, usize) {
    assert_eq!(
        theirs.len(),
        ours.len() + 1,
        "one more read of theirs than of ours"
    );
    let mut problems = Vec::new();
    let mut compared = 0;
    let empty = Fam::default();
    for (name, first) in &theirs[0] {
        if ignore(name) || skip.iter().any(|(s, _)| s == name) {
            continue;
        }
        let Some(o) = ours[0].get(name) else {
            problems.push(format!("{name}: {peer} has it, our read does not"));
            continue;
        };
        if o.kind != first.kind {
            problems.push(format!(
                "{name}: type {} vs {peer}'s {}",
                o.kind, first.kind
            ));
            continue;
        }
        let later = theirs[1].get(name).unwrap_or(&empty);
        for key in first.samples.keys() {
            if !o.samples.contains_key(key) {
                problems.push(format!("{name}: we lack {key:?}"));
            }
        }
        for key in o.samples.keys() {
            if !later.samples.contains_key(key) && !first.samples.contains_key(key) {
                problems.push(format!("{name}: {peer} lacks our {key:?}"));
            }
        }
        let (below, above) = slack
            .iter()
            .find(|s| s.family == name)
            .map_or((0.0, 0.0), |s| (s.below, s.above));
        let counter = o.kind == "counter";
        for key in o.samples.keys() {
            let mut seen = Vec::new();
            let mut fits = Vec::new();
            for (round, ours) in ours.iter().enumerate() {
                let value = |f: &BTreeMap<String, Fam>| {
                    f.get(name).and_then(|f| f.samples.get(key)).copied()
                };
                let (Some(a), Some(v), Some(b)) = (
                    value(&theirs[round]),
                    value(ours),
                    value(&theirs[round + 1]),
                ) else {
                    continue;
                };
                let (lo, hi) = if counter {
                    (a, b)
                } else {
                    (a.min(b), a.max(b))
                };
                // Rounding: a peer may scale in two steps (microseconds / 1000 / 1000)
                // where we divide once; the results differ in the last bits.
                let ulp = 1e-12 * v.abs().max(lo.abs()).max(hi.abs());
                let nan = v.is_nan() && a.is_nan() && b.is_nan();
                fits.push(nan || (v >= lo - below - ulp && v <= hi + above + ulp));
                seen.push(format!("{a} / ours {v} / {b}"));
            }
            if fits.is_empty() {
                continue;
            }
            compared += 1;
            let ok = if counter {
                fits.iter().all(|f| *f)
            } else {
                fits.iter().any(|f| *f)
            };
            if !ok {
                problems.push(format!(
                    "{name} {key:?}: {peer} / ours / {peer} per round (slack -{below}/+{above}): {}",
                    seen.join(", ")
                ));
            }
        }
    }
    (problems, compared)
}

/// The value of `name`'s first sample whose labels include `label` (any sample when
/// `None`).
pub fn value(f: &BTreeMap<String, Fam>, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    f.get(name)?
        .samples
        .iter()
        .find(|((_, l), _)| label.is_none_or(|(k, v)| l.iter().any(|(a, b)| a == k && b == v)))
        .map(|(_, v)| *v)
}

/// The value of `name`'s sample carrying every one of `labels`.
pub fn value_with(f: &BTreeMap<String, Fam>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    f.get(name)?
        .samples
        .iter()
        .find(|((_, l), _)| {
            labels
                .iter()
                .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|(_, v)| *v)
}

/// `node_scrape_collector_success` of one collector.
pub fn collector_success(f: &BTreeMap<String, Fam>, collector: &str) -> Option<f64> {
    value(
        f,
        "node_scrape_collector_success",
        Some(("collector", collector)),
    )
}

/// The `err` label of `redis_exporter_last_scrape_error` (redis_exporter's form).
pub fn redis_last_error(f: &BTreeMap<String, Fam>) -> String {
    f.get("redis_exporter_last_scrape_error")
        .and_then(|fam| fam.samples.keys().next())
        .and_then(|(_, l)| l.iter().find(|(k, _)| k == "err"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Accepts every TCP connection on 127.0.0.1 and never writes a byte; the connections
/// stay open (never reset) until the server is dropped. A peer stuck in a long
/// command, or a black-holing proxy.
pub struct HungServer {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl HungServer {
    pub fn start() -> HungServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the hung server");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        });
        HungServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops accepting, closes what it held and returns how many connections it took.
    pub fn stop(&mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("hung server thread"))
    }
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// GETs `url` and returns how long the whole answer took, and its families.
pub async fn timed_scrape(url: &str) -> (Duration, BTreeMap<String, Fam>) {
    let t = std::time::Instant::now();
    let text = scrape(url).await;
    (t.elapsed(), parse(&text))
}
