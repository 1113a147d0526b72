//! Replays every committed cargo-fuzz corpus (`alerter/fuzz/corpus/<target>/`) through the
//! same function its fuzz target calls ([`alerter::fuzzing`]), so CI runs each input the
//! fuzzers kept (crash reproducers included) without libFuzzer or a nightly toolchain.
//! A missing or empty corpus fails: it would make the replay pass by testing nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use alerter::fuzzing;

/// Per input, in a debug build (the fuzzers run release builds with a 1 s limit).
const SLOW: Duration = Duration::from_secs(10);

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: corpus missing: {e}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|e| e.expect("read corpus dir").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: corpus is empty", dir.display());
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        let start = Instant::now();
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            panic!("{target}: {} panics", f.display());
        }
        let took = start.elapsed();
        assert!(took < SLOW, "{target}: {} took {took:?}", f.display());
    }
    println!("{target}: {} inputs", files.len());
}

#[test]
fn config() {
    replay("config", fuzzing::config);
}

#[test]
fn matchers() {
    replay("matchers", fuzzing::matchers);
}

#[test]
fn rule_file() {
    replay("rule_file", fuzzing::rule_file);
}

#[test]
fn promql() {
    replay("promql", fuzzing::promql);
}

#[test]
fn api_v2() {
    replay("api_v2", fuzzing::api_v2);
}
