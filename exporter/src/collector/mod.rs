//! The collector trait and THE list of collectors. Adding a collector is one new
//! module, one config section and one entry in `build_enabled`.

use futures::future::BoxFuture;

use crate::metrics::Family;

pub type CollectResult = Result<Vec<Family>, anyhow::Error>;

/// A source of metrics. `collect` runs on every scrape, concurrently with the other
/// collectors and under a timeout; an error marks only this collector as failed.
pub trait Collector: Send + Sync {
    /// Name used in `--collector.<name>` and in the `collector` label of the
    /// `*_scrape_collector_success` / `*_scrape_collector_duration_seconds` series.
    fn name(&self) -> &'static str;

    /// Gathers owned values; blocking I/O belongs in `spawn_blocking`.
    fn collect(&self) -> BoxFuture<'_, CollectResult>;
}
