//! Label sets, matchers and fingerprints, as Alertmanager defines them
//! (prometheus/common model.LabelSet, alertmanager pkg/labels). Every matcher the
//! config, the API and amtool hand us is parsed here, so all of them agree.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A label set, sorted by name (the order fingerprints and group keys use).
pub type LabelSet = BTreeMap<String, String>;

/// An alert's identity: FNV-1a 64 over the sorted labels, as Prometheus's
/// `model.LabelSet.Fingerprint`. Shown as 16 hex digits, like Alertmanager's API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(pub u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEP: u8 = 0xff;

fn fnv_add(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl Fingerprint {
    pub fn of(labels: &LabelSet) -> Fingerprint {
        Fingerprint::of_sorted(labels)
    }

    /// The fingerprint of the label set these pairs would make (they must come in
    /// name order, as a [`LabelSet`] iterates), without building it.
    pub fn of_sorted<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Fingerprint {
        let mut h = FNV_OFFSET;
        for (k, v) in pairs {
            h = fnv_add(h, k.as_bytes());
            h = fnv_add(h, &[SEP]);
            h = fnv_add(h, v.as_bytes());
            h = fnv_add(h, &[SEP]);
        }
        Fingerprint(h)
    }
}

impl fmt::Display for Fingerprint {
    /// 16 lowercase hex digits (`{:016x}`), written directly: this is every alert
    /// log line's key, and the formatting machinery cost more than the hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = [0u8; 16];
        for (i, d) in b.iter_mut().enumerate() {
            *d = b"0123456789abcdef"[(self.0 >> (60 - 4 * i) & 0xf) as usize];
        }
        f.write_str(std::str::from_utf8(&b).expect("hex digits"))
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        u64::from_str_radix(&s, 16)
            .map(Fingerprint)
            .map_err(|_| format!("not a fingerprint: {s:?}"))
    }
}

/// Renders a label set as Prometheus does: `{a="1", b="2"}`.
pub fn format_labels(ls: &LabelSet) -> String {
    let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A legacy `match_re` map (routes, inhibit rules) read as written: a name without a
/// value is refused, as Alertmanager's `MatchRegexps` refuses it, where serde alone
/// would read the empty regex and quietly match only alerts without that label.
pub fn regex_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    BTreeMap::<String, Option<String>>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => Ok((k, v)),
            None => Err(serde::de::Error::custom(format!(
                "invalid regexp value for {k:?}"
            ))),
        })
        .collect()
}

/// Whether `name` is a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a label set the way Alertmanager validates a posted alert's labels.
pub fn validate_label_set(ls: &LabelSet) -> Result<(), String> {
    for (k, v) in ls {
        if !valid_label_name(k) {
            return Err(format!("invalid name {k:?}"));
        }
        if v.is_empty() {
            return Err(format!("invalid value for label {k:?}: empty"));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

/// One matcher. Regexes are anchored at both ends, as in Alertmanager.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchType,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    pub fn new(name: &str, op: MatchType, value: &str) -> Result<Matcher, String> {
        let re = match op {
            MatchType::Regexp | MatchType::NotRegexp => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// Whether `value` (the empty string for a missing label) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchType::Equal, _) => value == self.value,
            (MatchType::NotEqual, _) => value != self.value,
            (MatchType::Regexp, Some(re)) => re.is_match(value),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(value),
            _ => false,
        }
    }

    /// A missing label matches as the empty string (Alertmanager and Prometheus alike).
    pub fn matches(&self, ls: &LabelSet) -> bool {
        self.matches_value(ls.get(&self.name).map_or("", String::as_str))
    }

    pub fn is_regex(&self) -> bool {
        matches!(self.op, MatchType::Regexp | MatchType::NotRegexp)
    }

    pub fn is_equal(&self) -> bool {
        matches!(self.op, MatchType::Equal | MatchType::Regexp)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), quote(&self.value))
    }
}

/// Go's strconv.Quote for the characters matcher values carry.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of matchers that must all match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    pub fn matches(&self, ls: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(ls))
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{{{}}}", inner.join(", "))
    }
}

/// Parses one matcher string as written in `matchers:` lists and by amtool:
/// `name="value"`, `name=~"re"`, `name!=value` (quotes optional; `\"`, `\\`, `\n`
/// escapes inside quotes). Alertmanager's classic parser (pkg/labels/parse.go).
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let t = s.trim();
    let name_len = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == ':'))
        .map_or(t.len(), |(i, _)| i);
    let name = &t[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("bad matcher format: {s}"));
    }
    let rest = t[name_len..].trim_start();
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regexp, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegexp, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else {
        return Err(format!("bad matcher format: {s}"));
    };
    let raw = rest.trim();
    let value = if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| format!("bad matcher format: {s} (unterminated quote)"))?;
        unescape(inner).ok_or_else(|| format!("bad matcher format: {s} (bad escape)"))?
    } else {
        raw.to_string()
    };
    Matcher::new(name, op, &value)
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                other => {
                    // Go's classic parser keeps unknown escapes as written (regexes use them).
                    out.push('\\');
                    out.push(other);
                }
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Parses a matcher list: `{a="1", b=~"x|y"}` or `a="1",b=~"x|y"` (amtool, API
/// filters). Commas inside quotes do not split.
pub fn parse_matchers(s: &str) -> Result<Matchers, String> {
    let mut t = s.trim();
    if let Some(inner) = t.strip_prefix('{') {
        t = inner
            .strip_suffix('}')
            .ok_or_else(|| format!("bad matcher list: {s} (missing closing brace)"))?;
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in t.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            ',' if !in_quote => {
                let part = t[start..i].trim();
                if !part.is_empty() {
                    out.push(parse_matcher(part)?);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let part = t[start..].trim();
    if !part.is_empty() {
        out.push(parse_matcher(part)?);
    }
    Ok(Matchers(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprint_shows_as_sixteen_hex_digits() {
        for v in [0, 1, 0xabc, 0x0123_4567_89ab_cdef, u64::MAX, 1 << 63] {
            assert_eq!(Fingerprint(v).to_string(), format!("{v:016x}"));
            assert_eq!(
                Fingerprint::try_from(Fingerprint(v).to_string()),
                Ok(Fingerprint(v))
            );
        }
    }

    #[test]
    fn fingerprint_matches_alertmanager() {
        // Values from ../shared/specs/alertmanager-api-samples/alerts.json.
        let host_down = ls(&[
            ("alertname", "HostDown"),
            ("instance", "vps1"),
            ("severity", "critical"),
        ]);
        assert_eq!(Fingerprint::of(&host_down).to_string(), "542b4efc4736a5f3");
        let disk = ls(&[
            ("alertname", "DiskFull"),
            ("instance", "vps1"),
            ("severity", "warning"),
        ]);
        assert_eq!(Fingerprint::of(&disk).to_string(), "106c4f8280141394");
    }

    #[test]
    fn matchers_parse_like_alertmanager() {
        let m = parse_matchers(r#"{alertname="Disk, Full", severity=~"warn.*",job!=api}"#).unwrap();
        assert_eq!(m.0.len(), 3);
        assert_eq!(m.0[0].value, "Disk, Full");
        assert_eq!(m.0[1].op, MatchType::Regexp);
        assert_eq!(m.0[2].value, "api");
        assert_eq!(
            m.to_string(),
            r#"{alertname="Disk, Full", severity=~"warn.*", job!="api"}"#
        );
        let a = ls(&[("alertname", "Disk, Full"), ("severity", "warning")]);
        assert!(m.matches(&a));
        // Anchored: "Celery" does not match CeleryQueueLong.
        let re = parse_matcher(r#"alertname=~"Celery""#).unwrap();
        assert!(!re.matches(&ls(&[("alertname", "CeleryQueueLong")])));
        assert!(
            parse_matcher(r#"alertname=~"Celery.*""#)
                .unwrap()
                .matches(&ls(&[("alertname", "CeleryQueueLong")]))
        );
        // A missing label is the empty string.
        assert!(parse_matcher(r#"team="""#).unwrap().matches(&a));
        assert!(parse_matcher("=x").is_err());
        assert!(parse_matcher("a~x").is_err());
        assert!(parse_matcher(r#"a=~"(""#).is_err());
        assert!(parse_matcher(r#"a="x"#).is_err());
    }

    /// The API and the data files carry a fingerprint as its hex string.
    #[test]
    fn fingerprint_serializes_as_its_hex_string() {
        let fp = Fingerprint(0x542b_4efc_4736_a5f3);
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(json, r#""542b4efc4736a5f3""#);
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
        assert!(serde_json::from_str::<Fingerprint>(r#""not hex""#).is_err());
    }

    /// Prometheus's label-set form: the group key and rule test output use it.
    #[test]
    fn label_sets_format_as_prometheus_prints_them() {
        assert_eq!(format_labels(&LabelSet::new()), "{}");
        assert_eq!(
            format_labels(&ls(&[("b", "say \"hi\""), ("a", "1")])),
            r#"{a="1", b="say \"hi\""}"#
        );
    }

    /// `!~` is the anchored regex negated; a missing label is "" for it too.
    #[test]
    fn not_regexp_matchers_negate_the_anchored_regex() {
        let m = parse_matcher(r#"job!~"api|web""#).unwrap();
        assert!(!m.matches(&ls(&[("job", "api")])));
        assert!(m.matches(&ls(&[("job", "apiserver")])));
        assert!(m.matches(&ls(&[])));
        assert!(!parse_matcher(r#"job!~"""#).unwrap().matches(&ls(&[])));
        assert!(!parse_matcher(r#"job!="""#).unwrap().matches(&ls(&[])));
        assert!(
            parse_matcher(r#"job!="api""#)
                .unwrap()
                .matches(&ls(&[("job", "web")]))
        );
    }

    /// Matchers are equal by what they say (a silence update compares them), never by
    /// the compiled regex.
    #[test]
    fn matchers_are_equal_by_name_operator_and_value() {
        let p = |s: &str| parse_matcher(s).unwrap();
        assert_eq!(p(r#"a=~"x.*""#), p("a=~x.*"));
        assert_ne!(p(r#"a="1""#), p(r#"b="1""#));
        assert_ne!(p(r#"a="1""#), p(r#"a!="1""#));
        assert_ne!(p(r#"a="1""#), p(r#"a="2""#));
    }

    /// Names take letters, digits, `_` and `:` (not first a digit), as the classic parser.
    #[test]
    fn matcher_names_take_underscores_and_colons() {
        assert_eq!(parse_matcher("__name__=up").unwrap().name, "__name__");
        assert_eq!(parse_matcher("job:rate=x").unwrap().name, "job:rate");
        assert!(parse_matcher("1job=x").is_err());
        assert!(parse_matcher("=x").is_err());
    }

    /// The API's `isEqual` / `isRegex` pair for each operator.
    #[test]
    fn operators_report_equality_and_regex() {
        let flags = |s: &str| {
            let m = parse_matcher(s).unwrap();
            (m.is_equal(), m.is_regex())
        };
        assert_eq!(flags("a=1"), (true, false));
        assert_eq!(flags("a!=1"), (false, false));
        assert_eq!(flags("a=~1"), (true, true));
        assert_eq!(flags("a!~1"), (false, true));
    }

    /// Inside quotes `\"` does not end the value and a comma does not split; outside
    /// quotes a backslash is an ordinary character.
    #[test]
    fn matcher_lists_split_on_commas_outside_quotes_only() {
        let m = parse_matchers(r#"{a="x\",y", b="2"}"#).unwrap();
        assert_eq!(m.0.len(), 2);
        assert_eq!(
            (m.0[0].value.as_str(), m.0[1].value.as_str()),
            ("x\",y", "2")
        );
        let m = parse_matchers(r"a=x\,b=2").unwrap();
        assert_eq!(m.0.len(), 2);
        assert_eq!((m.0[0].value.as_str(), m.0[1].value.as_str()), ("x\\", "2"));
    }
}
