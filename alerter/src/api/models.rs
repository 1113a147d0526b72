//! The v2 API's JSON shapes (openapi.yaml definitions), with Alertmanager's field
//! names. Times are written as Go's strfmt.DateTime writes them (milliseconds, `Z`)
//! and read as RFC 3339; Go's zero time `0001-01-01T00:00:00Z` reads as "not set".

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::labels::LabelSet;

/// A time as the API writes it (the silence file writes the same bytes).
pub use crate::timefmt::write_millis as write_time;

/// An optional time; absent, null, empty and Go's zero time are all `None`.
pub fn read_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = crate::timefmt::parse_rfc3339(&raw).map_err(|e| {
        serde::de::Error::custom(format!(
            "{raw:?} is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z): {e}"
        ))
    })?;
    Ok((t.year() > 1).then_some(t))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    #[serde(default)]
    pub labels: Option<LabelSet>,
    #[serde(default)]
    pub annotations: Option<LabelSet>,
    #[serde(default, deserialize_with = "read_time")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "read_time")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReceiverRef {
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    pub inhibited_by: Vec<String>,
    pub silenced_by: Vec<String>,
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub annotations: LabelSet,
    #[serde(serialize_with = "write_time")]
    pub ends_at: DateTime<Utc>,
    pub fingerprint: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "String::is_empty")]
    pub generator_url: String,
    pub labels: LabelSet,
    pub receivers: Vec<ReceiverRef>,
    #[serde(serialize_with = "write_time")]
    pub starts_at: DateTime<Utc>,
    pub status: AlertStatus,
    #[serde(serialize_with = "write_time")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct AlertGroup {
    pub alerts: Vec<GettableAlert>,
    pub labels: LabelSet,
    pub receiver: ReceiverRef,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostSilenceOk {
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}
