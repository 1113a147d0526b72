//! Prometheus rule files: loading and validation, templating, the alert state machine, and
//! promtool-format unit tests.

pub mod cli;
pub mod file;
pub mod group;
pub mod template;
pub mod unittest;

pub use file::{GroupDef, RuleError, check_files, load_file, parse_rules};
pub use group::{Alert, AlertState, EvalContext, Group};

#[cfg(test)]
mod layering {
    /// What rules/ may name in this crate: the engine and the leaf modules below it. Never
    /// config, notify, dispatch, server or api: those sit above rules and consume them.
    const ALLOWED: &[&str] = &["rules", "promql", "labels", "clock"];

    #[test]
    fn rules_names_only_the_engine_and_leaves() {
        let outside: Vec<_> = crate::promql::crate_modules_used("rules")
            .into_iter()
            .filter(|(_, _, m)| !ALLOWED.contains(&m.as_str()))
            .collect();
        assert!(
            outside.is_empty(),
            "rules/ names modules above it: {outside:?}"
        );
    }
}
