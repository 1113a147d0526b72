//! Checks the expected values of our own promqltest scripts (tests/promql/*.test) against
//! Debian's promtool 2.42: every `eval instant` becomes a promtool rule unit test
//! (`promql_expr_test`, exact float comparison) over the same `load` data. The scripts keep
//! samples off windows' left edges, where Prometheus 2.x and 3.x differ.

use std::path::Path;
use std::process::Command;

struct Case {
    line: usize,
    step: String,
    series: Vec<String>,
    time: String,
    expr: String,
    expected: Vec<String>,
}

fn cases(text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut step = String::new();
    let mut series: Vec<String> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        i += 1;
        if l == "clear" {
            series.clear();
        } else if let Some(s) = l.strip_prefix("load ") {
            step = s.trim().to_string();
            while i < lines.len()
                && !lines[i].trim().is_empty()
                && !lines[i].trim().starts_with('#')
            {
                series.push(lines[i].trim().to_string());
                i += 1;
            }
        } else if let Some(rest) = l.strip_prefix("eval instant at ") {
            let (time, expr) = rest.split_once(' ').expect("eval line");
            let line = i;
            let mut expected = Vec::new();
            while i < lines.len()
                && !lines[i].trim().is_empty()
                && !lines[i].trim().starts_with('#')
            {
                expected.push(lines[i].trim().to_string());
                i += 1;
            }
            out.push(Case {
                line,
                step: step.clone(),
                series: series.clone(),
                time: time.to_string(),
                expr: expr.to_string(),
                expected,
            });
        }
    }
    out
}

fn split_labels(line: &str) -> (String, String) {
    let cut = match line.rfind('}') {
        Some(b) => b + 1,
        None => line.find(' ').unwrap_or(line.len()),
    };
    (
        line[..cut].trim().to_string(),
        line[cut..].trim().to_string(),
    )
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn secs(d: &str) -> u64 {
    config_values::Duration::parse(d)
        .map(|d| d.as_millis_i64().unsigned_abs())
        .unwrap_or(0)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn to_promtool(c: &Case) -> String {
    let mut y = String::new();
    let interval = secs(&c.step);
    let t = secs(&c.time);
    let eval = gcd(interval, t).max(1);
    y.push_str(&format!(
        "evaluation_interval: {eval}ms\ntests:\n  - interval: {interval}ms\n    input_series:\n"
    ));
    for s in &c.series {
        let (l, v) = split_labels(s);
        y.push_str(&format!(
            "      - series: {}\n        values: {}\n",
            yaml_str(&l),
            yaml_str(&v)
        ));
    }
    // An alert test at the eval time makes promtool load samples up to it.
    y.push_str(&format!(
        "    alert_rule_test:\n      - eval_time: {t}ms\n        alertname: NoSuchAlert\n        exp_alerts: []\n"
    ));
    y.push_str(&format!(
        "    promql_expr_test:\n      - expr: {}\n        eval_time: {t}ms\n        exp_samples:\n",
        yaml_str(&c.expr)
    ));
    for e in &c.expected {
        let (l, v) = split_labels(e);
        let l = if l.parse::<f64>().is_ok() {
            "{}".to_string()
        } else {
            l
        };
        let v = if v.is_empty() { e.clone() } else { v };
        let v = match v.as_str() {
            "NaN" => ".nan".to_string(),
            "Inf" | "+Inf" => ".inf".to_string(),
            "-Inf" => "-.inf".to_string(),
            _ => v,
        };
        y.push_str(&format!(
            "          - labels: {}\n            value: {v}\n",
            yaml_str(&l)
        ));
    }
    y
}

#[test]
fn own_scripts_agree_with_promtool() {
    let Some(promtool) = e2e::require(
        "promtool",
        "Debian's prometheus package, to check expected values",
    ) else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("promql");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    let mut fails = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
    {
        let text = std::fs::read_to_string(p).expect("read");
        for c in cases(&text) {
            // NaN never equals NaN under promtool's exact comparison; those are checked by our runner only.
            if c.expected.iter().any(|e| e.ends_with("NaN")) {
                continue;
            }
            n += 1;
            let f = tmp.path().join(format!("case_{n}_test.yml"));
            std::fs::write(&f, to_promtool(&c)).expect("write");
            let out = Command::new(&promtool)
                .args(["test", "rules"])
                .arg(&f)
                .output()
                .expect("promtool");
            if !out.status.success() {
                fails.push(format!(
                    "{}:{} {}\n{}",
                    p.display(),
                    c.line,
                    c.expr,
                    String::from_utf8_lossy(&out.stdout)
                ));
            }
        }
    }
    assert!(n > 30, "only {n} cases");
    assert!(
        fails.is_empty(),
        "{} of {n} disagree with promtool:\n{}",
        fails.len(),
        fails.join("\n")
    );
    println!("{n} evals agree with promtool");
}
