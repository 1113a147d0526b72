//! The alerter: rule evaluation, Alertmanager-compatible dispatch, and notifiers.

pub mod config;
pub mod notify;
