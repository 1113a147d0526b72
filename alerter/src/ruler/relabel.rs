//! `relabel_configs` / `metric_relabel_configs` with Prometheus's keys, defaults and
//! actions, compiled once (regexes anchored) and applied to one label set at a time.

use md5::{Digest, Md5};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::promql::Labels;

/// One relabel rule as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

const ACTIONS: [(&str, Action); 11] = [
    ("replace", Action::Replace),
    ("keep", Action::Keep),
    ("drop", Action::Drop),
    ("keepequal", Action::KeepEqual),
    ("dropequal", Action::DropEqual),
    ("hashmod", Action::HashMod),
    ("labelmap", Action::LabelMap),
    ("labeldrop", Action::LabelDrop),
    ("labelkeep", Action::LabelKeep),
    ("lowercase", Action::Lowercase),
    ("uppercase", Action::Uppercase),
];

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    source: Vec<String>,
    separator: String,
    target: String,
    regex: Regex,
    modulus: u64,
    replacement: String,
    action: Action,
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";

/// Compiles `rules` found at `at` (e.g. `scrape_configs[0].relabel_configs`); every
/// problem at once, each naming `at[j].<key>`.
pub fn compile(rules: &[RelabelConfig], at: &str) -> Result<Vec<Rule>, Vec<String>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (j, c) in rules.iter().enumerate() {
        let at = format!("{at}[{j}]");
        match compile_one(c, &at) {
            Ok(r) => out.push(r),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

fn compile_one(c: &RelabelConfig, at: &str) -> Result<Rule, Vec<String>> {
    let mut errs = Vec::new();
    let name = c.action.as_deref().unwrap_or("replace");
    let Some(action) = ACTIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, a)| *a)
    else {
        let known: Vec<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
        return Err(vec![format!(
            "{at}.action: unknown relabel action {name:?}: expected one of {}",
            known.join(", ")
        )]);
    };
    let regex_src = c.regex.as_deref().unwrap_or(DEFAULT_REGEX);
    // Prometheus anchors the expression at both ends; `.` matches newlines too.
    let regex = match Regex::new(&format!("^(?s:{regex_src})$")) {
        Ok(r) => Some(r),
        Err(e) => {
            let e = e.to_string();
            let last = e.lines().last().unwrap_or_default().trim();
            errs.push(format!(
                "{at}.regex: invalid regular expression {regex_src:?}: {last}"
            ));
            None
        }
    };
    let source = c.source_labels.clone().unwrap_or_default();
    for (k, s) in source.iter().enumerate() {
        if !valid_label_name(s) {
            errs.push(format!(
                "{at}.source_labels[{k}]: {s:?} is not a valid label name"
            ));
        }
    }
    let target = c.target_label.clone().unwrap_or_default();
    let replacement = c
        .replacement
        .clone()
        .unwrap_or_else(|| DEFAULT_REPLACEMENT.into());
    let modulus = c.modulus.unwrap_or(0);
    use Action::*;
    let needs_target = matches!(
        action,
        Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
    );
    if needs_target && target.is_empty() {
        errs.push(format!("{at}.target_label: required for the {name} action"));
    } else if action == Replace && !valid_label_name_template(&target) {
        errs.push(format!(
            "{at}.target_label: {target:?} is not a valid label name (or $-template of one) for the replace action"
        ));
    } else if needs_target && action != Replace && !valid_label_name(&target) {
        errs.push(format!(
            "{at}.target_label: {target:?} is not a valid label name for the {name} action"
        ));
    }
    if action == HashMod && modulus == 0 {
        errs.push(format!(
            "{at}.modulus: must be greater than 0 for the hashmod action"
        ));
    }
    if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual) && c.replacement.is_some() {
        errs.push(format!(
            "{at}.replacement: cannot be set for the {name} action"
        ));
    }
    if action == LabelMap && !valid_label_name_template(&replacement) {
        errs.push(format!(
            "{at}.replacement: {replacement:?} is not a valid label name (or $-template of one) for the labelmap action"
        ));
    }
    if matches!(action, KeepEqual | DropEqual) {
        for (key, set) in [
            ("regex", c.regex.is_some()),
            ("modulus", c.modulus.is_some()),
            ("separator", c.separator.is_some()),
        ] {
            if set {
                errs.push(format!(
                    "{at}.{key}: cannot be set for the {name} action (only source_labels and target_label)"
                ));
            }
        }
    }
    if matches!(action, LabelDrop | LabelKeep) {
        for (key, set) in [
            ("source_labels", c.source_labels.is_some()),
            ("target_label", c.target_label.is_some()),
            ("modulus", c.modulus.is_some()),
            ("separator", c.separator.is_some()),
            ("replacement", c.replacement.is_some()),
        ] {
            if set {
                errs.push(format!(
                    "{at}.{key}: cannot be set for the {name} action (only regex)"
                ));
            }
        }
    }
    match regex {
        Some(regex) if errs.is_empty() => Ok(Rule {
            source,
            separator: c
                .separator
                .clone()
                .unwrap_or_else(|| DEFAULT_SEPARATOR.into()),
            target,
            regex,
            modulus,
            replacement,
            action,
        }),
        _ => Err(errs),
    }
}

/// Applies `rules` in order; `None` when a rule drops the set. An empty value deletes
/// a label, as in Prometheus.
pub fn apply(rules: &[Rule], mut labels: Labels) -> Option<Labels> {
    for r in rules {
        if !r.apply(&mut labels) {
            return None;
        }
    }
    Some(labels)
}

impl Rule {
    /// False when the set is dropped.
    fn apply(&self, labels: &mut Labels) -> bool {
        let joined = || {
            self.source
                .iter()
                .map(|s| labels.get(s).map_or("", String::as_str))
                .collect::<Vec<_>>()
                .join(&self.separator)
        };
        let target_value = |labels: &Labels| labels.get(&self.target).cloned().unwrap_or_default();
        match self.action {
            Action::Keep => return self.regex.is_match(&joined()),
            Action::Drop => return !self.regex.is_match(&joined()),
            Action::KeepEqual => return target_value(labels) == joined(),
            Action::DropEqual => return target_value(labels) != joined(),
            Action::Replace => {
                let val = joined();
                let Some(caps) = self.regex.captures(&val) else {
                    return true;
                };
                let name = expand(&self.regex, &caps, &self.target);
                if !valid_label_name(&name) {
                    return true;
                }
                let value = expand(&self.regex, &caps, &self.replacement);
                set(labels, name, value);
            }
            Action::Lowercase => {
                let v = joined().to_lowercase();
                set(labels, self.target.clone(), v);
            }
            Action::Uppercase => {
                let v = joined().to_uppercase();
                set(labels, self.target.clone(), v);
            }
            Action::HashMod => {
                let v = hashmod(&joined(), self.modulus);
                set(labels, self.target.clone(), v.to_string());
            }
            Action::LabelMap => {
                let mut add = Vec::new();
                for (name, value) in labels.iter() {
                    if let Some(caps) = self.regex.captures(name) {
                        add.push((expand(&self.regex, &caps, &self.replacement), value.clone()));
                    }
                }
                for (n, v) in add {
                    set(labels, n, v);
                }
            }
            Action::LabelDrop => labels.retain(|n, _| !self.regex.is_match(n)),
            Action::LabelKeep => labels.retain(|n, _| self.regex.is_match(n)),
        }
        true
    }
}

fn set(labels: &mut Labels, name: String, value: String) {
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

/// Prometheus's hashmod: the MD5 of the value, its last 8 bytes read as a big-endian
/// u64 (Prometheus's sum64 shifts the first 8 bytes out), modulo `modulus`. Checked
/// against Prometheus 2.42's target labels.
fn hashmod(value: &str, modulus: u64) -> u64 {
    let d = Md5::digest(value.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[8..16]);
    u64::from_be_bytes(b) % modulus
}

/// `template` with `$1`, `${1}`, `$name`, `${name}` and `$$` expanded as Go's
/// regexp.Expand does: the longest run of letters, digits and `_` is the name (`$1x` is
/// group "1x"), a missing group is empty, a malformed `$` stays literal.
fn expand(re: &Regex, caps: &regex::Captures<'_>, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (brace, body) = match rest.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let n = body
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(body.len(), |(i, _)| i);
        if n == 0 || (brace && !body[n..].starts_with('}')) {
            out.push('$');
            continue;
        }
        let name = &body[..n];
        rest = &body[n + usize::from(brace)..];
        let num = if name.bytes().all(|b| b.is_ascii_digit())
            && (name.len() == 1 || !name.starts_with('0'))
            && name.len() <= 8
        {
            name.parse::<usize>().ok()
        } else {
            None
        };
        let group = match num {
            Some(i) => caps.get(i),
            // The regex wraps the user's in one non-capturing group: names are theirs.
            None => re
                .capture_names()
                .flatten()
                .find(|n| *n == name)
                .and_then(|n| caps.name(n)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label name that may hold `$1` / `${name}` references (Prometheus's
/// relabelTarget pattern for target_label and labelmap's replacement).
fn valid_label_name_template(s: &str) -> bool {
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").expect("static regex")
    });
    RE.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn rules(y: &str) -> Vec<Rule> {
        let c: Vec<RelabelConfig> = serde_yaml::from_str(y).unwrap();
        compile(&c, "r").unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn run(y: &str, l: &[(&str, &str)]) -> Option<Labels> {
        apply(&rules(y), labels(l))
    }

    const IN: &[(&str, &str)] = &[
        ("__address__", "a:1"),
        ("job", "node"),
        ("env", "Prod"),
        ("__meta_x", "m"),
    ];

    #[test]
    fn replace_defaults_and_templates() {
        // The default regex (.*) and replacement $1 copy the joined values.
        let out = run("- {source_labels: [job, env], target_label: t}", IN).unwrap();
        assert_eq!(out["t"], "node;Prod");
        let out = run(
            "- {source_labels: [job, env], separator: '-', regex: 'no(.)e-(?P<e>.*)', target_label: 'x_${e}', replacement: '$1/$e/${1}y/$1y/$$'}",
            IN,
        )
        .unwrap();
        // As Prometheus 2.42 expands them: `$1y` is the (missing) group "1y".
        assert_eq!(out["x_Prod"], "d/Prod/dy//$");
        // Fully anchored: a partial match does nothing.
        let out = run(
            "- {source_labels: [job], regex: od, target_label: t, replacement: y}",
            IN,
        )
        .unwrap();
        assert!(!out.contains_key("t"));
        // An empty result deletes the target label; a missing source is "".
        let out = run("- {source_labels: [nope], target_label: env}", IN).unwrap();
        assert!(!out.contains_key("env"));
        // A target name that expands to an invalid label leaves the set alone.
        let out = run(
            "- {source_labels: [__address__], regex: '(.*)', target_label: '$1'}",
            IN,
        )
        .unwrap();
        assert_eq!(out, labels(IN));
    }

    #[test]
    fn keep_drop_and_their_equal_forms() {
        assert!(run("- {source_labels: [job], regex: node, action: keep}", IN).is_some());
        assert!(run("- {source_labels: [job], regex: nod, action: keep}", IN).is_none());
        assert!(run("- {source_labels: [job], regex: 'n.*', action: drop}", IN).is_none());
        assert!(run("- {source_labels: [job], regex: x, action: drop}", IN).is_some());
        let l = &[("a", "1"), ("b", "1"), ("c", "2")];
        assert!(
            run(
                "- {source_labels: [a], target_label: b, action: keepequal}",
                l
            )
            .is_some()
        );
        assert!(
            run(
                "- {source_labels: [a], target_label: c, action: keepequal}",
                l
            )
            .is_none()
        );
        assert!(
            run(
                "- {source_labels: [a], target_label: b, action: dropequal}",
                l
            )
            .is_none()
        );
        assert!(
            run(
                "- {source_labels: [a], target_label: c, action: dropequal}",
                l
            )
            .is_some()
        );
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // Read from Prometheus 2.42's /api/v1/targets for these addresses.
        for (addr, m, want) in [
            ("a:1", 1_000_000_007, 747_817_939u64),
            ("b:2", 1_000_000_007, 378_907_501),
            ("127.0.0.1:9", 1_000_000_007, 640_007_914),
            ("foo.example:9100", 1_000_000_007, 448_938_379),
            ("a:1", u64::MAX, 2_014_116_905_846_636_176),
            ("foo.example:9100", u64::MAX, 5_679_518_264_205_565_947),
        ] {
            let out = run(
                &format!("- {{source_labels: [__address__], target_label: s, modulus: {m}, action: hashmod}}"),
                &[("__address__", addr)],
            )
            .unwrap();
            assert_eq!(out["s"], want.to_string(), "{addr} mod {m}");
        }
    }

    #[test]
    fn labelmap_labeldrop_labelkeep() {
        let out = run(
            "- {regex: '__meta_(.*)', action: labelmap, replacement: 'k_$1'}",
            IN,
        )
        .unwrap();
        assert_eq!(out["k_x"], "m");
        assert_eq!(out["__meta_x"], "m");
        let out = run("- {regex: '__.*', action: labeldrop}", IN).unwrap();
        assert_eq!(out, labels(&[("job", "node"), ("env", "Prod")]));
        let out = run("- {regex: 'job|env', action: labelkeep}", IN).unwrap();
        assert_eq!(out, labels(&[("job", "node"), ("env", "Prod")]));
    }

    #[test]
    fn lowercase_uppercase() {
        let out = run(
            "- {source_labels: [env], target_label: lo, action: lowercase}\n- {source_labels: [env], target_label: up, action: Uppercase}",
            IN,
        )
        .unwrap();
        assert_eq!((out["lo"].as_str(), out["up"].as_str()), ("prod", "PROD"));
    }

    #[test]
    fn every_problem_names_its_field() {
        let c: Vec<RelabelConfig> = serde_yaml::from_str(
            "- {regex: '(x', target_label: t}\n- {action: replace}\n- {action: hashmod, target_label: t}\n- {action: explode}\n- {action: labeldrop, source_labels: [a]}\n- {action: lowercase, target_label: t, replacement: x}\n- {source_labels: ['1a'], target_label: 'a-b'}\n",
        )
        .unwrap();
        let e = compile(&c, "scrape_configs[0].relabel_configs")
            .unwrap_err()
            .join("\n");
        for want in [
            "scrape_configs[0].relabel_configs[0].regex: invalid regular expression \"(x\"",
            "scrape_configs[0].relabel_configs[1].target_label: required for the replace action",
            "scrape_configs[0].relabel_configs[2].modulus: must be greater than 0",
            "scrape_configs[0].relabel_configs[3].action: unknown relabel action \"explode\"",
            "scrape_configs[0].relabel_configs[4].source_labels: cannot be set for the labeldrop action",
            "scrape_configs[0].relabel_configs[5].replacement: cannot be set for the lowercase action",
            "scrape_configs[0].relabel_configs[6].source_labels[0]: \"1a\" is not a valid label name",
            "scrape_configs[0].relabel_configs[6].target_label: \"a-b\"",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let unknown = serde_yaml::from_str::<Vec<RelabelConfig>>("- {source_label: [a]}\n");
        assert!(unknown.unwrap_err().to_string().contains("source_label"));
    }
}
