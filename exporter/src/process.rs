//! The exporter's own `process_*` metrics (shared with the alerter, see
//! `web_toolkit::process`) and `exporter_build_info`.

use crate::metrics::Family;

/// Process and build-info families; a family whose source cannot be read is left out.
pub fn families() -> Vec<Family> {
    let mut out = Vec::with_capacity(8);
    let mut build = Family::gauge(
        "exporter_build_info",
        "A metric with a constant '1' value labeled by version and arch the exporter was built for.",
    );
    build.push(
        [
            ("version", env!("CARGO_PKG_VERSION")),
            ("arch", std::env::consts::ARCH),
        ],
        1.0,
    );
    out.push(build);
    for p in web_toolkit::process::samples() {
        let family = if p.counter {
            Family::counter(p.name, p.help)
        } else {
            Family::gauge(p.name, p.help)
        };
        out.push(family.single(p.value));
    }
    out
}
