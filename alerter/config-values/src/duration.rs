//! Prometheus's duration (`model.ParseDuration` in prometheus/common): an integer and
//! a unit, units from largest to smallest, each at most once (`1h30m`, `250ms`, `2w`),
//! or a bare `0`. Millisecond resolution; at most what a Go `time.Duration` holds
//! (about 292 years), so a value Prometheus accepts is one we accept and vice versa.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from configuration, flags or rule files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

/// Why a text is not a duration. The message names the text and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration: empty (expected e.g. 30s, 5m, 1h30m)")]
    Empty,
    #[error(
        "invalid duration {0:?}: expected a whole number and a unit (ms, s, m, h, d, w, y), \
         units from largest to smallest, e.g. 30s, 5m, 1h30m"
    )]
    Syntax(String),
    #[error("invalid duration {0:?}: out of range (at most 292y)")]
    OutOfRange(String),
}

/// Units from largest to smallest, in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Go's `time.Duration` is an i64 of nanoseconds; Prometheus refuses anything longer.
const MAX_MILLIS: u64 = i64::MAX as u64 / 1_000_000;

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// Parses Prometheus's grammar (see the module docs).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        let syntax = || DurationError::Syntax(text.to_string());
        let range = || DurationError::OutOfRange(text.to_string());
        let mut rest = text;
        let mut total: u64 = 0;
        // Index into UNITS of the next unit allowed: each must be smaller than the last.
        let mut next = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(syntax());
            }
            // More digits than a u64 holds is out of range, not a syntax error.
            let n: u64 = rest[..digits].parse().map_err(|_| range())?;
            rest = &rest[digits..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..letters];
            let i = UNITS[next..]
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(syntax)?
                + next;
            next = i + 1;
            total = n
                .checked_mul(UNITS[i].1)
                .and_then(|ms| total.checked_add(ms))
                .filter(|t| *t <= MAX_MILLIS)
                .ok_or_else(range)?;
            rest = &rest[letters..];
        }
        Ok(Duration::from_millis(total))
    }

    pub const fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Whole milliseconds; always fits (the range is bounded at parse).
    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

/// Prometheus's `Duration.String`: years and weeks only when they divide the value
/// exactly (`14d` prints as `2w`, `3w2d1h` as `23d1h`), `0s` for zero.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, (unit, mult)) in UNITS.iter().enumerate() {
            let exact_only = i < 2;
            if exact_only && ms % mult != 0 {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    /// A visitor, not a buffered value: an error raised inside the visit carries the
    /// YAML key path and line of the value (`route.group_wait ... at line 5`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h30m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            // YAML reads `0` as a number; Prometheus takes it as a duration too.
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Duration::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Duration::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    /// prometheus/common model/time_test.go, TestParseDuration: text, value, and how
    /// Prometheus prints it back (`None`: as written).
    #[test]
    fn prometheus_valid_cases() {
        let cases: &[(&str, u64, Option<&str>)] = &[
            ("0", 0, Some("0s")),
            ("0w", 0, Some("0s")),
            ("0s", 0, None),
            ("324ms", 324, None),
            ("3s", 3_000, None),
            ("5m", 300_000, None),
            ("1h", H, None),
            ("4d", 4 * 24 * H, None),
            ("4d1h", 4 * 24 * H + H, None),
            ("14d", 14 * 24 * H, Some("2w")),
            ("3w", 3 * 7 * 24 * H, None),
            ("3w2d1h", 3 * 7 * 24 * H + 2 * 24 * H + H, Some("23d1h")),
            ("10y", 10 * 365 * 24 * H, None),
            // Ours, for the grammar's corners.
            ("1y1w1d1h1m1s1ms", 32_230_861_001, Some("373d1h1m1s1ms")),
            ("1h30m", 90 * 60_000, None),
            ("90s", 90_000, Some("1m30s")),
            ("292y", 292 * 365 * 24 * H, None),
        ];
        for (text, ms, shown) in cases {
            let d = Duration::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d, Duration::from_millis(*ms), "{text}");
            assert_eq!(d.to_string(), shown.unwrap_or(text), "{text}");
        }
    }

    /// TestParseBadDuration, plus the overflow cases of newer prometheus/common and
    /// the forms each of our four former parsers accepted by mistake or refused.
    #[test]
    fn prometheus_invalid_cases() {
        for text in [
            "1", "1y1m1d", "-1w", "1.5d", "d", "", " 5m", "5m ", "5M", "1m1h", "1h1h", "5mm",
            "5 m", "1s500", "ms", "0x10s",
        ] {
            assert!(
                matches!(
                    Duration::parse(text),
                    Err(DurationError::Syntax(_) | DurationError::Empty)
                ),
                "{text:?} must be refused as syntax"
            );
        }
        for text in [
            "294y",
            "200y40000d",
            "107675d",
            "15372w",
            "9223372036855ms",
            "99999999999999999999s",
            "18446744073709551615y",
        ] {
            assert_eq!(
                Duration::parse(text),
                Err(DurationError::OutOfRange(text.into())),
                "{text:?}"
            );
        }
        // The largest value Go's time.Duration holds, in milliseconds, still parses.
        assert!(Duration::parse("9223372036854ms").is_ok());
    }

    #[test]
    fn errors_name_the_text_and_the_grammar() {
        let e = Duration::parse("5").unwrap_err().to_string();
        assert!(e.contains("\"5\"") && e.contains("1h30m"), "{e}");
        assert!(
            Duration::parse("300y")
                .unwrap_err()
                .to_string()
                .contains("292y")
        );
    }

    #[test]
    fn serde_reads_text_and_a_bare_zero_and_writes_text() {
        let d: Duration = serde_yaml::from_str("1h30m").unwrap();
        assert_eq!(d.as_std(), std::time::Duration::from_secs(5400));
        let z: Duration = serde_yaml::from_str("0").unwrap();
        assert!(z.is_zero());
        let e = serde_yaml::from_str::<Duration>("5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid duration"), "{e}");
        assert!(serde_yaml::from_str::<Duration>("5x").is_err());
        assert_eq!(
            serde_yaml::to_string(&Duration::from_secs(90))
                .unwrap()
                .trim(),
            "1m30s"
        );
    }
}
