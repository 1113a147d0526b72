//! The alerter: rule evaluation, Alertmanager-compatible dispatch, and notifiers.

pub mod alert;
pub mod api;
pub mod clock;
pub mod config;
pub mod dispatch;
#[doc(hidden)]
pub mod fuzzing;
pub mod inhibit;
pub mod labels;
pub mod metrics;
pub mod mute;
pub mod notify;
pub mod promql;
pub mod provider;
pub mod ruler;
pub mod rules;
pub mod selfmon;
pub mod selftest;
pub mod server;
pub mod silence;
pub mod store;
pub mod sync;
pub mod timefmt;
pub mod timeinterval;
