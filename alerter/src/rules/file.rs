//! Rule files in Prometheus's format, loaded and validated as Prometheus does (rulefmt), plus
//! a check that our engine evaluates every expression. Errors carry the file and line.

use super::duration::parse_duration;
use super::template::Template;
use crate::promql::{check_supported, valid_label_name};
use config_values::Duration;
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a rule file, at a line (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub file: PathBuf,
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.msg)
        } else {
            write!(f, "{}: {}", self.file.display(), self.msg)
        }
    }
}

impl std::error::Error for RuleError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYaml {
    #[serde(default)]
    groups: Vec<GroupYaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupYaml {
    #[serde(default)]
    name: String,
    interval: Option<String>,
    query_offset: Option<String>,
    #[serde(default)]
    limit: u64,
    #[serde(default)]
    labels: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    rules: Vec<RuleYaml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleYaml {
    record: Option<String>,
    alert: Option<String>,
    expr: Option<serde_yaml::Value>,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    annotations: BTreeMap<String, serde_yaml::Value>,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct RuleDef {
    pub kind: RuleKind,
    /// Alert or record name.
    pub name: String,
    pub expr_text: String,
    pub expr: Expr,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub labels: Vec<(String, String, Template)>,
    pub annotations: Vec<(String, String, Template)>,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Alert,
    Record,
}

/// A validated rule group.
#[derive(Debug, Clone)]
pub struct GroupDef {
    pub name: String,
    pub file: PathBuf,
    pub interval: Option<Duration>,
    pub query_offset: Duration,
    pub limit: u64,
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<RuleDef>,
    pub line: usize,
}

fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Finds lines for groups and rules by scanning the text in order (block-style YAML).
struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl Locator<'_> {
    fn find(&self, from: usize, key: &str, value: Option<&str>) -> Option<usize> {
        for (i, l) in self.lines.iter().enumerate().skip(from.saturating_sub(1)) {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            let Some(rest) = t.strip_prefix(key) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix(':') else {
                continue;
            };
            match value {
                None => return Some(i + 1),
                Some(v) => {
                    let r = rest.trim().trim_matches(|c| c == '"' || c == '\'');
                    if r == v {
                        return Some(i + 1);
                    }
                }
            }
        }
        None
    }
}

/// Loads and validates one rule file.
pub fn load_file(path: &Path) -> Result<Vec<GroupDef>, Vec<RuleError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![RuleError {
            file: path.to_path_buf(),
            line: 0,
            msg: format!("cannot read rule file: {e}"),
        }]
    })?;
    parse_rules(path, &text)
}

/// Parses and validates rule-file text; `path` names it in errors.
pub fn parse_rules(path: &Path, text: &str) -> Result<Vec<GroupDef>, Vec<RuleError>> {
    let e = |line: usize, msg: String| RuleError {
        file: path.to_path_buf(),
        line,
        msg,
    };
    // promtool reads the first YAML document of a rule file and ignores any after it.
    let first = serde_yaml::Deserializer::from_str(text).next();
    let parsed: FileYaml = match first {
        Some(doc) if !text.trim().is_empty() => FileYaml::deserialize(doc).map_err(|err| {
            let line = err.location().map(|l| l.line()).unwrap_or(0);
            vec![e(line, format!("invalid rule file: {err}"))]
        })?,
        _ => FileYaml { groups: vec![] },
    };
    let loc = Locator {
        lines: text.lines().collect(),
    };
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    let mut gline_from = 1;
    for g in parsed.groups {
        let gline = loc.find(gline_from, "name", Some(&g.name)).unwrap_or(0);
        if gline > 0 {
            gline_from = gline + 1;
        }
        if g.name.is_empty() {
            errs.push(e(gline, "groupname must not be empty".into()));
        } else if !names.insert(g.name.clone()) {
            errs.push(e(
                gline,
                format!("groupname: {:?} is repeated in the same file", g.name),
            ));
        }
        let interval = match g.interval.as_deref().map(parse_duration) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(m)) => {
                errs.push(e(
                    loc.find(gline, "interval", None).unwrap_or(gline),
                    format!("interval: {m}"),
                ));
                None
            }
        };
        let query_offset = match g.query_offset.as_deref().map(parse_duration) {
            None => Duration::ZERO,
            Some(Ok(d)) => d,
            Some(Err(m)) => {
                errs.push(e(gline, format!("query_offset: {m}")));
                Duration::ZERO
            }
        };
        let mut glabels = BTreeMap::new();
        for (k, v) in &g.labels {
            if !valid_label_name(k) {
                errs.push(e(gline, format!("invalid label name: {k}")));
            }
            glabels.insert(k.clone(), scalar_string(v).unwrap_or_default());
        }
        let mut rules = Vec::new();
        let mut rline_from = gline.max(1);
        for r in g.rules {
            let (kind, name) = match (&r.record, &r.alert) {
                (Some(_), Some(_)) => {
                    errs.push(e(
                        rline_from,
                        "only one of 'record' and 'alert' must be set".into(),
                    ));
                    continue;
                }
                (None, None) => {
                    errs.push(e(
                        rline_from,
                        "one of 'record' or 'alert' must be set".into(),
                    ));
                    continue;
                }
                (Some(n), None) => (RuleKind::Record, n.clone()),
                (None, Some(n)) => (RuleKind::Alert, n.clone()),
            };
            let key = if kind == RuleKind::Alert {
                "alert"
            } else {
                "record"
            };
            let rline = loc.find(rline_from, key, Some(&name)).unwrap_or(rline_from);
            rline_from = rline + 1;
            let what = format!("{key} {name:?}");
            let eline = loc.find(rline, "expr", None).unwrap_or(rline);
            let expr_text = r.expr.as_ref().and_then(scalar_string).unwrap_or_default();
            if expr_text.trim().is_empty() {
                errs.push(e(
                    rline,
                    format!("{what}: field 'expr' must be set in rule"),
                ));
                continue;
            }
            let expr = match crate::promql::parse_expr(&expr_text) {
                Ok(x) => x,
                Err(m) => {
                    errs.push(e(
                        eline,
                        format!("{what}: could not parse expression: {}", m.trim()),
                    ));
                    continue;
                }
            };
            if let Err(m) = check_supported(&expr) {
                errs.push(e(eline, format!("{what}: {m}")));
            }
            if !matches!(expr.value_type(), ValueType::Vector | ValueType::Scalar) {
                errs.push(e(
                    eline,
                    format!(
                        "{what}: expression must evaluate to an instant vector or scalar, not a {}",
                        expr.value_type()
                    ),
                ));
            }
            match kind {
                RuleKind::Record => {
                    if !valid_metric_name(&name) {
                        errs.push(e(rline, format!("invalid recording rule name: {name}")));
                    }
                    if !r.annotations.is_empty() {
                        errs.push(e(
                            rline,
                            format!("{what}: invalid field 'annotations' in recording rule"),
                        ));
                    }
                    if r.for_.is_some() {
                        errs.push(e(
                            rline,
                            format!("{what}: invalid field 'for' in recording rule"),
                        ));
                    }
                    if r.keep_firing_for.is_some() {
                        errs.push(e(
                            rline,
                            format!("{what}: invalid field 'keep_firing_for' in recording rule"),
                        ));
                    }
                }
                RuleKind::Alert => {
                    if name.is_empty() {
                        errs.push(e(rline, "invalid alert name: \"\"".into()));
                    }
                }
            }
            let dur = |v: &Option<String>, field: &str, errs: &mut Vec<RuleError>| match v
                .as_deref()
                .map(parse_duration)
            {
                None => Duration::ZERO,
                Some(Ok(d)) => d,
                Some(Err(m)) => {
                    errs.push(e(
                        loc.find(rline, field, None).unwrap_or(rline),
                        format!("{what}: {field}: {m}"),
                    ));
                    Duration::ZERO
                }
            };
            let for_ = dur(&r.for_, "for", &mut errs);
            let keep_firing_for = dur(&r.keep_firing_for, "keep_firing_for", &mut errs);
            let mut labels = Vec::new();
            for (k, v) in &r.labels {
                let kline = loc.find(rline, k, None).unwrap_or(rline);
                if !valid_label_name(k) {
                    errs.push(e(kline, format!("{what}: invalid label name: {k}")));
                }
                if k == "__name__" {
                    errs.push(e(kline, format!("{what}: invalid label name: {k}")));
                }
                let Some(v) = scalar_string(v) else {
                    errs.push(e(
                        kline,
                        format!("{what}: label {k}: expected a string value"),
                    ));
                    continue;
                };
                match Template::parse(&v) {
                    Ok(t) => labels.push((k.clone(), v, t)),
                    Err(m) => errs.push(e(kline, format!("{what}: label {k}: template: {m}"))),
                }
            }
            let mut annotations = Vec::new();
            for (k, v) in &r.annotations {
                let kline = loc.find(rline, k, None).unwrap_or(rline);
                if !valid_label_name(k) {
                    errs.push(e(kline, format!("{what}: invalid annotation name: {k}")));
                }
                let Some(v) = scalar_string(v) else {
                    errs.push(e(
                        kline,
                        format!("{what}: annotation {k}: expected a string value"),
                    ));
                    continue;
                };
                match Template::parse(&v) {
                    Ok(t) => annotations.push((k.clone(), v, t)),
                    Err(m) => errs.push(e(kline, format!("{what}: annotation {k}: template: {m}"))),
                }
            }
            rules.push(RuleDef {
                kind,
                name,
                expr_text,
                expr,
                for_,
                keep_firing_for,
                labels,
                annotations,
                line: rline,
            });
        }
        groups.push(GroupDef {
            name: g.name,
            file: path.to_path_buf(),
            interval,
            query_offset,
            limit: g.limit,
            labels: glabels,
            rules,
            line: gline,
        });
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

fn valid_metric_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Loads and validates several rule files; all errors of all files are returned.
pub fn check_files(paths: &[PathBuf]) -> Result<Vec<GroupDef>, Vec<RuleError>> {
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for p in paths {
        match load_file(p) {
            Ok(g) => groups.extend(g),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        parse_rules(Path::new("r.yml"), text)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    /// As promtool: the first document counts, later ones are not read.
    #[test]
    fn reads_the_first_document_only() {
        let text = "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up == 0\n---\ngroups:\n- name: b\n  rules:\n  - alert: B\n    expr: up ==\n";
        let groups = parse_rules(Path::new("r.yml"), text).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].name, "a");
        let bad_first =
            "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up ==\n---\ngroups: []\n";
        assert!(
            errs(bad_first)[0].starts_with("r.yml:5:"),
            "{:?}",
            errs(bad_first)
        );
    }

    #[test]
    fn reports_file_line_and_reason() {
        let dup = "groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n";
        assert_eq!(
            errs(dup),
            vec!["r.yml:4: groupname: \"a\" is repeated in the same file"]
        );
        let bad_fn = "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: nosuch(up)\n";
        let e = errs(bad_fn);
        assert!(
            e[0].starts_with("r.yml:5: alert \"X\": could not parse expression"),
            "{e:?}"
        );
        let arity = "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: rate(up[5m], 1)\n";
        assert!(errs(arity)[0].starts_with("r.yml:5:"), "{:?}", errs(arity));
        let tmpl = "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up == 0\n    annotations:\n      summary: '{{ $labels.instance'\n";
        let e = errs(tmpl);
        assert!(
            e[0].starts_with("r.yml:7: alert \"X\": annotation summary: template:"),
            "{e:?}"
        );
        let yaml = "groups:\n- name: a\n  rules:\n  - alert: X\n   expr: up\n";
        assert!(
            errs(yaml)[0].starts_with("r.yml:5: invalid rule file"),
            "{:?}",
            errs(yaml)
        );
        let unknown = "groups:\n- name: a\n  rulez: []\n";
        assert!(
            errs(unknown)[0].contains("unknown field"),
            "{:?}",
            errs(unknown)
        );
    }
}
