//! The Grafana dashboards in dashboards/ follow the rules that keep them working under
//! file provisioning (grafana/grafana#10786: no `__inputs`, a `datasource` variable on every
//! query), every query is valid PromQL, and the JSON is what dashboards/build.py builds.
//! That each query returns data is checked live in the exporter's and the alerter's
//! `dashboards` tests.

use std::collections::BTreeSet;
use std::process::Command;

use e2e::dashboards::{load, panels, queries};
use serde_json::{Value, json};

fn ds() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

#[test]
fn json_is_what_build_py_makes() {
    let Some(py) = e2e::require("python3", "dashboards/build.py makes the dashboards") else {
        return;
    };
    let root = e2e::workspace_root();
    let out = Command::new(py)
        .arg(root.join("dashboards/build.py"))
        .arg("--check")
        .output()
        .expect("run build.py");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn provisioning_rules_hold() {
    let all = load();
    let uids: BTreeSet<String> = all
        .iter()
        .map(|(_, d)| d["uid"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(uids.len(), all.len(), "dashboard uids must be unique");
    let mut problems = Vec::new();
    for (name, d) in &all {
        let v = d["schemaVersion"].as_u64().unwrap_or(0);
        if !(39..=41).contains(&v) {
            problems.push(format!("{name}: schemaVersion {v}, expected 39–41"));
        }
        if d.get("__inputs").is_some() {
            problems.push(format!("{name}: __inputs breaks file provisioning"));
        }
        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |n: &str| vars.iter().find(|v| v["name"] == n).cloned();
        match var("datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            other => problems.push(format!("{name}: datasource variable: {other:?}")),
        }
        if name != "overview" {
            for n in ["job", "instance"] {
                if var(n).is_none_or(|v| v["type"] != "query" || v["datasource"] != ds()) {
                    problems.push(format!(
                        "{name}: no `{n}` query variable on ${{datasource}}"
                    ));
                }
            }
        }
        let mut ids = BTreeSet::new();
        for p in panels(d) {
            let title = p["title"].as_str().unwrap_or("").to_string();
            if !ids.insert(p["id"].as_u64().unwrap_or(0)) {
                problems.push(format!("{name}/{title}: duplicate panel id"));
            }
            let g = &p["gridPos"];
            if g["x"].as_u64().unwrap_or(99) + g["w"].as_u64().unwrap_or(99) > 24 {
                problems.push(format!("{name}/{title}: wider than the grid"));
            }
            if p["type"] == "row" {
                continue;
            }
            if p["datasource"] != ds() {
                problems.push(format!(
                    "{name}/{title}: panel datasource {}",
                    p["datasource"]
                ));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{name}/{title}: no query"));
            }
            for t in targets {
                if t["datasource"] != ds() {
                    problems.push(format!(
                        "{name}/{title}: target datasource {}",
                        t["datasource"]
                    ));
                }
            }
            for l in p["links"].as_array().into_iter().flatten() {
                let url = l["url"].as_str().unwrap_or("");
                let uid = url
                    .trim_start_matches("/d/")
                    .split(['?', '/'])
                    .next()
                    .unwrap_or("");
                if !uids.contains(uid) {
                    problems.push(format!("{name}/{title}: link to unknown dashboard {url}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every rate over a range uses `$__rate_interval` (Grafana's interval that always holds
/// enough samples); `increase` may use a fixed window, which its panel title names.
#[test]
fn rates_use_rate_interval() {
    let mut bad = Vec::new();
    for q in queries() {
        for (i, _) in q.expr.match_indices("rate(") {
            let rest = &q.expr[i..];
            let window = rest
                .find('[')
                .and_then(|a| rest[a..].find(']').map(|b| &rest[a + 1..a + b]));
            if window != Some("$__rate_interval") {
                bad.push(q.name());
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_query_is_valid_promql() {
    let qs = queries();
    assert!(qs.len() > 60, "only {} queries", qs.len());
    let bad: Vec<String> = qs
        .iter()
        .filter_map(|q| {
            promql_parser::parser::parse(&q.filled())
                .err()
                .map(|e| format!("{}: {e}", q.name()))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
