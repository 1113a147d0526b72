//! Named time intervals (`time_intervals:` and the legacy `mute_time_intervals:`),
//! as Alertmanager's timeinterval package decides them: an interval contains an
//! instant when every field it sets (times, weekdays, days_of_month, months, years)
//! has a range containing it, read in the interval's `location`. Validated with key
//! paths; the notify pipeline asks [`Intervals::mutes`] / [`Intervals::active`].

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde_yaml::Value;

/// Where an interval's wall-clock fields are read: `UTC`, `Local` (the host's zone,
/// as Go's `time.Local`), or an IANA name looked up, as Go's `time.LoadLocation`
/// does, in the system's zoneinfo (jiff's tz database).
#[derive(Clone, Debug, Default)]
pub enum Location {
    #[default]
    Utc,
    Local,
    Zone(String, jiff::tz::TimeZone),
}

impl PartialEq for Location {
    fn eq(&self, o: &Location) -> bool {
        match (self, o) {
            (Location::Utc, Location::Utc) | (Location::Local, Location::Local) => true,
            (Location::Zone(a, _), Location::Zone(b, _)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Location {}

/// The wall-clock fields of `t` in an IANA zone.
fn zoned_parts(t: &DateTime<Utc>, tz: &jiff::tz::TimeZone) -> Parts {
    let nanos = i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0);
    let Ok(ts) = jiff::Timestamp::new(t.timestamp(), nanos) else {
        return parts(t);
    };
    let z = tz.to_datetime(ts);
    Parts {
        minute_of_day: u32::try_from(i32::from(z.hour()) * 60 + i32::from(z.minute())).unwrap_or(0),
        weekday: u32::from(z.weekday().to_sunday_zero_offset().unsigned_abs()),
        day: u32::from(z.day().unsigned_abs()),
        days_in_month: u32::from(z.days_in_month().unsigned_abs()),
        month: u32::from(z.month().unsigned_abs()),
        year: i32::from(z.year()),
    }
}

/// One entry of an interval's `time_intervals:` list. `None`: the field is unset
/// and matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeInterval {
    /// Minutes since midnight, start inclusive, end exclusive.
    pub times: Option<Vec<(u32, u32)>>,
    /// 0 = Sunday .. 6 = Saturday, inclusive.
    pub weekdays: Option<Vec<(u32, u32)>>,
    /// 1..31 or -31..-1 (from the month's end), inclusive.
    pub days_of_month: Option<Vec<(i32, i32)>>,
    /// 1..12, inclusive.
    pub months: Option<Vec<(u32, u32)>>,
    pub years: Option<Vec<(i32, i32)>>,
    pub location: Location,
}

/// The fields of the local time an interval compares.
struct Parts {
    minute_of_day: u32,
    weekday: u32,
    day: u32,
    days_in_month: u32,
    month: u32,
    year: i32,
}

fn parts<T: Datelike + Timelike>(t: &T) -> Parts {
    let (y, m) = (t.year(), t.month());
    let first_next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    let days_in_month = first_next
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day());
    Parts {
        minute_of_day: t.hour() * 60 + t.minute(),
        weekday: t.weekday().num_days_from_sunday(),
        day: t.day(),
        days_in_month,
        month: m,
        year: y,
    }
}

fn any<R>(ranges: &Option<Vec<R>>, f: impl Fn(&R) -> bool) -> bool {
    ranges.as_ref().is_none_or(|rs| rs.iter().any(f))
}

impl TimeInterval {
    /// Alertmanager's `TimeInterval.ContainsTime`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let p = match &self.location {
            Location::Utc => parts(&t),
            Location::Local => parts(&t.with_timezone(&chrono::Local)),
            Location::Zone(_, tz) => zoned_parts(&t, tz),
        };
        any(&self.times, |&(s, e)| {
            p.minute_of_day >= s && p.minute_of_day < e
        }) && any(&self.days_of_month, |&(b, e)| {
            let n = i64::from(p.days_in_month);
            let abs = |d: i32| {
                if d < 0 {
                    n + i64::from(d) + 1
                } else {
                    i64::from(d)
                }
            };
            let (begin, end) = (abs(b), abs(e));
            // A start past the month's end (31 in April) matches nothing; the
            // end is clamped to the month (Alertmanager's clamp).
            if begin > n {
                return false;
            }
            let (begin, end) = (begin.clamp(-n, n), end.clamp(-n, n));
            let day = i64::from(p.day);
            day >= begin && day <= end
        }) && any(&self.months, |&(b, e)| p.month >= b && p.month <= e)
            && any(&self.weekdays, |&(b, e)| p.weekday >= b && p.weekday <= e)
            && any(&self.years, |&(b, e)| p.year >= b && p.year <= e)
    }
}

/// Every named interval of a config.
#[derive(Clone, Debug, Default)]
pub struct Intervals {
    by_name: HashMap<String, Vec<TimeInterval>>,
}

impl Intervals {
    /// Parses and validates the `mute_time_intervals` and `time_intervals`
    /// sections (this module owns their format); all problems are reported, one per
    /// line, each with its key path.
    pub fn compile(
        mute_time_intervals: &[Value],
        time_intervals: &[Value],
    ) -> Result<Intervals, String> {
        let mut errs = Vec::new();
        let mut by_name = HashMap::new();
        for (section, list) in [
            ("mute_time_intervals", mute_time_intervals),
            ("time_intervals", time_intervals),
        ] {
            for (i, v) in list.iter().enumerate() {
                let path = format!("{section}[{i}]");
                if let Some((name, ivs)) = named(v, &path, section, &mut errs)
                    && by_name.insert(name.clone(), ivs).is_some()
                {
                    let what = if section == "mute_time_intervals" {
                        "mute time interval"
                    } else {
                        "time interval"
                    };
                    errs.push(format!("{path}: {what} {name:?} is not unique"));
                }
            }
        }
        if errs.is_empty() {
            Ok(Intervals { by_name })
        } else {
            Err(errs.join("\n"))
        }
    }

    pub fn insert(&mut self, name: &str, ivs: Vec<TimeInterval>) {
        self.by_name.insert(name.to_string(), ivs);
    }

    pub fn get(&self, name: &str) -> Option<&[TimeInterval]> {
        self.by_name.get(name).map(Vec::as_slice)
    }

    /// Whether any of the named intervals contains `t`, and which did (Alertmanager's
    /// `Intervener.Mutes`). An unknown name is an error (validation prevents it).
    pub fn matching(&self, names: &[String], t: DateTime<Utc>) -> Result<Vec<String>, String> {
        let mut hit = Vec::new();
        for n in names {
            let ivs = self
                .by_name
                .get(n)
                .ok_or_else(|| format!("time interval {n} doesn't exist in config"))?;
            if ivs.iter().any(|iv| iv.contains(t)) {
                hit.push(n.clone());
            }
        }
        Ok(hit)
    }
}

/// The `name:` of one raw interval entry, for references checked before (or
/// without) compiling the intervals.
pub fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn named(
    v: &Value,
    path: &str,
    section: &str,
    errs: &mut Vec<String>,
) -> Option<(String, Vec<TimeInterval>)> {
    let Some(map) = v.as_mapping() else {
        errs.push(format!(
            "{path}: expected a mapping with name and time_intervals"
        ));
        return None;
    };
    let mut name = None;
    let mut ivs = Vec::new();
    for (k, val) in map {
        match k.as_str() {
            Some("name") => name = val.as_str().map(str::to_string),
            Some("time_intervals") => match val {
                Value::Sequence(items) => {
                    for (j, item) in items.iter().enumerate() {
                        let p = format!("{path}.time_intervals[{j}]");
                        if let Some(iv) = interval(item, &p, errs) {
                            ivs.push(iv);
                        }
                    }
                }
                Value::Null => {}
                _ => errs.push(format!("{path}.time_intervals: expected a list")),
            },
            _ => errs.push(format!("{path}: unknown field {}", show(k))),
        }
    }
    match name.filter(|n| !n.is_empty()) {
        Some(n) => Some((n, ivs)),
        None => {
            let what = if section == "mute_time_intervals" {
                "missing name in mute time interval"
            } else {
                "missing name in time interval"
            };
            errs.push(format!("{path}: {what}"));
            None
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml::to_string(other).map_or_else(|_| "?".into(), |s| s.trim().to_string()),
    }
}

/// A YAML scalar as text (years and days may be written as numbers).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn interval(v: &Value, path: &str, errs: &mut Vec<String>) -> Option<TimeInterval> {
    let Some(map) = v.as_mapping() else {
        errs.push(format!("{path}: expected a mapping"));
        return None;
    };
    let before = errs.len();
    let mut iv = TimeInterval::default();
    for (k, val) in map {
        let Some(key) = k.as_str() else {
            errs.push(format!("{path}: unknown field {}", show(k)));
            continue;
        };
        let p = format!("{path}.{key}");
        let list = || -> Result<&Vec<Value>, String> {
            val.as_sequence()
                .ok_or_else(|| format!("{p}: expected a list"))
        };
        match key {
            "times" => match list() {
                Ok(items) => {
                    let mut out = Vec::new();
                    for (i, it) in items.iter().enumerate() {
                        match time_range(it) {
                            Ok(r) => out.push(r),
                            Err(e) => errs.push(format!("{p}[{i}]: {e}")),
                        }
                    }
                    iv.times = Some(out);
                }
                Err(e) => errs.push(e),
            },
            "weekdays" | "days_of_month" | "months" | "years" => match list() {
                Ok(items) => {
                    let mut out = Vec::new();
                    for (i, it) in items.iter().enumerate() {
                        let r = scalar(it)
                            .ok_or_else(|| "expected a string such as \"1:5\"".to_string())
                            .and_then(|s| range(key, &s));
                        match r {
                            Ok(r) => out.push(r),
                            Err(e) => errs.push(format!("{p}[{i}]: {e}")),
                        }
                    }
                    let u = |v: &[(i32, i32)]| -> Vec<(u32, u32)> {
                        v.iter()
                            .map(|&(b, e)| (b.unsigned_abs(), e.unsigned_abs()))
                            .collect()
                    };
                    match key {
                        "weekdays" => iv.weekdays = Some(u(&out)),
                        "months" => iv.months = Some(u(&out)),
                        "days_of_month" => iv.days_of_month = Some(out),
                        _ => iv.years = Some(out),
                    }
                }
                Err(e) => errs.push(e),
            },
            "location" => match val.as_str() {
                Some("UTC" | "") => iv.location = Location::Utc,
                Some("Local") => iv.location = Location::Local,
                Some(name) => match jiff::tz::db().get(name) {
                    Ok(tz) => iv.location = Location::Zone(name.to_string(), tz),
                    Err(_) => errs.push(format!(
                        "{p}: unknown time zone {name:?} (expected \"UTC\", \"Local\" or an IANA name such as \"Europe/Berlin\", looked up in the system's zoneinfo)"
                    )),
                },
                None => errs.push(format!("{p}: expected a string")),
            },
            _ => errs.push(format!("{path}: unknown field {key:?}")),
        }
    }
    (errs.len() == before).then_some(iv)
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `HH:MM`, `00:00` to `24:00`, into minutes (timeinterval.parseTime).
fn parse_time(s: &str) -> Result<u32, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn time_range(v: &Value) -> Result<(u32, u32), String> {
    let map = v.as_mapping().ok_or("expected start_time and end_time")?;
    let (mut start, mut end) = (None, None);
    for (k, val) in map {
        match k.as_str() {
            Some("start_time") => start = val.as_str(),
            Some("end_time") => end = val.as_str(),
            _ => return Err(format!("unknown field {}", show(k))),
        }
    }
    let (Some(s), Some(e)) = (
        start.filter(|s| !s.is_empty()),
        end.filter(|s| !s.is_empty()),
    ) else {
        return Err("both start and end times must be provided".into());
    };
    let (s, e) = (parse_time(s)?, parse_time(e)?);
    if s >= e {
        return Err("start time cannot be equal or greater than end time".into());
    }
    Ok((s, e))
}

/// One `a` or `a:b` range of the given field, with Alertmanager's checks and texts.
fn range(field: &str, s: &str) -> Result<(i32, i32), String> {
    let lower = s.to_lowercase();
    let member = |m: &str| -> Result<i32, String> {
        match field {
            "weekdays" => WEEKDAYS
                .iter()
                .position(|d| *d == m)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| format!("{m} is not a valid weekday")),
            "months" => MONTHS
                .iter()
                .position(|d| *d == m)
                .and_then(|i| i32::try_from(i + 1).ok())
                .or_else(|| m.parse::<i32>().ok().filter(|n| (1..=12).contains(n)))
                .ok_or_else(|| format!("{m} is not a valid month")),
            _ => m
                .parse::<i32>()
                .map_err(|_| format!("couldn't parse range {s}, invalid format")),
        }
    };
    let (b, e) = match lower.split_once(':') {
        Some((b, e)) => {
            if e.contains(':') {
                return Err(format!("couldn't parse range {s}, invalid format"));
            }
            (member(b)?, member(e)?)
        }
        None => {
            let v = member(&lower)?;
            (v, v)
        }
    };
    match field {
        "weekdays" if b > e => Err("start day cannot be before end day".into()),
        "months" if b > e => Err(format!(
            "end month {} is before start month {}",
            MONTHS[usize::try_from(e - 1).unwrap_or(0)],
            MONTHS[usize::try_from(b - 1).unwrap_or(0)]
        )),
        "years" if b > e => Err(format!("end year {e} is before start year {b}")),
        "days_of_month" => {
            for d in [b, e] {
                if d == 0 || !(-31..=31).contains(&d) {
                    return Err(format!("{d} is not a valid day of the month: out of range"));
                }
            }
            if b < 0 && e > 0 {
                return Err("end day must be negative if start day is negative".into());
            }
            // Always-empty ranges, judged on a 28-day month as Alertmanager does.
            let c = |d: i32| if d < 0 { 28 + d } else { d };
            if c(b) > c(e) {
                return Err(format!("end day {e} is always before start day {b}"));
            }
            Ok((b, e))
        }
        _ => Ok((b, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn intervals(yaml: &str) -> Result<Intervals, String> {
        let doc: Value = serde_yaml::from_str(yaml).unwrap();
        let list = |k: &str| {
            doc.get(k)
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default()
        };
        Intervals::compile(&list("mute_time_intervals"), &list("time_intervals"))
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn business_hours() {
        let iv = intervals(
            r#"
time_intervals:
  - name: business
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "09:00", end_time: "17:00"}]
        location: UTC
"#,
        )
        .unwrap();
        let names = ["business".to_string()];
        // 2026-01-05 is a Monday.
        assert_eq!(iv.matching(&names, at(2026, 1, 5, 9, 0)).unwrap(), names);
        assert!(
            iv.matching(&names, at(2026, 1, 5, 8, 59))
                .unwrap()
                .is_empty()
        );
        // End is exclusive.
        assert!(
            iv.matching(&names, at(2026, 1, 5, 17, 0))
                .unwrap()
                .is_empty()
        );
        // Saturday.
        assert!(
            iv.matching(&names, at(2026, 1, 10, 10, 0))
                .unwrap()
                .is_empty()
        );
        assert!(iv.matching(&["x".into()], at(2026, 1, 5, 9, 0)).is_err());
    }

    #[test]
    fn negative_days_months_years() {
        let iv = intervals(
            r#"
mute_time_intervals:
  - name: last-days
    time_intervals:
      - days_of_month: ['-3:-1']
        months: ['february', '11:december']
        years: ['2024:2025', 2027]
"#,
        )
        .unwrap();
        let n = ["last-days".to_string()];
        let hit = |t| !iv.matching(&n, t).unwrap().is_empty();
        // 2024 is a leap year: the last three days of February are 27..29.
        assert!(hit(at(2024, 2, 27, 0, 0)));
        assert!(!hit(at(2024, 2, 26, 23, 59)));
        assert!(hit(at(2025, 2, 26, 0, 0)));
        assert!(hit(at(2025, 11, 28, 0, 0)));
        assert!(!hit(at(2025, 11, 27, 0, 0)));
        assert!(hit(at(2025, 12, 31, 12, 0)));
        assert!(!hit(at(2026, 12, 31, 12, 0)));
        assert!(hit(at(2027, 2, 28, 12, 0)));
        assert!(!hit(at(2025, 3, 31, 0, 0)));
    }

    #[test]
    fn day_past_month_end_matches_nothing_and_end_is_clamped() {
        let iv = TimeInterval {
            days_of_month: Some(vec![(31, 31)]),
            ..Default::default()
        };
        assert!(!iv.contains(at(2026, 4, 30, 0, 0)));
        assert!(iv.contains(at(2026, 5, 31, 0, 0)));
        let iv = TimeInterval {
            days_of_month: Some(vec![(25, 31)]),
            ..Default::default()
        };
        assert!(iv.contains(at(2026, 2, 28, 0, 0)));
        assert!(!iv.contains(at(2026, 3, 1, 0, 0)));
    }

    /// An IANA zone, read from the system's zoneinfo as Go reads it: 09:00-17:00 in
    /// Berlin is 08:00-16:00 UTC in winter (CET) and 07:00-15:00 in summer (CEST).
    #[test]
    fn iana_location_follows_the_zone_and_its_dst() {
        let iv = intervals(
            r#"
time_intervals:
  - name: office
    time_intervals:
      - times: [{start_time: "09:00", end_time: "17:00"}]
        weekdays: ['monday:friday']
        location: Europe/Berlin
"#,
        )
        .unwrap();
        let office = |t| iv.matching(&["office".to_string()], t).unwrap().len() == 1;
        // Monday 2026-01-05 (CET, UTC+1).
        assert!(!office(at(2026, 1, 5, 7, 59)));
        assert!(office(at(2026, 1, 5, 8, 0)));
        assert!(office(at(2026, 1, 5, 15, 59)));
        assert!(!office(at(2026, 1, 5, 16, 0)));
        // Monday 2026-07-06 (CEST, UTC+2).
        assert!(office(at(2026, 7, 6, 7, 0)));
        assert!(!office(at(2026, 7, 6, 15, 0)));
        // Sunday 23:30 UTC is Monday 00:30 in Berlin: weekday judged in the zone.
        let night = intervals(
            "time_intervals:\n  - name: mon\n    time_intervals:\n      - weekdays: [monday]\n        location: Europe/Berlin\n",
        )
        .unwrap();
        assert_eq!(
            night
                .matching(&["mon".to_string()], at(2026, 1, 4, 23, 30))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = intervals(
            r#"
time_intervals:
  - name: a
    time_intervals:
      - times: [{start_time: "10:00", end_time: "09:00"}, {start_time: "25:00", end_time: "26:00"}]
        weekdays: ['friday:monday', 'funday']
        days_of_month: ['0', '-1:5', '10:3']
        months: ['march:january', '13']
        years: ['2025:2024']
        location: Mars/Olympus
        hours: [1]
  - time_intervals: []
  - name: a
"#,
        )
        .unwrap_err();
        for want in [
            "time_intervals[0].time_intervals[0].times[0]: start time cannot be equal or greater than end time",
            "time_intervals[0].time_intervals[0].times[1]: couldn't parse timestamp 25:00, invalid format",
            "time_intervals[0].time_intervals[0].weekdays[0]: start day cannot be before end day",
            "time_intervals[0].time_intervals[0].weekdays[1]: funday is not a valid weekday",
            "time_intervals[0].time_intervals[0].days_of_month[0]: 0 is not a valid day of the month: out of range",
            "time_intervals[0].time_intervals[0].days_of_month[1]: end day must be negative if start day is negative",
            "time_intervals[0].time_intervals[0].days_of_month[2]: end day 3 is always before start day 10",
            "time_intervals[0].time_intervals[0].months[0]: end month january is before start month march",
            "time_intervals[0].time_intervals[0].months[1]: 13 is not a valid month",
            "time_intervals[0].time_intervals[0].years[0]: end year 2024 is before start year 2025",
            "time_intervals[0].time_intervals[0].location: unknown time zone \"Mars/Olympus\"",
            "time_intervals[0].time_intervals[0]: unknown field \"hours\"",
            "time_intervals[1]: missing name in time interval",
            "time_intervals[2]: time interval \"a\" is not unique",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }
}
