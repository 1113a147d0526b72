//! Go's time layouts (`time.Format` with the reference time `2006-01-02
//! 15:04:05`), for the UTC times templates see, and reading back the string Go
//! prints a `time.Time` as.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

/// How Go prints a `time.Time` (`String()`), which is what templates see for
/// `StartsAt` and `EndsAt`.
pub(super) const GO_TIME_STRING: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

/// Parses what [`GO_TIME_STRING`] printed (always UTC here).
pub(super) fn parse_go_time(t: &str) -> Option<DateTime<Utc>> {
    let naive = t.strip_suffix(" +0000 UTC")?;
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `time.Format` with a reference layout (`2006-01-02 15:04:05`), for
/// UTC times: the zone prints as `UTC`, offsets as `+0000`, `Z07:00` as `Z`.
pub fn go_format(t: &DateTime<Utc>, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    let month = t.month0() as usize;
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    while let Some(c) = rest.chars().next() {
        // Longest token first, in the order Go's nextStdChunk tries them.
        let tokens: &[(&str, String)] = &[
            ("January", MONTHS[month].to_string()),
            ("Jan", MONTHS[month][..3].to_string()),
            (
                "Monday",
                DAYS[t.weekday().num_days_from_sunday() as usize].to_string(),
            ),
            (
                "Mon",
                DAYS[t.weekday().num_days_from_sunday() as usize][..3].to_string(),
            ),
            ("MST", "UTC".into()),
            ("2006", format!("{:04}", t.year())),
            ("002", format!("{:03}", t.ordinal())),
            ("01", format!("{:02}", t.month())),
            ("02", format!("{:02}", t.day())),
            ("03", format!("{hour12:02}")),
            ("04", format!("{:02}", t.minute())),
            ("05", format!("{:02}", t.second())),
            ("06", format!("{:02}", t.year().rem_euclid(100))),
            ("15", format!("{:02}", t.hour())),
            ("__2", format!("{:>3}", t.ordinal())),
            ("_2006", format!("_{:04}", t.year())),
            ("_2", format!("{:>2}", t.day())),
            ("1", t.month().to_string()),
            ("2", t.day().to_string()),
            ("3", hour12.to_string()),
            ("4", t.minute().to_string()),
            ("5", t.second().to_string()),
            ("PM", if t.hour() >= 12 { "PM" } else { "AM" }.into()),
            ("pm", if t.hour() >= 12 { "pm" } else { "am" }.into()),
            ("-07:00:00", "+00:00:00".into()),
            ("-070000", "+000000".into()),
            ("-07:00", "+00:00".into()),
            ("-0700", "+0000".into()),
            ("-07", "+00".into()),
            ("Z07:00:00", "Z".into()),
            ("Z070000", "Z".into()),
            ("Z07:00", "Z".into()),
            ("Z0700", "Z".into()),
            ("Z07", "Z".into()),
        ];
        if let Some((tok, val)) = tokens.iter().find(|(tok, _)| rest.starts_with(tok)) {
            out.push_str(val);
            rest = &rest[tok.len()..];
            continue;
        }
        // `.000` / `.999` (or `,`): fractional seconds, when the run of 0s or 9s
        // is not followed by another digit.
        if c == '.' || c == ',' {
            let digits = rest[1..].chars().next().filter(|d| *d == '0' || *d == '9');
            if let Some(d) = digits {
                let n = rest[1..].chars().take_while(|x| *x == d).count();
                let next_is_digit = rest[1 + n..].starts_with(|x: char| x.is_ascii_digit());
                if !next_is_digit {
                    let nanos = format!("{:09}", t.nanosecond());
                    let frac = &nanos[..n.min(9)];
                    if d == '0' {
                        out.push(c);
                        out.push_str(frac);
                        out.push_str(&"0".repeat(n.saturating_sub(9)));
                    } else {
                        let trimmed = frac.trim_end_matches('0');
                        if !trimmed.is_empty() {
                            out.push(c);
                            out.push_str(trimmed);
                        }
                    }
                    rest = &rest[1 + n..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn time_formatting() {
        assert_eq!(
            text(r#"{{ (index .Alerts 0).StartsAt.Format "2006-01-02 15:04:05 MST" }}"#),
            "2024-05-01 14:03:09 UTC"
        );
        assert_eq!(
            text(
                r#"{{ with index .Alerts 0 }}{{ .StartsAt.Format "Mon Jan _2 3:04PM 06 Z07:00" }} {{ .StartsAt.Unix }} {{ .EndsAt.IsZero }} {{ date "02.01.2006" .StartsAt }}{{ end }}"#
            ),
            "Wed May  1 2:03PM 24 Z 1714572189 true 01.05.2024"
        );
        let t = Utc.with_ymd_and_hms(2024, 12, 31, 0, 5, 7).unwrap()
            + chrono::Duration::milliseconds(120);
        assert_eq!(
            go_format(&t, "2006-01-02T15:04:05.000Z07:00"),
            "2024-12-31T00:05:07.120Z"
        );
        assert_eq!(
            go_format(&t, "15:04:05.999 pm January Monday 002 -0700"),
            "00:05:07.12 am December Tuesday 366 +0000"
        );
        assert_eq!(
            go_format(&t, GO_TIME_STRING),
            "2024-12-31 00:05:07.12 +0000 UTC"
        );
        assert_eq!(parse_go_time("2024-12-31 00:05:07.12 +0000 UTC"), Some(t));
        assert_eq!(go_format(&t, "3:04:05 PM"), "12:05:07 AM");
    }
}
