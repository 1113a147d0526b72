//! The bodies of the coverage-guided fuzz targets (`alerter/fuzz/`), one function each, so
//! that the fuzzers and the corpus replay test (`tests/fuzz_corpus.rs`) run the same code.
//! Each takes arbitrary bytes, runs one input path of the alerter on them, and panics only
//! on a defect: an error result is the expected answer to bad input.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::labels::LabelSet;
use crate::promql::{Engine, Labels, Store};
use crate::silence::{PostableSilence, Silences};

/// Fuzz input as text: invalid UTF-8 is replaced, as a file read lossily would be.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The alertmanager.yml superset (routes, receivers, `rule_files`, `scrape_configs`,
/// `remote_query`), compiled as `check-config` does. Relative paths resolve against the
/// repository root, so `rule_files: [rules/*.yml]` loads the real rule files; no secret
/// comes from the environment.
pub fn config(data: &[u8]) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let _ = crate::config::compile(&text(data), "fuzz.yml", base, &|_| None);
}

/// Matcher lists as amtool, the API's `filter` and config `matchers` write them.
pub fn matchers(data: &[u8]) {
    let s = text(data);
    let labels: LabelSet = [("alertname", "A"), ("job", "node"), ("severity", "")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(ms) = crate::labels::parse_matchers(&s) {
        let _ = ms.matches(&labels);
        for m in &ms.0 {
            // What amtool and the status page show must read back as a matcher.
            let shown = m.to_string();
            let back = crate::labels::parse_matcher(&shown);
            assert!(back.is_ok(), "{shown:?} (from {s:?}) does not parse back");
        }
    }
    let _ = crate::labels::parse_matcher(&s);
}

/// One rule file: YAML, PromQL of every rule, templates, durations.
pub fn rule_file(data: &[u8]) {
    let _ = crate::rules::parse_rules(Path::new("fuzz.yml"), &text(data));
}

/// Evaluation time of the PromQL target: the end of the fixed store's hour.
const EVAL_AT: i64 = 3_600_000;

/// An hour of 15s samples: counters, gauges with NaN, Inf and stale markers, and a histogram.
fn fixed_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut st = Store::new();
        let series: [(&str, &[(&str, &str)]); 8] = [
            ("up", &[("job", "a"), ("instance", "x:1")]),
            ("up", &[("job", "b"), ("instance", "y:2")]),
            ("http_requests_total", &[("job", "a"), ("code", "200")]),
            ("http_requests_total", &[("job", "a"), ("code", "500")]),
            ("m", &[("job", "a")]),
            ("bucket", &[("job", "a"), ("le", "0.1")]),
            ("bucket", &[("job", "a"), ("le", "1")]),
            ("bucket", &[("job", "a"), ("le", "+Inf")]),
        ];
        for (n, (name, pairs)) in series.iter().enumerate() {
            let mut l: Labels = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            l.insert("__name__".into(), name.to_string());
            for i in 0..=240_i64 {
                let v = match (n, i % 37) {
                    (4, 5) => f64::NAN,
                    (4, 11) => f64::INFINITY,
                    (4, 20) => crate::promql::stale_nan(),
                    (0, _) => (i % 7 != 0).into(),
                    _ => (i * (n as i64 + 1)) as f64 / 3.0,
                };
                let _ = st.append(&l, i * 15_000, v);
            }
        }
        st
    })
}

/// A PromQL expression: parsed, checked as rule files are, then evaluated as an instant
/// query and as a 10-step range query over [`fixed_store`]. An instant query and a
/// one-step range query at the same time must agree.
pub fn promql(data: &[u8]) {
    let s = text(data);
    let Ok(ast) = crate::promql::parse_expr(&s) else {
        return;
    };
    let _ = crate::promql::check_supported(&ast);
    let engine = Engine::default();
    let st = fixed_store();
    let instant = engine.instant(st, &ast, EVAL_AT);
    let _ = engine.range(st, &ast, EVAL_AT - 600_000, EVAL_AT, 60_000);
    if let (Ok(crate::promql::Value::Scalar(a)), Ok(series)) =
        (&instant, engine.range(st, &ast, EVAL_AT, EVAL_AT, 1))
    {
        let b = series.first().and_then(|s| s.points.first()).map(|p| p.1);
        assert!(
            b.is_some_and(|b| b.to_bits() == a.to_bits()),
            "{s:?}: instant {a} but one-step range {b:?}"
        );
    }
}

/// 2026-01-01T00:00:00Z: the API targets' "now" (a fixed instant keeps runs repeatable).
fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

/// `POST /api/v2/alerts` and `POST /api/v2/silences` bodies: the first byte picks which
/// (even: alerts, odd: silences), the rest is the JSON body. Each goes through the
/// handler's own parsing and validation; a silence that is accepted is then updated,
/// matched and expired.
pub fn api_v2(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let now = epoch();
    if which % 2 == 0 {
        let Ok(posted) = crate::api::parse_alerts(body) else {
            return;
        };
        for p in posted {
            let a = crate::api::to_alert(p, now, chrono::Duration::minutes(5));
            if a.validate().is_ok() {
                let _ = crate::labels::Fingerprint::of(&a.labels);
            }
        }
        return;
    }
    let Ok(p) = serde_json::from_slice::<PostableSilence>(body) else {
        return;
    };
    let silences = Silences::new(Clock::following_tokio(now), Duration::from_secs(3600));
    if let Ok(id) = silences.set(p.clone()) {
        let labels: LabelSet = [("alertname".to_string(), "A".to_string())].into();
        let _ = crate::mute::Muter::muted_by(&silences, &labels, now);
        let again = PostableSilence {
            id: Some(id.clone()),
            ..p
        };
        let _ = silences.set(again);
        let _ = silences.expire(&id);
    }
}
