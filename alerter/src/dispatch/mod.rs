//! Alertmanager's dispatcher: routes alerts into aggregation groups and runs each
//! group's timers.

pub mod route;
