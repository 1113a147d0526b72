//! The alerter: rule evaluation, Alertmanager-compatible dispatch, and notifiers.

pub mod config;
pub mod notify;
pub mod promql;
pub mod rules;
pub mod selftest;
