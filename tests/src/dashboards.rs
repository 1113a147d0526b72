//! The Grafana dashboards in dashboards/: every panel query, with its variables filled in
//! as Grafana would fill them for "All", checked live against a Prometheus.

use serde_json::Value;

use crate::prometheus::Prometheus;

/// One query of one panel.
#[derive(Debug, Clone)]
pub struct Query {
    pub dashboard: String,
    pub panel: String,
    pub expr: String,
}

impl Query {
    /// The query as Prometheus receives it: `$job` and the other multi-value variables
    /// as their "All" value, `$__rate_interval` as four scrape intervals of a 1 s scrape.
    pub fn filled(&self) -> String {
        fill(&self.expr)
    }

    pub fn name(&self) -> String {
        format!("{} / {}: {}", self.dashboard, self.panel, self.expr)
    }
}

pub fn fill(expr: &str) -> String {
    let mut e = expr.replace("$__rate_interval", "4s");
    for var in ["$job", "$instance", "$container", "$queue"] {
        e = e.replace(var, ".+");
    }
    e
}

/// Every dashboard in dashboards/ as (file stem, JSON).
pub fn load() -> Vec<(String, Value)> {
    let dir = crate::workspace_root().join("dashboards");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("dashboards/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            let stem = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            out.push((stem, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no dashboards in {}", dir.display());
    out
}

/// Every panel (rows' nested panels included).
pub fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p.clone());
        out.extend(p["panels"].as_array().into_iter().flatten().cloned());
    }
    out
}

/// Every panel target's query.
pub fn queries() -> Vec<Query> {
    let mut out = Vec::new();
    for (name, d) in load() {
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(Query {
                        dashboard: name.clone(),
                        panel: p["title"].as_str().unwrap_or("").to_string(),
                        expr: expr.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// Runs each query against `prom`; returns one line per query that fails or returns no
/// data, unless its panel title is in `may_be_empty` (with the reason kept by the caller).
pub fn empty_or_failing(
    prom: &Prometheus,
    queries: &[Query],
    may_be_empty: &[&str],
) -> Vec<String> {
    let mut bad = Vec::new();
    for q in queries {
        match prom.query(&q.filled()) {
            Err(e) => bad.push(format!("{}: error {e}", q.name())),
            Ok(r) if r.is_empty() && !may_be_empty.contains(&q.panel.as_str()) => {
                bad.push(format!("{}: no data", q.name()))
            }
            Ok(_) => {}
        }
    }
    bad
}
