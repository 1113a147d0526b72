//! The validated routing tree (Alertmanager's dispatch/route.go): which routes an
//! alert goes to, with each route's receiver, grouping and timing. Built once per
//! config from the raw [`RouteConfig`] (the `route:` section, which this module
//! owns); every setting left unset is inherited from
//! the parent, except the time-interval names, which Alertmanager does not inherit.
//! Validation names the key path of every culprit (`route.routes[1].matchers[0]`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::labels::{self, Fingerprint, LabelSet, MatchType, Matcher, valid_label_name};

/// Alertmanager's `DefaultRouteOpts`.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// One node of the `route:` tree as written in alertmanager.yml.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "crate::labels::regex_map")]
    pub match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub group_wait: Option<config_values::Duration>,
    #[serde(default)]
    pub group_interval: Option<config_values::Duration>,
    #[serde(default)]
    pub repeat_interval: Option<config_values::Duration>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// Which labels form an aggregation group's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Labels(BTreeSet<String>),
    /// `group_by: ['...']`: every label, so each alert is its own group.
    All,
}

#[derive(Clone, Debug)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// Legacy `match`/`match_re` plus `matchers`, sorted as Alertmanager sorts them.
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    key: String,
    id: String,
    idx: usize,
}

/// The names a route may refer to, checked while building.
pub struct Known<'a> {
    pub receivers: HashSet<&'a str>,
    pub time_intervals: HashSet<&'a str>,
}

impl Route {
    /// Builds and validates the tree of `route:` (`None`: the section is missing).
    /// All problems are reported, one per line, each with its key path.
    pub fn compile(raw: Option<&RouteConfig>, known: &Known<'_>) -> Result<Route, String> {
        let raw = raw.ok_or("no route provided in config (expected a top-level `route:`)")?;
        let mut errs = Vec::new();
        if raw.receiver.as_deref().is_none_or(str::is_empty) {
            errs.push("route: root route must specify a default receiver".to_string());
        }
        if !raw.matchers.is_empty() || !raw.match_.is_empty() || !raw.match_re.is_empty() {
            errs.push("route: root route must not have any matchers".into());
        }
        if raw.continue_ {
            errs.push("route: cannot have continue in root route".into());
        }
        if !raw.mute_time_intervals.is_empty() {
            errs.push("route: root route must not have any mute time intervals".into());
        }
        if !raw.active_time_intervals.is_empty() {
            errs.push("route: root route must not have any active time intervals".into());
        }
        let mut counter = 0;
        let root = build(raw, None, "route", "", known, &mut counter, &mut errs);
        if errs.is_empty() {
            Ok(root)
        } else {
            Err(errs.join("\n"))
        }
    }

    /// Alertmanager's `Route.Match`: depth-first, left to right. A child that matches
    /// stops the search among its siblings unless it has `continue: true`; a route
    /// none of whose children match is itself the match.
    pub fn matches(&self, ls: &LabelSet) -> Vec<&Route> {
        if !self.matchers.iter().all(|m| m.matches(ls)) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for c in &self.routes {
            let m = c.matches(ls);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !c.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Alertmanager's `Route.Key`: the matchers of every route from the root, joined
    /// by `/` (`{}/{severity="critical"}`). Not unique; part of group keys.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Alertmanager's `Route.ID`: the key plus each route's index among its siblings
    /// (`{}/{severity="critical"}/0`). Unique in a tree.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Index in post-order (children before parents), as Alertmanager's `Route.Idx`.
    pub fn idx(&self) -> usize {
        self.idx
    }

    /// Every route, depth first, parents before children.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Route)) {
        visit(self);
        for c in &self.routes {
            c.walk(visit);
        }
    }

    /// The alert's values for this route's `group_by` labels (`getGroupLabels`).
    pub fn group_labels(&self, ls: &LabelSet) -> LabelSet {
        self.group_pairs(ls)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `Fingerprint::of(&self.group_labels(ls))`, without the copy: the dispatcher
    /// needs only this for an alert whose group exists.
    pub fn group_fingerprint(&self, ls: &LabelSet) -> Fingerprint {
        Fingerprint::of_sorted(self.group_pairs(ls))
    }

    /// The pairs of `ls` that `group_by` keeps, in name order.
    fn group_pairs<'a>(
        &'a self,
        ls: &'a LabelSet,
    ) -> impl Iterator<Item = (&'a String, &'a String)> {
        ls.iter().filter(move |(k, _)| match &self.group_by {
            GroupBy::All => true,
            GroupBy::Labels(names) => names.contains(*k),
        })
    }
}

fn build(
    raw: &RouteConfig,
    parent: Option<&Route>,
    path: &str,
    parent_path: &str,
    known: &Known<'_>,
    counter: &mut usize,
    errs: &mut Vec<String>,
) -> Route {
    let mut receiver = parent.map_or_else(String::new, |p| p.receiver.clone());
    if let Some(r) = raw.receiver.as_deref().filter(|r| !r.is_empty()) {
        if !known.receivers.contains(r) {
            errs.push(format!(
                "{path}.receiver: undefined receiver {r:?} used in route"
            ));
        }
        receiver = r.to_string();
    }
    let group_by = match &raw.group_by {
        None => parent.map_or_else(|| GroupBy::Labels(BTreeSet::new()), |p| p.group_by.clone()),
        Some(list) => group_by(list, path, errs),
    };
    let dur = |v: Option<config_values::Duration>, inherited: Duration| {
        v.map_or(inherited, config_values::Duration::as_std)
    };
    let group_wait = dur(
        raw.group_wait,
        parent.map_or(DEFAULT_GROUP_WAIT, |p| p.group_wait),
    );
    let group_interval = dur(
        raw.group_interval,
        parent.map_or(DEFAULT_GROUP_INTERVAL, |p| p.group_interval),
    );
    let repeat_interval = dur(
        raw.repeat_interval,
        parent.map_or(DEFAULT_REPEAT_INTERVAL, |p| p.repeat_interval),
    );
    if group_interval.is_zero() {
        errs.push(format!(
            "{path}.group_interval: group_interval cannot be zero"
        ));
    }
    if repeat_interval.is_zero() {
        errs.push(format!(
            "{path}.repeat_interval: repeat_interval cannot be zero"
        ));
    }

    let mut matchers = Vec::new();
    for (k, v) in &raw.match_ {
        if !valid_label_name(k) {
            errs.push(format!("{path}.match: invalid label name {k:?}"));
        } else if let Ok(m) = Matcher::new(k, MatchType::Equal, v) {
            matchers.push(m);
        }
    }
    for (k, v) in &raw.match_re {
        if !valid_label_name(k) {
            errs.push(format!("{path}.match_re: invalid label name {k:?}"));
            continue;
        }
        match Matcher::new(k, MatchType::Regexp, v) {
            Ok(m) => matchers.push(m),
            Err(e) => errs.push(format!("{path}.match_re.{k}: {e}")),
        }
    }
    for (i, s) in raw.matchers.iter().enumerate() {
        match labels::parse_matcher(s) {
            Ok(m) => matchers.push(m),
            Err(e) => errs.push(format!("{path}.matchers[{i}]: {e}")),
        }
    }
    // Alertmanager sorts by name, then value, then match type (labels.Matchers.Less).
    matchers.sort_by(|a, b| {
        (&a.name, &a.value, op_rank(a.op)).cmp(&(&b.name, &b.value, op_rank(b.op)))
    });

    for (field, names) in [
        ("mute_time_intervals", &raw.mute_time_intervals),
        ("active_time_intervals", &raw.active_time_intervals),
    ] {
        for (i, n) in names.iter().enumerate() {
            if !known.time_intervals.contains(n.as_str()) {
                errs.push(format!(
                    "{path}.{field}[{i}]: undefined time interval {n:?} used in route"
                ));
            }
        }
    }

    let ms = matchers_string(&matchers);
    let (key, id) = match parent {
        None => (ms.clone(), ms),
        Some(p) => {
            // The sibling index is the last path segment, `routes[i]`.
            let index = path
                .strip_prefix(parent_path)
                .and_then(|s| s.strip_prefix(".routes["))
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or("0");
            (format!("{}/{ms}", p.key), format!("{}/{ms}/{index}", p.id))
        }
    };
    let mut route = Route {
        receiver,
        group_by,
        group_wait,
        group_interval,
        repeat_interval,
        matchers,
        continue_: raw.continue_,
        mute_time_intervals: raw.mute_time_intervals.clone(),
        active_time_intervals: raw.active_time_intervals.clone(),
        routes: Vec::new(),
        key,
        id,
        idx: 0,
    };
    // Children first, so they get lower indices (Alertmanager's newRoute).
    let children: Vec<Route> = raw
        .routes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            build(
                c,
                Some(&route),
                &format!("{path}.routes[{i}]"),
                path,
                known,
                counter,
                errs,
            )
        })
        .collect();
    route.routes = children;
    route.idx = *counter;
    *counter += 1;
    route
}

fn group_by(list: &[String], path: &str, errs: &mut Vec<String>) -> GroupBy {
    if list.iter().any(|l| l == "...") {
        if list.len() > 1 {
            errs.push(format!(
                "{path}.group_by: cannot have wildcard group_by (`...`) and other labels at the same time"
            ));
        }
        return GroupBy::All;
    }
    let mut set = BTreeSet::new();
    for (i, l) in list.iter().enumerate() {
        if !valid_label_name(l) {
            errs.push(format!(
                "{path}.group_by[{i}]: invalid label name {l:?} in group_by list"
            ));
        } else if !set.insert(l.clone()) {
            errs.push(format!(
                "{path}.group_by[{i}]: duplicated label {l:?} in group_by"
            ));
        }
    }
    GroupBy::Labels(set)
}

fn op_rank(op: MatchType) -> u8 {
    match op {
        MatchType::Equal => 0,
        MatchType::NotEqual => 1,
        MatchType::Regexp => 2,
        MatchType::NotRegexp => 3,
    }
}

/// `{a="1",b=~"x"}`: labels.Matchers.String, values escaped as OpenMetrics does.
fn matchers_string(ms: &[Matcher]) -> String {
    let inner: Vec<String> = ms
        .iter()
        .map(|m| {
            let mut v = String::with_capacity(m.value.len());
            for c in m.value.chars() {
                match c {
                    '\\' => v.push_str("\\\\"),
                    '\n' => v.push_str("\\n"),
                    '"' => v.push_str("\\\""),
                    c => v.push(c),
                }
            }
            format!("{}{}\"{v}\"", m.name, m.op.as_str())
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `route:` and receiver names of an alertmanager.yml.
    #[derive(Deserialize)]
    struct Doc {
        route: Option<RouteConfig>,
        receivers: Vec<Named>,
    }
    #[derive(Deserialize)]
    struct Named {
        name: String,
    }

    fn tree(yaml: &str) -> Result<Route, String> {
        let doc: Doc = serde_yaml::from_str(yaml).unwrap();
        let known = Known {
            receivers: doc.receivers.iter().map(|r| r.name.as_str()).collect(),
            time_intervals: HashSet::new(),
        };
        Route::compile(doc.route.as_ref(), &known)
    }

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const AT01: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: db
      matchers: ['service=~"postgres|redis"']
      continue: true
    - receiver: pager
      matchers: ['severity="critical"']
      group_wait: 5s
    - receiver: workers
      match: {job: celery}
receivers: [{name: default}, {name: db}, {name: pager}, {name: workers}]
"#;

    /// AT-01, as Debian's `amtool config routes test` answers.
    #[test]
    fn at01_continue_and_anchored_regex() {
        let root = tree(AT01).unwrap();
        let recv = |pairs: &[(&str, &str)]| -> Vec<String> {
            root.matches(&ls(pairs))
                .iter()
                .map(|r| r.receiver.clone())
                .collect()
        };
        assert_eq!(
            recv(&[("service", "postgres"), ("severity", "critical")]),
            ["db", "pager"]
        );
        assert_eq!(recv(&[("service", "redis")]), ["db"]);
        assert_eq!(
            recv(&[("job", "celery"), ("severity", "critical")]),
            ["pager"]
        );
        assert_eq!(recv(&[("job", "api")]), ["default"]);
        assert_eq!(recv(&[("service", "postgres-replica")]), ["default"]);
    }

    #[test]
    fn inheritance_keys_and_ids() {
        let root = tree(AT01).unwrap();
        assert_eq!(root.key(), "{}");
        assert_eq!(root.id(), "{}");
        let pager = &root.routes[1];
        assert_eq!(pager.key(), r#"{}/{severity="critical"}"#);
        assert_eq!(pager.id(), r#"{}/{severity="critical"}/1"#);
        assert_eq!(root.routes[0].id(), r#"{}/{service=~"postgres|redis"}/0"#);
        assert_eq!(root.routes[2].id(), r#"{}/{job="celery"}/2"#);
        // Inherited from the root or the defaults; overridden where set.
        assert_eq!(pager.group_wait, Duration::from_secs(5));
        assert_eq!(root.routes[0].group_wait, DEFAULT_GROUP_WAIT);
        assert_eq!(pager.group_interval, DEFAULT_GROUP_INTERVAL);
        assert_eq!(pager.repeat_interval, DEFAULT_REPEAT_INTERVAL);
        assert_eq!(
            pager.group_by,
            GroupBy::Labels(["alertname".to_string()].into())
        );
        // Post-order indices: children first.
        let idx: Vec<usize> = root.routes.iter().map(Route::idx).collect();
        assert_eq!(idx, [0, 1, 2]);
        assert_eq!(root.idx(), 3);
    }

    #[test]
    fn matchers_sorted_like_alertmanager() {
        let root = tree(
            r#"
route:
  receiver: a
  routes:
    - matchers: ['z="1"', 'a!="x"']
      match: {m: "v"}
receivers: [{name: a}]
"#,
        )
        .unwrap();
        assert_eq!(root.routes[0].key(), r#"{}/{a!="x",m="v",z="1"}"#);
        // Same name and value: by operator, in Alertmanager's MatchType order.
        let root = tree(
            r#"
route:
  receiver: a
  routes:
    - matchers: ['a!~"x"', 'a=~"x"', 'a!="x"', 'a="x"']
receivers: [{name: a}]
"#,
        )
        .unwrap();
        assert_eq!(root.routes[0].key(), r#"{}/{a="x",a!="x",a=~"x",a!~"x"}"#);
        assert_eq!(root.routes[0].receiver, "a");
    }

    #[test]
    fn group_by_all() {
        let root = tree("route: {receiver: a, group_by: ['...']}\nreceivers: [{name: a}]").unwrap();
        let l = ls(&[("a", "1"), ("b", "2")]);
        assert_eq!(root.group_labels(&l), l);
        let e =
            tree("route: {receiver: a, group_by: ['...', x]}\nreceivers: [{name: a}]").unwrap_err();
        assert!(e.contains("route.group_by: cannot have wildcard"), "{e}");
    }

    #[test]
    fn errors_name_the_key_path() {
        let e = tree(
            r#"
route:
  receiver: a
  routes:
    - receiver: a
    - matchers: ['severity="critical"', 'bad matcher']
      group_by: [alertname, alertname, "1x"]
      mute_time_intervals: [nope]
      repeat_interval: 0s
      routes:
        - match_re: {job: "(x"}
receivers: [{name: a}]
"#,
        )
        .unwrap_err();
        for want in [
            "route.routes[1].group_by[1]: duplicated label \"alertname\" in group_by\n",
            "route.routes[1].group_by[2]: invalid label name \"1x\" in group_by list\n",
            "route.routes[1].repeat_interval: repeat_interval cannot be zero\n",
            "route.routes[1].matchers[1]: bad matcher format: bad matcher\n",
            "route.routes[1].mute_time_intervals[0]: undefined time interval \"nope\" used in route\n",
            "route.routes[1].routes[0].match_re.job: invalid regular expression \"(x\"",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    #[test]
    fn root_rules() {
        let e =
            tree("route: {receiver: a, continue: true, matchers: ['a=b']}\nreceivers: [{name: a}]")
                .unwrap_err();
        assert!(e.contains("root route must not have any matchers"), "{e}");
        assert!(e.contains("cannot have continue in root route"), "{e}");
        let e = tree("route: {group_by: [a]}\nreceivers: [{name: a}]").unwrap_err();
        assert!(
            e.contains("root route must specify a default receiver"),
            "{e}"
        );
    }

    /// Alertmanager's `DefaultRouteOpts`, as written in its docs.
    #[test]
    fn defaults_are_alertmanagers() {
        let root = tree("route: {receiver: a}\nreceivers: [{name: a}]").unwrap();
        assert_eq!(root.group_wait, Duration::from_secs(30));
        assert_eq!(root.group_interval, Duration::from_secs(300));
        assert_eq!(root.repeat_interval, Duration::from_secs(4 * 60 * 60));
    }

    /// Each legacy matcher map alone is refused on the root too.
    #[test]
    fn root_refuses_legacy_matchers() {
        for m in ["match: {a: b}", "match_re: {a: b}"] {
            let e = tree(&format!(
                "route: {{receiver: a, {m}}}\nreceivers: [{{name: a}}]"
            ))
            .unwrap_err();
            assert!(
                e.contains("root route must not have any matchers"),
                "{m}: {e}"
            );
        }
    }

    /// The dispatcher builds each route's options from this walk: every node, parents
    /// first.
    #[test]
    fn walk_visits_every_route_parents_first() {
        let root = tree(
            "route: {receiver: a, routes: [{receiver: b, routes: [{receiver: c}]}, {receiver: d}]}\n\
             receivers: [{name: a}, {name: b}, {name: c}, {name: d}]",
        )
        .unwrap();
        let mut seen = Vec::new();
        root.walk(&mut |r| seen.push(r.receiver.as_str()));
        assert_eq!(seen, ["a", "b", "c", "d"]);
    }
}
