//! How the API and the silence file write a time: RFC 3339 in UTC with exactly
//! three fractional digits and `Z`, as go-openapi's `strfmt.DateTime` writes
//! (`2026-01-02T15:04:05.000Z`). One writer for both, so what the API shows is
//! byte for byte what is stored. A leaf: `silence` cannot import `api` (the API
//! depends on silences), so neither owns it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Writes `t` as `2026-01-02T15:04:05.000Z`.
pub fn write_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Reads any RFC 3339 time (any offset, any precision) as UTC.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// `#[serde(with = "crate::timefmt::millis")]`: a required time, written by
/// [`write_millis`] and read as RFC 3339.
pub mod millis {
    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        super::write_millis(t, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid time {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct T(#[serde(with = "millis")] DateTime<Utc>);

    #[test]
    fn milliseconds_and_z_whatever_the_precision() {
        let whole = Utc.with_ymd_and_hms(2026, 1, 2, 15, 4, 5).unwrap();
        assert_eq!(
            serde_json::to_string(&T(whole)).unwrap(),
            r#""2026-01-02T15:04:05.000Z""#
        );
        let fine = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(
            serde_json::to_string(&T(fine)).unwrap(),
            r#""2026-01-02T15:04:05.123Z""#
        );
    }

    #[test]
    fn reads_any_offset_as_utc_and_names_bad_text() {
        let T(t) = serde_json::from_str(r#""2026-01-02T16:04:05.5+01:00""#).unwrap();
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2026, 1, 2, 15, 4, 5).unwrap()
                + chrono::Duration::milliseconds(500)
        );
        let e = serde_json::from_str::<T>(r#""yesterday""#).unwrap_err();
        assert!(e.to_string().contains(r#"invalid time "yesterday""#), "{e}");
    }
}
