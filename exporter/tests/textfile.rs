//! The textfile collector through the built binary: a malformed `*.prom` file sets
//! `node_textfile_scrape_error 1` while the good files are still served, and fixing the
//! file clears it on the next scrape (node_exporter's textfile semantics).

mod common;

use std::collections::BTreeMap;

use common::{Exporter, Fam, parse, scrape};

fn sample(f: &BTreeMap<String, Fam>, name: &str) -> Option<f64> {
    f.get(name)?.samples.values().next().copied()
}

#[tokio::test]
async fn malformed_file_sets_scrape_error_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.prom"),
        "# HELP app_ready Whether the app is ready.\n# TYPE app_ready gauge\napp_ready 1\n",
    )
    .unwrap();
    // A sample line with an unterminated label set and no value.
    std::fs::write(dir.path().join("bad.prom"), "app_jobs{queue=\"high\" \n").unwrap();
    // Not a *.prom file: never read, so its garbage cannot set the error.
    std::fs::write(dir.path().join("notes.txt"), "not { a metric\n").unwrap();
    let ours = Exporter::start(&[
        "--collector.disable-defaults",
        "--collector.textfile",
        &format!("--collector.textfile.directory={}", dir.path().display()),
    ]);

    let f = parse(&scrape(&ours.url()).await);
    assert_eq!(sample(&f, "node_textfile_scrape_error"), Some(1.0), "{f:?}");
    assert_eq!(
        sample(&f, "app_ready"),
        Some(1.0),
        "the good file is still served"
    );
    assert!(!f.contains_key("app_jobs"), "nothing of the bad file");
    let mtimes: Vec<String> = f["node_textfile_mtime_seconds"]
        .samples
        .keys()
        .flat_map(|(_, l)| {
            l.iter()
                .filter(|(k, _)| k == "file")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(mtimes, ["good.prom"], "mtime only for files read");
    let log = std::fs::read_to_string(ours.log.path()).unwrap();
    assert!(log.contains("bad.prom"), "the log names the file: {log}");

    // Fixed: the next scrape reads it and the error is gone.
    std::fs::write(
        dir.path().join("bad.prom"),
        "# TYPE app_jobs gauge\napp_jobs{queue=\"high\"} 7\n",
    )
    .unwrap();
    let f = parse(&scrape(&ours.url()).await);
    assert_eq!(sample(&f, "node_textfile_scrape_error"), Some(0.0), "{f:?}");
    assert_eq!(sample(&f, "app_jobs"), Some(7.0));
    assert_eq!(sample(&f, "app_ready"), Some(1.0));

    // A histogram is refused the same way (the README's promise).
    std::fs::write(
        dir.path().join("hist.prom"),
        "# TYPE app_latency histogram\napp_latency_bucket{le=\"+Inf\"} 1\napp_latency_sum 0.1\napp_latency_count 1\n",
    )
    .unwrap();
    let f = parse(&scrape(&ours.url()).await);
    assert_eq!(sample(&f, "node_textfile_scrape_error"), Some(1.0));
    assert!(!f.contains_key("app_latency"), "{f:?}");
    assert_eq!(sample(&f, "app_jobs"), Some(7.0));
}
