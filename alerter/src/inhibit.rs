//! Inhibition (Alertmanager's inhibit package): a firing *source* alert mutes the
//! *target* alerts that carry the same values for the rule's `equal` labels.
//!
//! Decides: which `inhibit_rules` are valid (owns the section's raw type and its
//! compile step, with key-path errors), and whether an alert is inhibited now, by what.
//! State owned: per rule, the firing alerts that match its source side (a
//! [`Listener`] on the alert store keeps it), indexed by their `equal` values.
//! Resolved alerts are dropped, so it holds at most the firing source alerts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::clock::Clock;
use crate::labels::{
    Fingerprint, LabelSet, MatchType, Matcher, Matchers, parse_matchers, valid_label_name,
};
use crate::mute::Muter;
use crate::provider::Listener;
use crate::sync;

/// One `inhibit_rules` entry as written in alertmanager.yml.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "crate::labels::regex_map")]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "crate::labels::regex_map")]
    pub target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

/// One validated rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub source: Matchers,
    pub target: Matchers,
    /// Label names whose values must agree; a label missing on both sides agrees.
    pub equal: Vec<String>,
}

impl Rule {
    /// The values of the `equal` labels ("" when missing, as Go's map lookup).
    fn key(&self, labels: &LabelSet) -> Vec<String> {
        self.equal
            .iter()
            .map(|n| labels.get(n).cloned().unwrap_or_default())
            .collect()
    }
}

/// Checks and compiles `inhibit_rules`. Legacy `*_match` / `*_match_re` maps come
/// first, then `*_matchers`, as in inhibit.go `NewInhibitRule`; each `*_matchers`
/// entry may hold several comma-separated matchers (config.Matchers).
pub fn compile_rules(raw: &[RawRule]) -> Result<Vec<Rule>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| compile_rule(r, &format!("inhibit_rules[{i}]")))
        .collect()
}

fn compile_rule(r: &RawRule, path: &str) -> Result<Rule, String> {
    let side = |side: &str,
                eq: &BTreeMap<String, String>,
                re: &BTreeMap<String, String>,
                lines: &[String]|
     -> Result<Matchers, String> {
        let mut out = Vec::new();
        for (k, v) in eq {
            // config.go InhibitRule.UnmarshalYAML checks these names.
            if !valid_label_name(k) {
                return Err(format!("{path}.{side}_match: invalid label name {k:?}"));
            }
            out.push(
                Matcher::new(k, MatchType::Equal, v)
                    .map_err(|e| format!("{path}.{side}_match.{k}: {e}"))?,
            );
        }
        for (k, v) in re {
            out.push(
                Matcher::new(k, MatchType::Regexp, v)
                    .map_err(|e| format!("{path}.{side}_match_re.{k}: {e}"))?,
            );
        }
        for (j, line) in lines.iter().enumerate() {
            let ms =
                parse_matchers(line).map_err(|e| format!("{path}.{side}_matchers[{j}]: {e}"))?;
            out.extend(ms.0);
        }
        Ok(Matchers(out))
    };
    let source = side(
        "source",
        &r.source_match,
        &r.source_match_re,
        &r.source_matchers,
    )?;
    let target = side(
        "target",
        &r.target_match,
        &r.target_match_re,
        &r.target_matchers,
    )?;
    let mut equal: Vec<String> = Vec::with_capacity(r.equal.len());
    for (j, n) in r.equal.iter().enumerate() {
        if !valid_label_name(n) {
            return Err(format!(
                "{path}.equal[{j}]: {n:?} is not a valid label name"
            ));
        }
        if !equal.contains(n) {
            equal.push(n.clone());
        }
    }
    Ok(Rule {
        source,
        target,
        equal,
    })
}

/// What a rule remembers of a firing source alert.
struct Source {
    key: Vec<String>,
    ends_at: DateTime<Utc>,
    /// It also matches the rule's target side (see [`Inhibitor::muted_by`]).
    is_target: bool,
}

#[derive(Default)]
struct Cache {
    alerts: HashMap<Fingerprint, Source>,
    by_key: HashMap<Vec<String>, BTreeSet<Fingerprint>>,
    /// Size at which resolved entries are swept out.
    sweep_at: usize,
}

const MIN_SWEEP: usize = 1024;

impl Cache {
    fn remove(&mut self, fp: Fingerprint) {
        let Some(s) = self.alerts.remove(&fp) else {
            return;
        };
        if let Some(set) = self.by_key.get_mut(&s.key) {
            set.remove(&fp);
            if set.is_empty() {
                self.by_key.remove(&s.key);
            }
        }
    }

    fn sweep(&mut self, now: DateTime<Utc>) {
        let gone: Vec<Fingerprint> = self
            .alerts
            .iter()
            .filter(|(_, s)| s.ends_at <= now)
            .map(|(fp, _)| *fp)
            .collect();
        for fp in gone {
            self.remove(fp);
        }
        self.sweep_at = (2 * self.alerts.len()).max(MIN_SWEEP);
    }
}

pub struct Inhibitor {
    clock: Clock,
    rules: Vec<Rule>,
    caches: Vec<RwLock<Cache>>,
}

impl Inhibitor {
    pub fn new(raw: &[RawRule], clock: Clock) -> Result<Inhibitor, String> {
        Ok(Inhibitor::from_rules(compile_rules(raw)?, clock))
    }

    pub fn from_rules(rules: Vec<Rule>, clock: Clock) -> Inhibitor {
        let caches = rules.iter().map(|_| RwLock::default()).collect();
        Inhibitor {
            clock,
            rules,
            caches,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Source alerts held, over all rules (a gauge; bounded by the firing ones).
    pub fn cached_sources(&self) -> usize {
        self.caches.iter().map(|c| sync::read(c).alerts.len()).sum()
    }

    /// Drops source alerts that have resolved by now. Also done on the way as the
    /// caches grow; call it with the alert store's GC.
    pub fn gc(&self) {
        let now = self.clock.now();
        for c in &self.caches {
            sync::write(c).sweep(now);
        }
    }
}

impl Listener for Inhibitor {
    fn on_alert(&self, a: &std::sync::Arc<Alert>) {
        let now = self.clock.now();
        let mut fp = None; // only for a source alert: most alerts are none
        for (rule, cache) in self.rules.iter().zip(&self.caches) {
            if !rule.source.matches(&a.labels) {
                continue;
            }
            let fp = *fp.get_or_insert_with(|| a.fingerprint());
            let mut c = sync::write(cache);
            if a.resolved_at(now) {
                c.remove(fp);
                continue;
            }
            let key = rule.key(&a.labels);
            c.by_key.entry(key.clone()).or_default().insert(fp);
            c.alerts.insert(
                fp,
                Source {
                    key,
                    ends_at: a.ends_at,
                    is_target: rule.target.matches(&a.labels),
                },
            );
            if c.alerts.len() > c.sweep_at.max(MIN_SWEEP) {
                c.sweep(now);
            }
        }
    }
}

impl Muter for Inhibitor {
    /// The fingerprint of the alert inhibiting one with `labels`: the first rule
    /// whose target side matches and which has a firing source alert with equal
    /// `equal` labels. A source that itself matches the target side does not count
    /// when the alert matches the source side too, so two alerts matching both sides
    /// cannot inhibit each other (inhibit.go `hasEqual`). Alertmanager reports one
    /// inhibitor (`inhibitedBy`); we pick the lowest fingerprint, to be stable.
    fn muted_by(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String> {
        for (rule, cache) in self.rules.iter().zip(&self.caches) {
            if !rule.target.matches(labels) {
                continue;
            }
            let two_sided = rule.source.matches(labels);
            let c = sync::read(cache);
            let Some(fps) = c.by_key.get(&rule.key(labels)) else {
                continue;
            };
            let hit = fps.iter().find(|fp| {
                c.alerts
                    .get(fp)
                    .is_some_and(|s| s.ends_at > now && !(two_sided && s.is_target))
            });
            if let Some(fp) = hit {
                return vec![fp.to_string()];
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::test_epoch as t0;
    use crate::provider::Alerts;

    fn at(s: f64) -> DateTime<Utc> {
        t0() + chrono::Duration::milliseconds((s * 1000.0) as i64)
    }

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A firing alert (ends far in the future) or one active over [start, end].
    fn alert(pairs: &[(&str, &str)], start: f64, end: Option<f64>) -> Alert {
        Alert {
            labels: ls(pairs),
            annotations: LabelSet::new(),
            starts_at: at(start),
            ends_at: end.map_or(at(3600.0), at),
            generator_url: String::new(),
            updated_at: at(start),
            timeout: end.is_none(),
        }
    }

    fn rule(yaml: &str) -> Vec<RawRule> {
        serde_yaml::from_str(yaml).unwrap()
    }

    async fn advance_to(c: Clock, s: f64) {
        let d = (at(s) - c.now()).to_std().unwrap();
        tokio::time::advance(d).await;
    }

    /// AT-07 (acceptance TestInhibiting) at the Muter level.
    #[tokio::test(start_paused = true)]
    async fn at07_inhibition_with_equal() {
        let c = Clock::following_tokio(t0());
        let ih = Arc::new(
            Inhibitor::new(
                &rule(
                    r#"
- source_matchers: [alertname="JobDown"]
  target_matchers: [alertname="InstanceDown"]
  equal: [job, zone]
"#,
                ),
                c,
            )
            .unwrap(),
        );
        let alerts = Alerts::new(c);
        alerts.set_listeners(vec![ih.clone()]);
        let test1 = [("alertname", "test1"), ("job", "testjob"), ("zone", "aa")];
        let down_aa = [
            ("alertname", "InstanceDown"),
            ("job", "testjob"),
            ("zone", "aa"),
        ];
        let down_ab = [
            ("alertname", "InstanceDown"),
            ("job", "testjob"),
            ("zone", "ab"),
        ];
        let job_aa = [("alertname", "JobDown"), ("job", "testjob"), ("zone", "aa")];
        advance_to(c, 1.0).await;
        alerts.put(vec![
            alert(&test1, 1.0, None),
            alert(&down_aa, 1.0, None),
            alert(&down_ab, 1.0, None),
        ]);
        let muted = |pairs: &[(&str, &str)]| ih.muted_by(&ls(pairs), c.now());
        advance_to(c, 2.0).await;
        for a in [&test1[..], &down_aa, &down_ab] {
            assert!(muted(a).is_empty());
        }
        advance_to(c, 2.2).await;
        alerts.put(vec![alert(&job_aa, 2.2, None)]);
        advance_to(c, 3.0).await;
        let job_fp = Fingerprint::of(&ls(&job_aa)).to_string();
        assert_eq!(muted(&down_aa), vec![job_fp]);
        assert!(muted(&down_ab).is_empty());
        assert!(muted(&test1).is_empty());
        assert!(muted(&job_aa).is_empty());
        // Resolved at 3.6: InstanceDown aa is back at the 4s flush.
        advance_to(c, 3.6).await;
        alerts.put(vec![alert(&job_aa, 2.2, Some(3.6))]);
        assert_eq!(ih.cached_sources(), 0);
        advance_to(c, 4.0).await;
        assert!(muted(&down_aa).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_stops_inhibiting_once_its_end_passes() {
        let c = Clock::following_tokio(t0());
        let ih = Inhibitor::new(
            &rule("- {source_match: {severity: critical}, target_match: {severity: warning}, equal: [instance]}"),
            c,
        )
        .unwrap();
        ih.on_alert(&std::sync::Arc::new(alert(
            &[("severity", "critical"), ("instance", "a")],
            0.0,
            Some(10.0),
        )));
        let w = ls(&[("severity", "warning"), ("instance", "a")]);
        assert!(ih.mutes(&w, at(9.999)));
        assert!(!ih.mutes(&w, at(10.0)));
        // Different instance: never.
        assert!(!ih.mutes(&ls(&[("severity", "warning"), ("instance", "b")]), at(1.0)));
        advance_to(c, 11.0).await;
        ih.gc();
        assert_eq!(ih.cached_sources(), 0);
    }

    #[test]
    fn equal_label_missing_on_both_sides_is_equal() {
        let ih = Inhibitor::new(
            &rule("- {source_matchers: ['a=\"src\"'], target_matchers: ['a=\"tgt\"'], equal: [cluster]}"),
            Clock::system(),
        )
        .unwrap();
        let now = Utc::now();
        let mut src = alert(&[("a", "src")], 0.0, None);
        src.ends_at = now + chrono::Duration::hours(1);
        ih.on_alert(&std::sync::Arc::new(src.clone()));
        assert!(ih.mutes(&ls(&[("a", "tgt")]), now));
        assert!(!ih.mutes(&ls(&[("a", "tgt"), ("cluster", "x")]), now));
        let mut src_x = alert(&[("a", "src"), ("cluster", "x")], 0.0, None);
        src_x.ends_at = now + chrono::Duration::hours(1);
        ih.on_alert(&std::sync::Arc::new(src_x.clone()));
        assert_eq!(
            ih.muted_by(&ls(&[("a", "tgt"), ("cluster", "x")]), now),
            vec![src_x.fingerprint().to_string()]
        );
    }

    /// inhibit.go hasEqual's exclusion: an alert matching both sides is not
    /// inhibited by another alert matching both sides (nor by itself), only by a
    /// source that is not also a target.
    #[test]
    fn two_sided_matches_do_not_inhibit_each_other() {
        let ih = Inhibitor::new(
            &rule("- {source_matchers: ['s=\"1\"'], target_matchers: ['t=\"1\"'], equal: [e]}"),
            Clock::system(),
        )
        .unwrap();
        let now = Utc::now();
        let firing = |pairs: &[(&str, &str)]| {
            let mut a = alert(pairs, 0.0, None);
            a.ends_at = now + chrono::Duration::hours(1);
            a
        };
        let both_a = firing(&[("s", "1"), ("t", "1"), ("e", "x"), ("n", "a")]);
        let both_b = firing(&[("s", "1"), ("t", "1"), ("e", "x"), ("n", "b")]);
        ih.on_alert(&std::sync::Arc::new(both_a.clone()));
        ih.on_alert(&std::sync::Arc::new(both_b.clone()));
        assert!(!ih.mutes(&both_a.labels, now));
        assert!(!ih.mutes(&both_b.labels, now));
        // A target-only alert is inhibited by them.
        let target = ls(&[("t", "1"), ("e", "x")]);
        let mut want = [both_a.fingerprint(), both_b.fingerprint()];
        want.sort();
        assert_eq!(ih.muted_by(&target, now), vec![want[0].to_string()]);
        // A pure source inhibits the two-sided ones.
        let src = firing(&[("s", "1"), ("e", "x")]);
        ih.on_alert(&std::sync::Arc::new(src.clone()));
        assert_eq!(
            ih.muted_by(&both_a.labels, now),
            vec![src.fingerprint().to_string()]
        );
    }

    #[test]
    fn legacy_and_new_matchers_combine() {
        let ih = Inhibitor::new(
            &rule(
                r#"
- source_match: {alertname: HostDown}
  source_match_re: {severity: "crit.*"}
  target_matchers: ['severity=~"warning|info"', 'team!="db", env="prod"']
  equal: [instance]
"#,
            ),
            Clock::system(),
        )
        .unwrap();
        let r = &ih.rules()[0];
        assert_eq!(r.source.0.len(), 2);
        assert_eq!(r.target.0.len(), 3);
        let now = Utc::now();
        let mut src = alert(
            &[
                ("alertname", "HostDown"),
                ("severity", "critical"),
                ("instance", "vps1"),
            ],
            0.0,
            None,
        );
        src.ends_at = now + chrono::Duration::hours(1);
        ih.on_alert(&std::sync::Arc::new(src.clone()));
        let tgt = |sev: &str, team: &str| {
            ls(&[
                ("severity", sev),
                ("team", team),
                ("env", "prod"),
                ("instance", "vps1"),
            ])
        };
        assert!(ih.mutes(&tgt("warning", "web"), now));
        assert!(!ih.mutes(&tgt("warning", "db"), now));
        assert!(!ih.mutes(&tgt("critical", "web"), now));
        // Anchored: "crit" alone does not match "critical".
        let ih2 = Inhibitor::new(
            &rule("- {source_match_re: {severity: crit}, target_match: {a: b}}"),
            Clock::system(),
        )
        .unwrap();
        ih2.on_alert(&std::sync::Arc::new(src.clone()));
        assert_eq!(ih2.cached_sources(), 0);
    }

    #[test]
    fn bad_rules_name_their_key_path() {
        let err = |y: &str| compile_rules(&rule(y)).unwrap_err();
        assert_eq!(
            err("- {source_matchers: ['a=\"1\"', 'b=~\"(\"']}"),
            format!(
                "inhibit_rules[0].source_matchers[1]: {}",
                parse_matchers(r#"b=~"(""#).unwrap_err()
            )
        );
        assert!(
            err("- {}\n- {target_matchers: ['=x']}")
                .starts_with("inhibit_rules[1].target_matchers[0]: bad matcher format")
        );
        assert_eq!(
            err("- {source_match: {bad-name: x}}"),
            r#"inhibit_rules[0].source_match: invalid label name "bad-name""#
        );
        assert!(
            err("- {target_match_re: {job: '(['}}")
                .starts_with("inhibit_rules[0].target_match_re.job: invalid regular expression")
        );
        assert_eq!(
            err("- {equal: [instance, 'a-b']}"),
            r#"inhibit_rules[0].equal[1]: "a-b" is not a valid label name"#
        );
        assert!(compile_rules(&rule("- {equal: [instance, instance]}")).is_ok());
    }

    /// A sweep drops what has ended and sets the next one at twice what is left
    /// (never below the floor), so a cache of live sources is not swept on every insert.
    #[test]
    fn sweep_keeps_live_sources_and_doubles_its_threshold() {
        let mut c = Cache::default();
        let put = |c: &mut Cache, i: u64, end: f64| {
            let key = vec![i.to_string()];
            c.by_key
                .entry(key.clone())
                .or_default()
                .insert(Fingerprint(i));
            c.alerts.insert(
                Fingerprint(i),
                Source {
                    key,
                    ends_at: at(end),
                    is_target: false,
                },
            );
        };
        for i in 0..2_000 {
            put(&mut c, i, 20.0);
        }
        for i in 2_000..2_500 {
            put(&mut c, i, 5.0);
        }
        c.sweep(at(10.0));
        assert_eq!((c.alerts.len(), c.by_key.len()), (2_000, 2_000));
        assert_eq!(c.sweep_at, 4_000);
        c.sweep(at(30.0));
        assert_eq!((c.alerts.len(), c.by_key.len()), (0, 0));
        assert_eq!(c.sweep_at, MIN_SWEEP);
    }

    /// Inserting below the threshold never sweeps (each alert costs O(1)); the insert
    /// that passes it sweeps once. Sources that ended are still counted until then.
    #[tokio::test(start_paused = true)]
    async fn inserts_sweep_only_past_the_threshold() {
        let c = Clock::following_tokio(t0());
        let ih = Inhibitor::new(
            &rule("- {source_matchers: ['s=\"1\"'], target_matchers: ['t=\"1\"']}"),
            c,
        )
        .unwrap();
        let src = |i: usize, end: Option<f64>| {
            Arc::new(alert(&[("s", "1"), ("i", &i.to_string())], 0.0, end))
        };
        for i in 0..MIN_SWEEP - 1 {
            ih.on_alert(&src(i, Some(1.0)));
        }
        advance_to(c, 2.0).await;
        ih.on_alert(&src(MIN_SWEEP, None));
        assert_eq!(ih.cached_sources(), MIN_SWEEP);
        ih.on_alert(&src(MIN_SWEEP + 1, None));
        assert_eq!(ih.cached_sources(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_by_firing_sources() {
        let c = Clock::following_tokio(t0());
        let ih = Inhibitor::new(
            &rule("- {source_matchers: ['s=\"1\"'], target_matchers: ['t=\"1\"']}"),
            c,
        )
        .unwrap();
        // 10,000 sources that end at 1s (a flapping source side). Those that arrive
        // resolved are dropped at once, the rest by gc (run with the store's gc).
        for i in 0..10_000 {
            ih.on_alert(&std::sync::Arc::new(alert(
                &[("s", "1"), ("i", &i.to_string())],
                0.0,
                Some(1.0),
            )));
        }
        assert_eq!(ih.cached_sources(), 10_000);
        advance_to(c, 2.0).await;
        for i in 0..5_000 {
            ih.on_alert(&std::sync::Arc::new(alert(
                &[("s", "1"), ("i", &i.to_string())],
                0.0,
                Some(1.0),
            )));
        }
        assert_eq!(ih.cached_sources(), 5_000);
        ih.gc();
        assert_eq!(ih.cached_sources(), 0);
        for i in 10_000..12_000 {
            ih.on_alert(&std::sync::Arc::new(alert(
                &[("s", "1"), ("i", &i.to_string())],
                2.0,
                None,
            )));
        }
        // Growing sweeps drop resolved entries even without gc.
        for i in 20_000..30_000 {
            ih.on_alert(&std::sync::Arc::new(alert(
                &[("s", "1"), ("i", &i.to_string())],
                2.0,
                Some(3.5),
            )));
        }
        advance_to(c, 4.0).await;
        for i in 30_000..40_000 {
            ih.on_alert(&std::sync::Arc::new(alert(
                &[("s", "1"), ("i", &i.to_string())],
                4.0,
                Some(5.0),
            )));
        }
        assert_eq!(ih.cached_sources(), 12_000);
        advance_to(c, 5.0).await;
        ih.gc();
        assert_eq!(ih.cached_sources(), 2_000);
    }
}
