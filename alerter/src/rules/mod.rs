//! Prometheus rule files: loading and validation, templating, the alert state machine, and
//! promtool-format unit tests.

pub mod builtin;
pub mod cli;
pub mod duration;
pub mod file;
pub mod glob;
pub mod group;
pub mod template;
pub mod unittest;

pub use file::{GroupDef, RuleError, check_files, load_file, parse_rules};
pub use group::{Alert, AlertState, EvalContext, Group};
