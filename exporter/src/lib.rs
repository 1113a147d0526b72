//! The exporter: collectors that gather host, container, Redis and Celery metrics,
//! and the HTTP server that exposes them to Prometheus.

pub mod collector;
pub mod config;
pub mod exposition;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod process;
pub mod scrape;
pub mod setting;
