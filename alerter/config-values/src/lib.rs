//! The leaf values of the exporter's and the alerter's configuration, shared so that
//! each is parsed by one grammar and shown by one rule: [`Duration`] (Prometheus's
//! duration grammar and bounds) and [`Secret`] (never shown, whatever prints it).
//! Depends on nothing of either binary.

mod duration;
mod secret;

pub use duration::{Duration, DurationError};
pub use secret::{MAX_SECRET_FILE, Secret, SecretError, read_secret_file};
