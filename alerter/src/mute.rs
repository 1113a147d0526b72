//! The one interface inhibition and silences share (Alertmanager's `types.Muter`).
//! It answers with *what* mutes an alert, so the notify pipeline (muted or not) and
//! the API (`silencedBy`, `inhibitedBy`) ask the same question.

use chrono::{DateTime, Utc};

use crate::labels::LabelSet;

pub trait Muter: Send + Sync {
    /// IDs of whatever mutes an alert with these labels at `now`: silence IDs, or the
    /// fingerprints of inhibiting alerts. Empty when the alert is not muted.
    fn muted_by(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String>;

    fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> bool {
        !self.muted_by(labels, now).is_empty()
    }
}
