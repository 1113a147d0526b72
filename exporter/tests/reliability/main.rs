//! Issue 20's reliability matrix, the exporter's rows: one module per row, each test
//! printing `RELIABILITY <row>: <figure>` for the README's table.
//!
//!   CI=true cargo test -p exporter --test reliability -- --nocapture
//!
//! `RELIABILITY_LOAD_SECS` sets the load row's duration (default 60 s).

#[path = "../common/mod.rs"]
mod common;

mod load;
mod peers;
