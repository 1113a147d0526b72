//! Dispatch on a paused tokio clock: every notification's exact instant and content,
//! for Alertmanager's acceptance cases (AT-01..AT-14 of the dispatch spec) and the
//! timers, routing, muting and delivery rules around them. Plus one real webhook
//! delivery to an HTTP server on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alerter::alert::Alert;
use alerter::clock::Clock;
use alerter::config;
use alerter::dispatch::Dispatcher;
use alerter::inhibit::Inhibitor;
use alerter::labels::{LabelSet, parse_matchers};
use alerter::mute::Muter;
use alerter::notify::nflog::Nflog;
use alerter::notify::pipeline::{Integration, Pipeline, Receivers};
use alerter::notify::{Notification, Notifier, NotifyError, Reason, Status};
use alerter::provider::{Alerts, Listener};
use alerter::silence::{PostableSilence, Silences};
use alerter::timeinterval::Intervals;
use chrono::{DateTime, TimeZone, Utc};
use futures::future::BoxFuture;
use tokio::time::Instant;

/// Monday 2026-01-05 09:00:00 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

fn ms(x: f64) -> Duration {
    Duration::from_millis((x * 1000.0).round() as u64)
}

/// One received notification: when (seconds from the test's start, in ms) and what.
#[derive(Clone, Debug)]
struct Got {
    at: Duration,
    receiver: String,
    status: Status,
    /// `alertname` of each alert, with `!` appended when resolved.
    alerts: Vec<String>,
    n: Notification,
}

/// A test-only integration that records what it is sent, and can fail.
struct Recorder {
    start: Instant,
    got: Arc<Mutex<Vec<Got>>>,
    /// Errors to return, one per attempt, before succeeding.
    failures: Mutex<Vec<NotifyError>>,
    /// Fail every attempt with this.
    always: Mutex<Option<NotifyError>>,
    delay: Duration,
    /// Calls running now, and the most at once.
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

impl Notifier for Recorder {
    fn integration(&self) -> &'static str {
        "webhook"
    }
    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            use std::sync::atomic::Ordering::SeqCst;
            // Decremented on drop: a call cut off by the flush deadline ends too.
            struct Running<'a>(&'a std::sync::atomic::AtomicUsize);
            impl Drop for Running<'_> {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, SeqCst);
                }
            }
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.max_in_flight.fetch_max(now, SeqCst);
            let _running = Running(&self.in_flight);
            tokio::time::sleep(self.delay).await;
            let failure = {
                let mut f = self.failures.lock().unwrap();
                (!f.is_empty())
                    .then(|| f.remove(0))
                    .or_else(|| self.always.lock().unwrap().clone())
            };
            if let Some(e) = failure {
                return Err(e);
            }
            self.got.lock().unwrap().push(Got {
                at: self.start.elapsed(),
                receiver: n.data.receiver.clone(),
                status: n.data.status,
                alerts: n
                    .data
                    .alerts
                    .iter()
                    .map(|a| {
                        let name = a.labels.get("alertname").cloned().unwrap_or_default();
                        if a.status == Status::Resolved {
                            format!("{name}!")
                        } else {
                            name
                        }
                    })
                    .collect(),
                n: n.clone(),
            });
            Ok(())
        })
    }
}

/// Muter that never mutes.
struct Nobody;
impl Muter for Nobody {
    fn muted_by(&self, _: &LabelSet, _: DateTime<Utc>) -> Vec<String> {
        Vec::new()
    }
}

struct Harness {
    start: Instant,
    clock: Clock,
    alerts: Arc<Alerts>,
    dispatcher: Arc<Dispatcher>,
    got: Arc<Mutex<Vec<Got>>>,
    recorders: HashMap<String, Arc<Recorder>>,
}

/// The daemon's pipeline on a paused clock: recording receivers, the real inhibitor
/// from the config's `inhibit_rules`, and `silences` (none mute when `None`).
fn harness(yaml: &str, send_resolved: bool, silences: Option<Arc<dyn Muter>>) -> Harness {
    harness_delayed(yaml, send_resolved, silences, Duration::ZERO)
}

/// As [`harness`], with every receiver taking `delay` per call.
fn harness_delayed(
    yaml: &str,
    send_resolved: bool,
    silences: Option<Arc<dyn Muter>>,
    delay: Duration,
) -> Harness {
    let cfg = config::compile_str(yaml, "test.yml").expect("valid config");
    let start = Instant::now();
    let clock = Clock::following_tokio(t0());
    let alerts = Arc::new(Alerts::new(clock));
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut receivers = Receivers::new();
    let mut recorders = HashMap::new();
    for r in &cfg.config.receivers {
        let rec = Arc::new(Recorder {
            start,
            got: got.clone(),
            failures: Mutex::new(Vec::new()),
            always: Mutex::new(None),
            delay,
            in_flight: Default::default(),
            max_in_flight: Default::default(),
        });
        recorders.insert(r.name.clone(), rec.clone());
        receivers.insert(
            r.name.clone(),
            vec![Integration {
                notifier: rec,
                send_resolved,
                index: 0,
            }],
        );
    }
    let inhibitor = Arc::new(Inhibitor::from_rules(cfg.inhibit_rules.clone(), clock));
    let pipeline = Pipeline::new(
        receivers,
        inhibitor.clone(),
        silences.unwrap_or_else(|| Arc::new(Nobody)),
        cfg.intervals.clone(),
        Arc::new(Nflog::in_memory(Duration::from_secs(120 * 3600))),
        "http://alerter.example:9093".into(),
        clock,
    );
    let dispatcher = Arc::new(Dispatcher::new(
        (*cfg.route).clone(),
        Arc::new(pipeline),
        clock,
    ));
    // As the server wires it: the inhibitor learns of a source before the
    // dispatcher's flush asks about its targets.
    alerts.set_listeners(vec![
        inhibitor as Arc<dyn Listener>,
        dispatcher.clone() as Arc<dyn Listener>,
    ]);
    Harness {
        start,
        clock,
        alerts,
        dispatcher,
        got,
        recorders,
    }
}

impl Harness {
    async fn at(&self, secs: f64) {
        tokio::time::sleep_until(self.start + ms(secs)).await;
    }

    fn wall(&self, secs: f64) -> DateTime<Utc> {
        t0() + chrono::Duration::milliseconds((secs * 1000.0).round() as i64)
    }

    /// An alert firing since `start` (seconds), with Prometheus-style endsAt far ahead.
    fn alert(&self, labels: &str, start: f64) -> Alert {
        let labels: LabelSet = parse_matchers(labels)
            .unwrap()
            .0
            .into_iter()
            .map(|m| (m.name, m.value))
            .collect();
        Alert {
            labels,
            annotations: [("summary".to_string(), "s".to_string())].into(),
            starts_at: self.wall(start),
            ends_at: self.wall(start + 3600.0),
            generator_url: String::new(),
            updated_at: self.clock.now(),
            timeout: false,
        }
    }

    fn push(&self, a: Alert) {
        self.alerts.put(vec![a]);
    }

    fn resolve(&self, labels: &str, start: f64, end: f64) {
        let mut a = self.alert(labels, start);
        a.ends_at = self.wall(end);
        self.push(a);
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// (instant, receiver, alerts) of every notification so far.
    fn log(&self) -> Vec<(Duration, String, Vec<String>)> {
        self.got()
            .into_iter()
            .map(|g| (g.at, g.receiver, g.alerts))
            .collect()
    }
}

fn row(at: f64, receiver: &str, alerts: &[&str]) -> (Duration, String, Vec<String>) {
    (
        ms(at),
        receiver.to_string(),
        alerts.iter().map(|s| s.to_string()).collect(),
    )
}

/// AT-02 + AT-03 (upstream TestBatching): group_wait batches, updates wait for the
/// next group_interval tick, a repeat comes at the first tick more than
/// repeat_interval after the last send.
#[tokio::test(start_paused = true)]
async fn at02_at03_batching_and_group_interval() {
    let h = harness(
        "route: {receiver: r, group_by: [], group_wait: 1s, group_interval: 1s, repeat_interval: 4900ms}\nreceivers: [{name: r}]",
        true,
        None,
    );
    h.at(1.1).await;
    h.push(h.alert("alertname=test1", 1.1));
    h.at(1.7).await;
    h.push(h.alert("alertname=test5", 1.7));
    h.at(3.3).await;
    for n in ["test2", "test3", "test4"] {
        h.push(h.alert(&format!("alertname={n}"), 3.3));
    }
    h.at(9.5).await;
    let all = ["test1", "test2", "test3", "test4", "test5"];
    assert_eq!(
        h.log(),
        [
            row(2.1, "r", &["test1", "test5"]),
            // Nothing at 3.1; the update at the 4.1 tick; the repeat at 9.1
            // (9.1 - 4.1 > 4.9, 8.1 - 4.1 is not).
            row(4.1, "r", &all),
            row(9.1, "r", &all),
        ]
    );
    let first = &h.got()[0].n;
    assert_eq!(first.group_key, "{}:{}");
    assert_eq!(first.data.receiver, "r");
    assert_eq!(first.data.external_url, "http://alerter.example:9093");
    assert_eq!(
        first
            .data
            .common_annotations
            .get("summary")
            .map(String::as_str),
        Some("s")
    );
    assert!(first.data.common_labels.is_empty());
    assert_eq!(
        first.data.alerts[0].ends_at.to_rfc3339(),
        "0001-01-01T00:00:00+00:00"
    );
}

/// AT-14: an alert older than group_wait flushes its new group at once; a fresh
/// one waits group_wait.
#[tokio::test(start_paused = true)]
async fn at14_old_alert_flushes_immediately() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname]}\nreceivers: [{name: r}]",
        true,
        None,
    );
    let mut old = h.alert("alertname=Old", -3600.0);
    old.ends_at = h.wall(3600.0);
    h.push(old);
    h.push(h.alert("alertname=Fresh", 0.0));
    h.at(31.0).await;
    assert_eq!(
        h.log(),
        [row(0.0, "r", &["Old"]), row(30.0, "r", &["Fresh"])]
    );
    assert_eq!(h.got()[1].n.group_key, r#"{}:{alertname="Fresh"}"#);
}

/// An old alert joining a group that has not flushed yet flushes it at once, as
/// Alertmanager's aggrGroup.insert does for every alert (not only the first).
#[tokio::test(start_paused = true)]
async fn an_old_alert_joining_a_waiting_group_flushes_it_at_once() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname]}\nreceivers: [{name: r}]",
        true,
        None,
    );
    h.push(h.alert("alertname=A,instance=fresh", 0.0));
    h.at(5.0).await;
    assert!(h.log().is_empty(), "still within group_wait");
    let mut old = h.alert("alertname=A,instance=old", -3600.0);
    old.ends_at = h.wall(3600.0);
    h.push(old);
    h.at(6.0).await;
    assert_eq!(h.log(), [row(5.0, "r", &["A", "A"])]);
    // Once flushed, an old alert waits for the next group_interval tick (5m).
    let mut older = h.alert("alertname=A,instance=older", -7200.0);
    older.ends_at = h.wall(3600.0);
    h.push(older);
    h.at(300.0).await;
    assert_eq!(h.log().len(), 1, "no early flush after the first");
    h.at(306.0).await;
    assert_eq!(h.log().len(), 2);
}

/// Defaults-like timings: the repeat comes at ceil((ri + ε)/gi)·gi after the send,
/// 1h5m for ri=1h, gi=5m (Alertmanager HEAD).
#[tokio::test(start_paused = true)]
async fn repeat_interval_rounds_up_to_the_next_tick() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 1h}\nreceivers: [{name: r}]",
        true,
        None,
    );
    h.push(h.alert("alertname=A", 0.0));
    let mut a = h.alert("alertname=A", 0.0);
    a.ends_at = h.wall(100_000.0);
    h.push(a);
    h.at(8000.0).await;
    assert_eq!(
        h.log(),
        [
            row(30.0, "r", &["A"]),
            row(30.0 + 3900.0, "r", &["A"]),
            row(30.0 + 7800.0, "r", &["A"]),
        ]
    );
}

/// Resolution: reported at the next tick with send_resolved, then the group is
/// gone, so the same alert re-firing starts a new group with group_wait.
#[tokio::test(start_paused = true)]
async fn resolved_notification_then_group_destroyed() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname], group_wait: 10s, group_interval: 1m, repeat_interval: 1h}\nreceivers: [{name: r}]",
        true,
        None,
    );
    h.push(h.alert("alertname=A,n=1", 0.0));
    h.push(h.alert("alertname=A,n=2", 0.0));
    h.at(20.0).await;
    h.resolve("alertname=A,n=1", 0.0, 20.0);
    h.at(80.0).await;
    h.resolve("alertname=A,n=2", 0.0, 80.0);
    h.at(140.0).await;
    assert!(h.dispatcher.groups().is_empty(), "emptied group destroyed");
    h.at(200.0).await;
    h.push(h.alert("alertname=A,n=1", 200.0));
    h.at(300.0).await;
    assert_eq!(
        h.log(),
        [
            row(10.0, "r", &["A", "A"]),
            row(70.0, "r", &["A!", "A"]),
            row(130.0, "r", &["A!"]),
            row(210.0, "r", &["A"]),
        ]
    );
    let g = h.got();
    assert_eq!(g[1].status, Status::Firing);
    assert_eq!(g[2].status, Status::Resolved);
    assert_eq!(g[2].n.data.alerts[0].ends_at, h.wall(80.0));
}

/// send_resolved: false sends only firing alerts; a partial resolution triggers
/// nothing; the last resolution is not sent but recorded, so nothing repeats.
#[tokio::test(start_paused = true)]
async fn without_send_resolved() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname], group_wait: 10s, group_interval: 1m, repeat_interval: 3m}\nreceivers: [{name: r}]",
        false,
        None,
    );
    h.push(h.alert("alertname=A,n=1", 0.0));
    h.push(h.alert("alertname=A,n=2", 0.0));
    h.at(20.0).await;
    h.resolve("alertname=A,n=1", 0.0, 20.0);
    h.at(400.0).await;
    h.resolve("alertname=A,n=2", 0.0, 400.0);
    h.at(1000.0).await;
    assert_eq!(
        h.log(),
        [
            row(10.0, "r", &["A", "A"]),
            // 70: partial resolution, nothing. Repeat after 3m: first tick > 190.
            row(250.0, "r", &["A"]),
            // 430: all resolved: recorded without a send; later ticks: group gone.
        ]
    );
    assert!(h.dispatcher.groups().is_empty());
}

/// AT-01 through the dispatcher: `continue` notifies both routes, nested routes
/// take their own (overridden) timings, and the group key carries the route key.
#[tokio::test(start_paused = true)]
async fn continue_and_nested_timings() {
    let h = harness(
        r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  routes:
    - receiver: db
      matchers: ['service=~"postgres|redis"']
      continue: true
      group_wait: 2s
      group_interval: 10s
      routes:
        - receiver: dba
          matchers: ['severity="critical"']
          group_wait: 1s
    - receiver: pager
      matchers: ['severity="critical"']
receivers: [{name: default}, {name: db}, {name: dba}, {name: pager}]
"#,
        true,
        None,
    );
    h.push(h.alert("alertname=PgDown,service=postgres,severity=critical", 0.0));
    h.push(h.alert("alertname=RedisSlow,service=redis", 0.0));
    h.push(h.alert("alertname=ApiDown,job=api", 0.0));
    h.at(5.0).await;
    h.push(h.alert("alertname=RedisSlow,service=redis,instance=b", 5.0));
    h.at(31.0).await;
    let mut log = h.log();
    log.sort();
    assert_eq!(
        log,
        [
            row(1.0, "dba", &["PgDown"]),
            row(2.0, "db", &["RedisSlow"]),
            // dba inherits db's 10 s group_interval: nothing new at 11.
            row(12.0, "db", &["RedisSlow", "RedisSlow"]),
            row(30.0, "default", &["ApiDown"]),
            row(30.0, "pager", &["PgDown"]),
        ]
    );
    let keys: Vec<String> = h
        .dispatcher
        .groups()
        .into_iter()
        .map(|g| g.group_key)
        .collect();
    assert!(
        keys.contains(
            &r#"{}/{service=~"postgres|redis"}/{severity="critical"}:{alertname="PgDown"}"#
                .to_string()
        ),
        "{keys:?}"
    );
    assert!(
        keys.contains(&r#"{}/{severity="critical"}:{alertname="PgDown"}"#.to_string()),
        "{keys:?}"
    );
}

/// `group_by: ['...']`: every alert is its own group, labelled with all its labels.
#[tokio::test(start_paused = true)]
async fn group_by_all_labels() {
    let h = harness(
        "route: {receiver: r, group_by: ['...'], group_wait: 1s}\nreceivers: [{name: r}]",
        true,
        None,
    );
    h.push(h.alert("alertname=A,instance=x", 0.0));
    h.push(h.alert("alertname=A,instance=y", 0.0));
    h.at(2.0).await;
    let g = h.got();
    assert_eq!(g.len(), 2);
    let mut keys: Vec<&str> = g.iter().map(|g| g.n.group_key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            r#"{}:{alertname="A", instance="x"}"#,
            r#"{}:{alertname="A", instance="y"}"#
        ]
    );
    assert!(
        g.iter()
            .all(|g| g.at == ms(1.0) && g.n.data.group_labels.len() == 2)
    );
    assert_eq!(h.dispatcher.groups().len(), 2);
}

/// AT-07 (upstream TestInhibiting): inhibition with `equal [job, zone]`, by the real
/// inhibitor built from `inhibit_rules`.
#[tokio::test(start_paused = true)]
async fn at07_inhibition_with_equal() {
    let h = harness(
        "route: {receiver: r, group_by: [], group_wait: 1s, group_interval: 1s, repeat_interval: 1s}\nreceivers: [{name: r}]\ninhibit_rules:\n  - source_matchers: [alertname=JobDown]\n    target_matchers: [alertname=InstanceDown]\n    equal: [job, zone]",
        true,
        None,
    );
    h.at(1.0).await;
    h.push(h.alert("alertname=test1,job=testjob,zone=aa", 1.0));
    h.push(h.alert("alertname=InstanceDown,job=testjob,zone=aa", 1.0));
    h.push(h.alert("alertname=InstanceDown,job=testjob,zone=ab", 1.0));
    h.at(2.2).await;
    h.push(h.alert("alertname=JobDown,job=testjob,zone=aa", 2.2));
    h.at(3.6).await;
    h.resolve("alertname=JobDown,job=testjob,zone=aa", 2.2, 3.6);
    h.at(4.5).await;
    let zones = |g: &Got| -> Vec<String> {
        g.n.data
            .alerts
            .iter()
            .map(|a| {
                format!(
                    "{}/{}{}",
                    a.labels["alertname"],
                    a.labels["zone"],
                    if a.status == Status::Resolved {
                        "!"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    };
    let g = h.got();
    let got: Vec<(Duration, Vec<String>)> = g.iter().map(|g| (g.at, zones(g))).collect();
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            (
                ms(2.0),
                v(&["InstanceDown/aa", "InstanceDown/ab", "test1/aa"])
            ),
            (ms(3.0), v(&["InstanceDown/ab", "JobDown/aa", "test1/aa"])),
            (
                ms(4.0),
                v(&[
                    "InstanceDown/aa",
                    "InstanceDown/ab",
                    "JobDown/aa!",
                    "test1/aa"
                ])
            ),
        ]
    );
}

/// Inhibition without `equal`: any firing source mutes every target.
#[tokio::test(start_paused = true)]
async fn inhibition_without_equal() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}\nreceivers: [{name: r}]\ninhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]",
        true,
        None,
    );
    h.push(h.alert("alertname=HighLoad,severity=warning,instance=a", 0.0));
    h.push(h.alert("alertname=HostDown,severity=critical,instance=b", 0.0));
    h.at(1.5).await;
    h.resolve("alertname=HostDown,severity=critical,instance=b", 0.0, 1.5);
    h.at(3.5).await;
    let mut log = h.log();
    log.sort();
    assert_eq!(
        log,
        [
            row(1.0, "r", &["HostDown"]),
            // The warning is first notified once the critical has resolved.
            row(2.0, "r", &["HighLoad"]),
            row(2.0, "r", &["HostDown!"]),
        ]
    );
}

fn silence(s: &Silences, matchers: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    s.set(PostableSilence::new(
        &parse_matchers(matchers).unwrap(),
        from,
        to,
        "test",
        "c",
    ))
    .expect("silence accepted")
}

/// AT-09 (upstream TestSilencing) with the real silences.
#[tokio::test(start_paused = true)]
async fn at09_silences() {
    let clock = Clock::following_tokio(t0());
    let sil = Arc::new(Silences::new(clock, Duration::from_secs(3600)));
    let h = harness(
        "route: {receiver: r, group_by: [], group_wait: 1s, group_interval: 1s, repeat_interval: 1ms}\nreceivers: [{name: r}]",
        true,
        Some(sil.clone()),
    );
    h.at(1.0).await;
    h.push(h.alert("alertname=test1", 1.0));
    h.push(h.alert("alertname=test2", 1.0));
    h.at(2.3).await;
    silence(&sil, r#"{alertname="test1"}"#, h.wall(2.5), h.wall(4.5));
    h.at(5.5).await;
    assert_eq!(
        h.log(),
        [
            row(2.0, "r", &["test1", "test2"]),
            row(3.0, "r", &["test2"]),
            row(4.0, "r", &["test2"]),
            row(5.0, "r", &["test1", "test2"]),
        ]
    );
}

/// Silences by anchored regex, and expiring one brings the alert back at the
/// next tick as a new alert.
#[tokio::test(start_paused = true)]
async fn silence_regex_and_expire() {
    let clock = Clock::following_tokio(t0());
    let sil = Arc::new(Silences::new(clock, Duration::from_secs(3600)));
    let h = harness(
        "route: {receiver: r, group_by: [alertname], group_wait: 1s, group_interval: 10s, repeat_interval: 1h}\nreceivers: [{name: r}]",
        true,
        Some(sil.clone()),
    );
    let id = silence(
        &sil,
        r#"{alertname=~"Celery.*"}"#,
        h.wall(0.0),
        h.wall(3600.0),
    );
    silence(&sil, r#"{alertname=~"Redis"}"#, h.wall(0.0), h.wall(3600.0));
    h.push(h.alert("alertname=CeleryQueueLong", 0.0));
    h.push(h.alert("alertname=RedisDown", 0.0));
    h.at(15.0).await;
    sil.expire(&id).unwrap();
    h.at(30.0).await;
    assert_eq!(
        h.log(),
        [
            row(1.0, "r", &["RedisDown"]),
            row(21.0, "r", &["CeleryQueueLong"])
        ]
    );
}

const BUSINESS: &str = r#"
time_intervals:
  - name: business
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: "09:01", end_time: "17:00"}]
"#;

/// active_time_intervals: nothing before 09:01; the first tick inside sends.
/// mute_time_intervals: the reverse.
#[tokio::test(start_paused = true)]
async fn active_and_mute_time_intervals() {
    let h = harness(
        &format!(
            "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 10s\n  group_interval: 30s\n  repeat_interval: 1h\n  routes:\n    - matchers: [kind=active]\n      active_time_intervals: [business]\n    - matchers: [kind=mute]\n      mute_time_intervals: [business]\nreceivers: [{{name: r}}]\n{BUSINESS}"
        ),
        true,
        None,
    );
    h.push(h.alert("alertname=Active,kind=active", 0.0));
    h.push(h.alert("alertname=Muted,kind=mute", 0.0));
    h.at(200.0).await;
    // Ticks at 10, 40, 70, ...: 09:00:10 and 09:00:40 are outside, 09:01:10 inside.
    assert_eq!(
        h.log(),
        [row(10.0, "r", &["Muted"]), row(70.0, "r", &["Active"])]
    );
}

/// A retryable failure is retried with backoff (0.5 s, then ×1.5) inside the tick;
/// a permanent one is not, and keeps resolved alerts for the next tick.
#[tokio::test(start_paused = true)]
async fn retries_with_backoff_then_permanent_error() {
    let h = harness(
        "route: {receiver: r, group_by: [alertname], group_wait: 1s, group_interval: 20s, repeat_interval: 1h}\nreceivers: [{name: r}]",
        true,
        None,
    );
    let err = |retryable| NotifyError {
        retryable,
        reason: if retryable {
            Reason::Http5xx
        } else {
            Reason::Http4xx
        },
        message: "boom".into(),
    };
    *h.recorders["r"].failures.lock().unwrap() = vec![err(true), err(true)];
    h.push(h.alert("alertname=A", 0.0));
    h.at(10.0).await;
    // Attempts at 1.0, 1.5, 2.25.
    assert_eq!(h.log(), [row(2.25, "r", &["A"])]);
    *h.recorders["r"].failures.lock().unwrap() = vec![err(false)];
    h.resolve("alertname=A", 0.0, 10.0);
    h.at(45.0).await;
    // 21: refused for good; the resolved alert stays and goes out at 41.
    assert_eq!(h.log(), [row(2.25, "r", &["A"]), row(41.0, "r", &["A!"])]);
    let stats = h.dispatcher.pipeline().stats().snapshot();
    assert_eq!(stats.notifications["webhook"], 3);
    assert_eq!(stats.requests["webhook"], 5);
    assert_eq!(stats.requests_failed["webhook"], 3);
    assert_eq!(
        stats.failed[&("r".into(), "webhook".into(), "http_4xx".into())],
        1
    );
}

/// A receiver that keeps failing, behind 2,000 groups: each tick's retries stop at
/// the flush deadline (max(group_interval, 10s)), at most MAX_IN_FLIGHT sends run
/// at once, and the groups that find no slot before the deadline count as
/// `backlog` and try again next tick. Nothing piles up (Alertmanager #5018 grew to
/// 2.6 GiB; it sends all groups at once).
#[tokio::test(start_paused = true)]
async fn failing_receiver_stays_bounded() {
    use alerter::notify::pipeline::MAX_IN_FLIGHT;
    use std::sync::atomic::Ordering::SeqCst;
    let cfg = "route: {receiver: r, group_by: ['...'], group_wait: 1s, group_interval: 10s, repeat_interval: 1h}\nreceivers: [{name: r}]";
    // A slow failure (100 ms), so concurrent sends overlap and can be counted.
    let h = harness_delayed(cfg, true, None, Duration::from_millis(100));
    let slow = h.recorders["r"].clone();
    *slow.always.lock().unwrap() = Some(NotifyError {
        retryable: true,
        reason: Reason::ConnectionRefused,
        message: "refused".into(),
    });
    for i in 0..2000 {
        h.push(h.alert(&format!("alertname=A,i=\"{i}\""), 0.0));
    }
    // Before tick 31: ticks 1, 11 and 21 are fully accounted for (once the
    // integration is known to fail, a group without a slot gives up at once).
    h.at(30.9).await;
    let s = h.dispatcher.pipeline().stats().snapshot();
    let refused = s.failed[&("r".into(), "webhook".into(), "connection_refused".into())];
    let backlog = s.failed[&("r".into(), "webhook".into(), "backlog".into())];
    // Every group, every tick (1, 11, 21), is accounted for exactly once (those
    // whose slot came too late to try at all count as `timeout`).
    let all: u64 = s.failed.values().sum();
    assert_eq!(all, 2000 * 3, "{:?}", s.failed);
    assert!(backlog > 0 && refused >= 3 * MAX_IN_FLIGHT as u64);
    assert_eq!(slow.max_in_flight.load(SeqCst), MAX_IN_FLIGHT);
    assert_eq!(h.dispatcher.groups().len(), 2000);
    assert!(h.got().is_empty());
}

/// stop() ends the timers but a flush already sending completes.
#[tokio::test(start_paused = true)]
async fn stop_lets_the_flush_in_flight_finish() {
    let clock = Clock::following_tokio(t0());
    let start = Instant::now();
    let got = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::new(Recorder {
        start,
        got: got.clone(),
        failures: Mutex::new(Vec::new()),
        always: Mutex::new(None),
        delay: Duration::from_secs(3),
        in_flight: Default::default(),
        max_in_flight: Default::default(),
    });
    let cfg = config::compile_str(
        "route: {receiver: r, group_wait: 1s, group_interval: 1m}\nreceivers: [{name: r}]",
        "t",
    )
    .unwrap();
    let pipeline = Pipeline::new(
        [(
            "r".to_string(),
            vec![Integration {
                notifier: rec,
                send_resolved: true,
                index: 0,
            }],
        )]
        .into(),
        Arc::new(Nobody),
        Arc::new(Nobody),
        Intervals::default(),
        Arc::new(Nflog::in_memory(Duration::from_secs(3600))),
        String::new(),
        clock,
    );
    let d = Dispatcher::new((*cfg.route).clone(), Arc::new(pipeline), clock);
    let h = harness("route: {receiver: r}\nreceivers: [{name: r}]", true, None);
    d.on_alert(&Arc::new(h.alert("alertname=A", 0.0)));
    d.on_alert(&Arc::new(h.alert("alertname=B", 0.0)));
    tokio::time::sleep_until(start + ms(2.0)).await;
    d.stop();
    d.on_alert(&Arc::new(h.alert("alertname=Ignored", 2.0)));
    d.wait().await;
    let g = got.lock().unwrap().clone();
    assert_eq!(g.len(), 1);
    assert_eq!(
        g[0].at,
        ms(4.0),
        "started at 1, took 3 s, not cancelled at 2"
    );
    assert_eq!(g[0].alerts, ["A", "B"]);
    assert_eq!(Instant::now() - start, ms(4.0));
}

/// The real webhook integration against an HTTP server on 127.0.0.1: Alertmanager's
/// JSON shape, max_alerts truncation, 5xx retryable and 4xx not.
#[tokio::test]
async fn webhook_posts_alertmanager_json() {
    use alerter::notify::webhook::WebhookNotifier;
    use axum::{Json, Router, http::StatusCode, routing::post};

    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let b = bodies.clone();
    let app = Router::new()
        .route(
            "/hook",
            post(move |Json(v): Json<serde_json::Value>| {
                let b = b.clone();
                async move {
                    b.lock().unwrap().push(v);
                    StatusCode::OK
                }
            }),
        )
        .route("/500", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/400", post(|| async { StatusCode::BAD_REQUEST }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    // Through the whole dispatcher and pipeline, on the real clock with short waits.
    let yaml = format!(
        "route: {{receiver: hook, group_by: [alertname], group_wait: 100ms, group_interval: 1s}}\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://{addr}/hook\n        max_alerts: 2\n"
    );
    let cfg = config::compile_str(&yaml, "t").unwrap_or_else(|e| panic!("{e}"));
    let clock = Clock::system();
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let pipeline = Pipeline::new(
        cfg.receivers.clone(),
        Arc::new(Nobody),
        Arc::new(Nobody),
        cfg.intervals.clone(),
        Arc::new(Nflog::in_memory(Duration::from_secs(3600))),
        "http://alerter.example:9093".into(),
        clock,
    );
    let d = Dispatcher::new((*cfg.route).clone(), Arc::new(pipeline), clock);
    let now = Utc::now();
    for i in 0..3 {
        d.on_alert(&Arc::new(Alert {
            labels: [
                ("alertname".to_string(), "DiskFull".to_string()),
                ("instance".to_string(), format!("vps{i}")),
                ("severity".to_string(), "warning".to_string()),
            ]
            .into(),
            annotations: [("summary".to_string(), "disk".to_string())].into(),
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            generator_url: "http://prom/graph".into(),
            updated_at: now,
            timeout: false,
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bodies.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = bodies.lock().unwrap()[0].clone();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "alerts",
        "commonAnnotations",
        "commonLabels",
        "externalURL",
        "groupKey",
        "groupLabels",
        "receiver",
        "status",
        "truncatedAlerts",
        "version",
    ];
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);
    assert_eq!(body["version"], "4");
    assert_eq!(body["groupKey"], r#"{}:{alertname="DiskFull"}"#);
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["truncatedAlerts"], 1);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({"alertname": "DiskFull"})
    );
    assert_eq!(
        body["commonLabels"],
        serde_json::json!({"alertname": "DiskFull", "severity": "warning"})
    );
    assert_eq!(
        body["commonAnnotations"],
        serde_json::json!({"summary": "disk"})
    );
    assert_eq!(body["externalURL"], "http://alerter.example:9093");
    let a0 = &body["alerts"][0];
    assert_eq!(a0["status"], "firing");
    assert_eq!(a0["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a0["generatorURL"], "http://prom/graph");
    assert_eq!(a0["labels"]["instance"], "vps0");
    assert_eq!(a0["fingerprint"].as_str().unwrap().len(), 16);
    d.stop();

    // Error classification.
    let n = Notification {
        group_key: "g".into(),
        data: serde_json::from_value(serde_json::json!({
            "receiver": "x", "status": "firing", "alerts": [], "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": ""
        }))
        .unwrap(),
    };
    let hook = |path: &str| {
        WebhookNotifier::from_config(
            &alerter::notify::webhook::WebhookConfig {
                url: Some(config_values::Secret::new(format!("http://{addr}{path}"))),
                ..Default::default()
            },
            None,
            std::path::Path::new("."),
        )
        .unwrap()
    };
    let e = hook("/500").notify(&n).await.unwrap_err();
    assert!(e.retryable && e.reason == "http_5xx", "{e:?}");
    let e = hook("/400").notify(&n).await.unwrap_err();
    assert!(!e.retryable && e.reason == "http_4xx", "{e:?}");
    let closed = e2e::free_port();
    let e = WebhookNotifier::from_config(
        &alerter::notify::webhook::WebhookConfig {
            url: Some(config_values::Secret::new(format!(
                "http://127.0.0.1:{closed}/"
            ))),
            ..Default::default()
        },
        None,
        std::path::Path::new("."),
    )
    .unwrap()
    .notify(&n)
    .await
    .unwrap_err();
    assert!(e.retryable && e.reason == "connection_refused", "{e:?}");
}

/// AT-01 against the oracle: Debian's `amtool config routes test` picks the same
/// receivers as our route tree for a spread of label sets.
#[test]
fn at01_routes_agree_with_amtool() {
    let Some(amtool) = e2e::require("amtool", "compare routing with Alertmanager's") else {
        return;
    };
    let yaml = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: db
      matchers: ['service=~"postgres|redis"']
      continue: true
      routes:
        - receiver: dba
          matchers: ['severity!="info"', 'team=~"data.*"']
    - receiver: pager
      matchers: ['severity="critical"']
    - receiver: workers
      match: {job: celery}
      match_re: {queue: "high|default"}
receivers: [{name: default}, {name: db}, {name: dba}, {name: pager}, {name: workers}]
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("am.yml");
    std::fs::write(&file, yaml).unwrap();
    let cfg = config::compile_str(yaml, "am.yml").unwrap_or_else(|e| panic!("{e}"));
    let root = &cfg.route;
    for labels in [
        "service=postgres severity=critical",
        "service=redis",
        "job=celery severity=critical",
        "job=api",
        "service=postgres-replica",
        "service=redis team=database severity=warning",
        "service=redis team=database severity=info",
        "job=celery queue=high",
        "job=celery queue=low",
        "service=postgres team=data severity=critical",
    ] {
        let out = std::process::Command::new(&amtool)
            .args(["config", "routes", "test", "--config.file"])
            .arg(&file)
            .args(labels.split(' '))
            .output()
            .expect("run amtool");
        let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ls: LabelSet = labels
            .split(' ')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ours: Vec<String> = root
            .matches(&ls)
            .iter()
            .map(|r| r.receiver.clone())
            .collect();
        assert_eq!(ours.join(","), theirs, "labels {labels}");
    }
}
