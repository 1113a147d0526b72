//! The reliability matrix of issue 20, the alerter's fault rows: one test per row,
//! each asserting the row's pass condition against the real binary and printing one
//! `RELIABILITY <row>: <figure>` line (run with `--nocapture` to see them). The
//! README's "Reliability" table quotes these figures.
//!
//! `CI=true cargo test -p alerter --test reliability -- --nocapture`

#[path = "../common/mod.rs"]
mod common;
mod daemon;

mod bad_reload;
mod clock_jump;
mod corrupt_state;
mod disk_full;
mod kill9;
mod smtp_blackhole;
mod smtp_down;
