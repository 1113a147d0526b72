//! The alert as the dispatcher sees it, and Alertmanager's rules for merging a
//! re-sent alert into the stored one (alert.go `Merge`, provider/mem `Put`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::labels::{Fingerprint, LabelSet, valid_label_name, validate_label_set};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(serialize_with = "rfc3339")]
    pub starts_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub generator_url: String,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// True when `ends_at` was not given and is `resolve_timeout` after receipt.
    #[serde(default)]
    pub timeout: bool,
}

/// The bytes chrono's own `Serialize` writes (RFC 3339, UTC, 0/3/6/9 fractional
/// digits), formatted directly: chrono's general formatter took 1,400 instructions a
/// timestamp, a tenth of the cost of logging an alert. Years outside 0..=9999 and
/// leap seconds take chrono's path.
fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let n = t.naive_utc(); // once: each getter on `t` converts again
    let ns = n.nanosecond();
    if !(0..=9999).contains(&n.year()) || ns >= 1_000_000_000 {
        return s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    fn digits(out: &mut [u8], mut v: u32) {
        for d in out.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    digits(&mut b[0..4], n.year() as u32);
    digits(&mut b[5..7], n.month());
    digits(&mut b[8..10], n.day());
    digits(&mut b[11..13], n.hour());
    digits(&mut b[14..16], n.minute());
    digits(&mut b[17..19], n.second());
    let end = match ns {
        0 => 19,
        _ if ns.is_multiple_of(1_000_000) => 23,
        _ if ns.is_multiple_of(1_000) => 26,
        _ => 29,
    };
    if end > 19 {
        digits(&mut b[20..29], ns);
    }
    b[end] = b'Z';
    s.serialize_str(std::str::from_utf8(&b[..=end]).expect("ASCII digits"))
}

impl Alert {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.labels)
    }

    /// Resolved once `ends_at` is not after `now` (types.Alert.ResolvedAt).
    pub fn resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at <= now
    }

    /// Alertmanager's `Alert.Merge`: `self` is the stored alert, `o` the incoming one.
    #[must_use]
    pub fn merge(&self, o: &Alert, now: DateTime<Utc>) -> Alert {
        // Let `o` always be the younger alert.
        if o.updated_at < self.updated_at {
            return o.merge(self, now);
        }
        let mut res = o.clone();
        if self.starts_at < o.starts_at {
            res.starts_at = self.starts_at;
        }
        if o.resolved_at(now) {
            // The latest explicit resolution wins if both are resolved.
            if self.resolved_at(now) && self.ends_at > o.ends_at {
                res.ends_at = self.ends_at;
            }
        } else if self.ends_at > o.ends_at && !self.timeout {
            // A non-timeout end time rules if it is the latest one.
            res.ends_at = self.ends_at;
        }
        res
    }

    /// What to store when `incoming` arrives and `old` is stored under the same
    /// fingerprint: merged only if the activity ranges overlap (strictly), else
    /// replaced, which is how a re-fire after resolution gets a fresh start.
    #[must_use]
    pub fn merge_into(old: &Alert, incoming: Alert, now: DateTime<Utc>) -> Alert {
        let overlaps = (incoming.ends_at > old.starts_at && incoming.ends_at < old.ends_at)
            || (incoming.starts_at > old.starts_at && incoming.starts_at < old.ends_at);
        if overlaps {
            old.merge(&incoming, now)
        } else {
            incoming
        }
    }

    /// Alertmanager's `Alert.Validate` (types.go), with its error texts.
    pub fn validate(&self) -> Result<(), String> {
        let size = self.size();
        if size > MAX_ALERT_BYTES {
            return Err(format!(
                "alert too large: {size} bytes of labels, annotations and generatorURL, over the limit of {MAX_ALERT_BYTES} bytes per alert"
            ));
        }
        if self.ends_at < self.starts_at {
            return Err("start time must be before end time".into());
        }
        if self.labels.is_empty() {
            return Err("at least one label pair required".into());
        }
        validate_label_set(&self.labels).map_err(|e| format!("invalid label set: {e}"))?;
        for k in self.annotations.keys() {
            if !valid_label_name(k) {
                return Err(format!("invalid annotations: invalid name {k:?}"));
            }
        }
        Ok(())
    }
}

/// The largest alert taken (1 MiB): each is kept in memory, in the alerts log
/// and in every notification, so one huge alert posted again and again must not
/// grow them without bound.
pub const MAX_ALERT_BYTES: usize = 1 << 20;

impl Alert {
    /// The bytes of its labels, annotations and generatorURL.
    pub fn size(&self) -> usize {
        let set = |s: &LabelSet| s.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        set(&self.labels) + set(&self.annotations) + self.generator_url.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        crate::clock::test_epoch() + chrono::TimeDelta::seconds(s)
    }

    fn alert(start: i64, end: i64, updated: i64) -> Alert {
        Alert {
            labels: [("alertname".to_string(), "A".to_string())].into(),
            annotations: LabelSet::new(),
            starts_at: t(start),
            ends_at: t(end),
            generator_url: String::new(),
            updated_at: t(updated),
            timeout: false,
        }
    }

    #[test]
    fn timestamps_serialize_as_chrono_does() {
        for (secs, nanos) in [
            (0, 0),
            (1_767_225_600, 0),
            (1_767_225_600, 120_000_000),
            (1_767_225_600, 123_456_000),
            (1_767_225_600, 123_456_789),
            (-62_135_596_800, 0),
            (253_402_300_799, 999_999_999),
            (253_402_300_800, 1),
            (-62_167_219_200, 5_000),
            (-62_167_219_201, 0),
            (1_483_228_799, 1_000_000_000), // a leap second
        ]
        .into_iter()
        .chain((0..2000u64).map(|i| {
            // Spread over years 0000..=9999 and every fractional-digit count.
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
            let secs = (x % 315_537_897_600) as i64 - 62_167_219_200;
            let nanos = [0, 7_000_000, 123_000, 5, 999_999_999][i as usize % 5];
            (secs, nanos)
        })) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let a = Alert {
                starts_at: t,
                ends_at: t,
                updated_at: t,
                ..alert(0, 0, 0)
            };
            let v = serde_json::to_value(&a).unwrap();
            let want = serde_json::to_value(t).unwrap();
            for f in ["starts_at", "ends_at", "updated_at"] {
                assert_eq!(v[f], want, "{f} of {t:?}");
            }
            let back: Alert = serde_json::from_value(v).unwrap();
            assert_eq!(back, a);
        }
    }

    #[test]
    fn resend_with_same_start_replaces() {
        // Prometheus re-sends with the same startsAt and a later endsAt: neither strict
        // overlap clause holds, so the stored alert is replaced.
        let old = alert(0, 60, 0);
        let mut new = alert(0, 120, 30);
        new.annotations.insert("summary".into(), "new".into());
        let got = Alert::merge_into(&old, new.clone(), t(30));
        assert_eq!(got, new);
    }

    #[test]
    fn overlapping_merge_keeps_earliest_start() {
        let old = alert(0, 100, 0);
        let new = alert(50, 200, 10);
        let got = Alert::merge_into(&old, new, t(10));
        assert_eq!(got.starts_at, t(0));
        assert_eq!(got.ends_at, t(200));
    }

    #[test]
    fn refire_after_resolution_gets_fresh_start() {
        let old = alert(0, 100, 100);
        let new = alert(300, 400, 300);
        let got = Alert::merge_into(&old, new, t(300));
        assert_eq!(got.starts_at, t(300));
    }

    #[test]
    fn validation_texts() {
        assert_eq!(
            alert(10, 5, 0).validate().unwrap_err(),
            "start time must be before end time"
        );
        let mut a = alert(0, 5, 0);
        a.labels.clear();
        assert_eq!(
            a.validate().unwrap_err(),
            "at least one label pair required"
        );
    }
}
