//! Runs Prometheus's promqltest scripts (../shared/conformance/promql) through our engine: every
//! eval listed in alerting-subset.tsv must pass; the pass count over the other evals that need no
//! native histograms is printed. Also runs the repo's own scripts in tests/promql/.

use alerter::promql::Engine;
use alerter::promql::script::{Outcome, run_script};
use std::collections::HashSet;
use std::path::Path;

#[test]
fn upstream_alerting_subset_passes() {
    let Some(shared) = e2e::shared_dir() else {
        return;
    };
    let dir = shared.join("conformance").join("promql");
    let tsv =
        std::fs::read_to_string(dir.join("alerting-subset.tsv")).expect("alerting-subset.tsv");
    let subset: HashSet<(String, usize)> = tsv
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect();
    let engine = Engine::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("conformance dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let (mut sub_pass, mut sub_fail, mut other_pass, mut other_total) = (0, Vec::new(), 0, 0);
    for f in &files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(f).expect("read test file");
        for r in run_script(&text, &engine) {
            if subset.contains(&(name.clone(), r.line)) {
                match &r.outcome {
                    Outcome::Pass => sub_pass += 1,
                    o => sub_fail.push(format!("{name}:{} {} — {o:?}", r.line, r.expr)),
                }
            } else if !r.native_histogram && name != "native_histograms.test" {
                other_total += 1;
                if r.outcome == Outcome::Pass {
                    other_pass += 1;
                }
            }
        }
    }
    println!("alerting subset: {sub_pass}/{} pass", subset.len());
    println!("other evals without native histograms: {other_pass}/{other_total} pass");
    for f in &sub_fail {
        println!("FAIL {f}");
    }
    assert!(sub_fail.is_empty(), "{} subset evals fail", sub_fail.len());
    assert_eq!(
        sub_pass,
        subset.len(),
        "every subset eval must be found and pass"
    );
}

#[test]
fn own_scripts_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("promql");
    let engine = Engine::default();
    let mut n = 0;
    let mut fails = Vec::new();
    for e in std::fs::read_dir(&dir).expect("tests/promql") {
        let p = e.expect("entry").path();
        if p.extension().is_none_or(|x| x != "test") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read");
        for r in run_script(&text, &engine) {
            n += 1;
            if r.outcome != Outcome::Pass {
                fails.push(format!(
                    "{}:{} {} — {:?}",
                    p.display(),
                    r.line,
                    r.expr,
                    r.outcome
                ));
            }
        }
    }
    for f in &fails {
        println!("FAIL {f}");
    }
    assert!(fails.is_empty(), "{} of {n} evals fail", fails.len());
    assert!(n > 0);
}

/// Per-file pass counts over evals outside the subset (diagnostic; run with --nocapture).
#[test]
#[ignore]
fn per_file_report() {
    let Some(shared) = e2e::shared_dir() else {
        return;
    };
    let dir = shared.join("conformance").join("promql");
    let engine = Engine::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        let r = run_script(&text, &engine);
        let n = r.iter().filter(|r| !r.native_histogram).count();
        let p = r
            .iter()
            .filter(|r| !r.native_histogram && r.outcome == Outcome::Pass)
            .count();
        println!("{}: {p}/{n}", f.file_name().unwrap().to_string_lossy());
        if std::env::var("SHOW").is_ok_and(|s| f.to_string_lossy().contains(&s)) {
            for x in r
                .iter()
                .filter(|r| !r.native_histogram && r.outcome != Outcome::Pass)
            {
                println!("  {}: {} {:?}", x.line, x.expr, x.outcome);
            }
        }
    }
}
