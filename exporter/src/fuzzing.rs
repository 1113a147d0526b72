//! The bodies of the coverage-guided fuzz targets (`exporter/fuzz/`), one function each, so
//! that the fuzzers and the corpus replay test (`tests/fuzz_corpus.rs`) run the same code.
//! Each takes arbitrary bytes and panics only on a defect: an error result is the expected
//! answer to bad input.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::collector::celery::events::{State, parse_message};
use crate::collector::redis::info::{info_families, keyspace_families, parse_info};
use crate::config::{Config, Flags, parse_listen};
use crate::exposition::{Format, encode};

/// The config file and the flags together: the bytes before the first NUL are the YAML
/// file, the lines after it are command-line arguments (`--scrape.collector-timeout=5s`).
/// Each argument's value is also parsed on its own as a duration and a listen address, the
/// two value grammars the flags share.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, args) = text.split_once('\0').unwrap_or((&text, ""));
    let args: Vec<&str> = args.lines().collect();
    for a in &args {
        let value = a.split_once('=').map_or(*a, |(_, v)| v);
        let _ = config_values::Duration::parse(value);
        let _ = parse_listen(value);
    }
    let path = Path::new("fuzz.yml");
    let Ok(raw) = Config::parse_file_text(file, path) else {
        return;
    };
    let argv = std::iter::once("exporter").chain(args.iter().copied());
    let Ok(flags) = Flags::try_parse_from(argv) else {
        return;
    };
    let _ = Config::from_layers(&flags, raw, Some(path));
}

/// Redis `INFO ALL` output, as a scrape reads it and renders it.
pub fn redis_info(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let info = parse_info(&text);
    let mut fams = info_families(&info, 1_767_225_600.0);
    fams.extend(keyspace_families(&info, 16));
    let _ = encode(fams, Format::Text);
}

/// One Celery event pub/sub message (kombu's envelope), applied to the collector's state,
/// which is then rendered.
pub fn celery_event(data: &[u8]) {
    let events = parse_message(data);
    let now = Instant::now();
    let mut state = State::default();
    for e in &events {
        state.apply(e, now);
    }
    let _ = state.purge_offline_workers(now + Duration::from_secs(3600), Duration::from_secs(60));
    let _ = encode(state.families(now), Format::Text);
}
