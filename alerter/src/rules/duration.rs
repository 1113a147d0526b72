//! Durations in rule and promtool unit-test files: Prometheus's grammar
//! (`config_values::Duration`), with errors worded as promtool words them, since our
//! verdicts and messages are compared with its.

use config_values::{Duration, DurationError};

/// A duration in a rule or unit-test file: Prometheus's grammar ([`Duration`]), the
/// error worded as promtool words it, since our verdicts and messages are compared with its.
pub fn parse_duration(s: &str) -> Result<Duration, PromtoolDurationError> {
    Duration::parse(s).map_err(PromtoolDurationError)
}

/// A [`DurationError`] shown as prometheus/common's `model.ParseDuration` shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", promtool_words(.0))]
pub struct PromtoolDurationError(pub DurationError);

fn promtool_words(e: &DurationError) -> String {
    match e {
        DurationError::Empty => "empty duration string".into(),
        DurationError::Syntax(text) => format!("not a valid duration string: {text:?}"),
        DurationError::OutOfRange(_) => "duration out of range".into(),
    }
}
