//! The v2 API's JSON shapes (openapi.yaml definitions), with Alertmanager's field
//! names. Times are written as Go's strfmt.DateTime writes them (milliseconds, `Z`)
//! and read as RFC 3339; Go's zero time `0001-01-01T00:00:00Z` reads as "not set".

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::labels::{LabelSet, MatchType, Matcher};

/// A time as the API writes it.
pub fn write_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// An optional time; absent, null, empty and Go's zero time are all `None`.
pub fn read_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = DateTime::parse_from_rfc3339(&raw)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "{raw:?} is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z): {e}"
            ))
        })?
        .with_timezone(&Utc);
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    /// Absent means true (openapi.yaml default).
    #[serde(default = "yes")]
    pub is_equal: bool,
    #[serde(default)]
    pub is_regex: bool,
    pub name: String,
    pub value: String,
}

fn yes() -> bool {
    true
}

impl ApiMatcher {
    pub fn from_matcher(m: &Matcher) -> ApiMatcher {
        ApiMatcher {
            is_equal: m.is_equal(),
            is_regex: m.is_regex(),
            name: m.name.clone(),
            value: m.value.clone(),
        }
    }

    pub fn to_matcher(&self) -> Result<Matcher, String> {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (false, true) => MatchType::NotRegexp,
        };
        Matcher::new(&self.name, op, &self.value)
    }
}

#[derive(Debug, Serialize)]
pub struct SilenceStatus {
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub comment: String,
    pub created_by: String,
    #[serde(serialize_with = "write_time")]
    pub ends_at: DateTime<Utc>,
    pub id: String,
    pub matchers: Vec<ApiMatcher>,
    #[serde(serialize_with = "write_time")]
    pub starts_at: DateTime<Utc>,
    pub status: SilenceStatus,
    #[serde(serialize_with = "write_time")]
    pub updated_at: DateTime<Utc>,
}

impl From<&super::SilenceView> for GettableSilence {
    fn from(s: &super::SilenceView) -> Self {
        GettableSilence {
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            ends_at: s.ends_at,
            id: s.id.clone(),
            matchers: s.matchers.iter().map(ApiMatcher::from_matcher).collect(),
            starts_at: s.starts_at,
            status: SilenceStatus { state: s.state },
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub matchers: Option<Vec<ApiMatcher>>,
    #[serde(default, deserialize_with = "read_time")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "read_time")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostSilenceOk {
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}
