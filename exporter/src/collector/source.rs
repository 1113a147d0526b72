//! What a collector is: the [`Collector`] trait every collector implements. A leaf of
//! its own, so the collectors import it without importing the list that registers them.

use futures::future::BoxFuture;

use crate::metrics::Family;

pub type CollectResult = Result<Vec<Family>, anyhow::Error>;

/// A source of metrics. `collect` runs on every scrape, concurrently with the other
/// collectors and under a timeout; an error marks only this collector as failed.
pub trait Collector: Send + Sync {
    /// Name used in `--collector.<name>` and in the `collector` label of the
    /// `*_scrape_collector_success` / `*_scrape_collector_duration_seconds` series.
    fn name(&self) -> &'static str;

    /// Prefix of this collector's success/duration series: `node` gives node_exporter's
    /// `node_scrape_collector_success{collector="cpu"}`.
    fn scrape_prefix(&self) -> &'static str {
        "node"
    }

    /// Gathers owned values; blocking I/O belongs in `spawn_blocking`.
    fn collect(&self) -> BoxFuture<'_, CollectResult>;
}
