//! The alerter: rule evaluation, Alertmanager-compatible dispatch, and notifiers.

pub mod notify;
pub mod promql;
pub mod rules;
pub mod selftest;
