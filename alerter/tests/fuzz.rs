//! A dependency-free, generator-based fuzz harness, run by every `cargo test`: it generates
//! PromQL expressions from the grammar, mutates them byte-wise, and feeds them to the parser
//! and the evaluator (instant and range queries over a small store); and it mutates rule
//! files, templates and series notation for the rule loader. Any panic fails the test and
//! prints the input; so does an evaluation that is not deterministic, or an instant query
//! that disagrees with a one-step range query at the same time.
//!
//! Coverage-guided fuzzing is separate: the cargo-fuzz targets in `alerter/fuzz/` run on the
//! stable toolchain (`cargo fuzz run --sanitizer none promql`, see README "Fuzzing"), and
//! `tests/fuzz_corpus.rs` replays their corpora.
//!
//! This harness runs a fixed number of cases from a fixed seed, so a busy machine covers the
//! same cases as an idle one. By hand, more cases or another seed:
//!     FUZZ_ITERS=2000000 FUZZ_SEED=42 cargo test --release -p alerter --test fuzz -- --nocapture

use alerter::promql::series::parse_values;
use alerter::promql::{Engine, EvalError, Labels, Store, Value};
use alerter::rules::parse_rules;
use alerter::rules::template::{Template, TemplateData};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const METRICS: &[&str] = &[
    "m",
    "up",
    "http_requests_total",
    "c",
    "nosuch",
    "{__name__=~\"m|c\"}",
    "bucket",
];
const RANGE_FNS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "count_over_time",
    "last_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "absent_over_time",
];
const VEC_FNS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "sgn",
    "sort",
    "sort_desc",
    "timestamp",
    "absent",
    "hour",
    "minute",
    "month",
    "year",
    "day_of_week",
    "days_in_month",
    "scalar",
    "deg",
    "rad",
    "acosh",
];
const AGGS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
];
const BINOPS: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2",
];
const DURS: &[&str] = &["1s", "10s", "1m", "5m", "90s", "1h", "0s", "1ms", "3d"];
const NUMS: &[&str] = &[
    "0", "1", "-1", "0.5", "NaN", "Inf", "-Inf", "1e308", "2", "100", "0x10", "1e-300",
];

fn selector(r: &mut Rng) -> String {
    let mut s = r.pick(METRICS).to_string();
    if r.below(3) == 0 && !s.contains('{') {
        let ops = ["=", "!=", "=~", "!~"];
        s.push_str(&format!(
            "{{job{}\"{}\"}}",
            ops[r.below(4)],
            r.pick(&["a", "a|b", ".*", "", "(", "b"])
        ));
    }
    if r.below(5) == 0 {
        s.push_str(&format!(" offset {}", r.pick(DURS)));
    }
    if r.below(6) == 0 {
        s.push_str(&format!(
            " @ {}",
            r.pick(&["100", "start()", "end()", "-50", "1e10"])
        ));
    }
    s
}

fn range(r: &mut Rng, depth: usize) -> String {
    if r.below(4) == 0 && depth < 4 {
        format!(
            "({})[{}:{}]",
            expr(r, depth + 1),
            r.pick(DURS),
            r.pick(&["", "1s", "10s", "1m"])
        )
    } else {
        let s = selector(r);
        match s.find(" offset").or(s.find(" @")) {
            Some(i) => format!("{}[{}]{}", &s[..i], r.pick(DURS), &s[i..]),
            None => format!("{s}[{}]", r.pick(DURS)),
        }
    }
}

fn expr(r: &mut Rng, depth: usize) -> String {
    if depth > 5 {
        return if r.below(2) == 0 {
            selector(r)
        } else {
            r.pick(NUMS).to_string()
        };
    }
    let d = depth + 1;
    match r.below(14) {
        0 | 1 => selector(r),
        2 => r.pick(NUMS).to_string(),
        3 => format!("{}({})", r.pick(RANGE_FNS), range(r, d)),
        4 => format!("{}({})", r.pick(VEC_FNS), expr(r, d)),
        5 => {
            let m = ["", " by (job)", " without (instance)", " by ()", " by (le)"];
            format!("{}{}({})", r.pick(AGGS), m[r.below(m.len())], expr(r, d))
        }
        6 => {
            let m = [
                "",
                " on(job)",
                " ignoring(instance)",
                " bool",
                " on() group_left",
                " on(job) group_right(instance)",
            ];
            format!(
                "{} {}{} {}",
                expr(r, d),
                r.pick(BINOPS),
                m[r.below(m.len())],
                expr(r, d)
            )
        }
        7 => format!(
            "{}({}, {})",
            r.pick(&["topk", "bottomk", "quantile"]),
            r.pick(NUMS),
            expr(r, d)
        ),
        8 => format!("histogram_quantile({}, {})", r.pick(NUMS), expr(r, d)),
        9 => format!(
            "label_replace({}, \"dst\", \"$1-${{2}}\", \"job\", \"{}\")",
            expr(r, d),
            r.pick(&["(.*)", "(a)(b)?", "[", ""])
        ),
        10 => format!("clamp({}, {}, {})", expr(r, d), r.pick(NUMS), r.pick(NUMS)),
        11 => format!("predict_linear({}, {})", range(r, d), r.pick(NUMS)),
        12 => format!("count_values(\"v\", {})", expr(r, d)),
        _ => format!("-({})", expr(r, d)),
    }
}

fn mutate(r: &mut Rng, s: &str) -> String {
    let mut b: Vec<u8> = s.as_bytes().to_vec();
    for _ in 0..r.below(4) {
        if b.is_empty() {
            break;
        }
        let i = r.below(b.len());
        match r.below(5) {
            0 => {
                b.remove(i);
            }
            1 => b.insert(i, b"()[]{}:@,\"'\\ -+x_$.|\n"[r.below(21)]),
            2 => b[i] = r.next() as u8,
            3 => {
                let j = r.below(b.len());
                let chunk = b[i.min(j)..i.max(j)].to_vec();
                b.splice(i..i, chunk);
            }
            _ => b.truncate(i),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn store(r: &mut Rng) -> Store {
    let mut s = Store::new();
    for name in ["m", "up", "http_requests_total", "c", "bucket"] {
        for job in ["a", "b"] {
            let mut l = Labels::new();
            l.insert("__name__".into(), name.into());
            l.insert("job".into(), job.into());
            if name == "bucket" {
                l.insert("le".into(), r.pick(&["0.1", "1", "+Inf", "x"]).into());
            }
            let mut t = 0;
            for _ in 0..r.below(40) {
                t += 1 + r.below(30_000) as i64;
                let v = match r.below(10) {
                    0 => f64::NAN,
                    1 => alerter::promql::stale_nan(),
                    2 => f64::INFINITY,
                    _ => r.below(1000) as f64 - 100.0,
                };
                let _ = s.append(&l, t, v);
            }
        }
    }
    s
}

/// Cases per `cargo test` run: a few seconds in a debug build.
const ITERATIONS: u64 = 2_000;

const RULE_FILE: &str = r#"groups:
  - name: g
    interval: 1m
    limit: 2
    rules:
      - alert: A
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: "{{ $labels.job }}"
        annotations:
          summary: "{{ $value | humanize }} {{ printf \"%.2f\" $value }} {{ if gt $value 1.0 }}x{{ end }}"
      - record: job:m:sum
        expr: sum by (job) (m)
"#;

/// A value as bits, so that NaN equals NaN and results compare exactly.
fn bits(v: &Value) -> String {
    match v {
        Value::Scalar(f) => format!("scalar {:x}", f.to_bits()),
        Value::String(s) => format!("string {s:?}"),
        Value::Vector(vs) => vs
            .iter()
            .map(|s| format!("{:?} {:x} {}\n", s.labels, s.value.to_bits(), s.drop_name))
            .collect(),
        Value::Matrix(ms) => ms
            .iter()
            .map(|s| {
                let pts: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, v)| format!("{t}:{:x}", v.to_bits()))
                    .collect();
                format!("{:?} {} {}\n", s.labels, pts.join(","), s.drop_name)
            })
            .collect(),
    }
}

/// An instant result as the one-step range query at the same time must show it: series
/// sorted by labels, one point each; `None` when a range query must refuse it.
fn as_one_step(v: &Value) -> Option<Vec<(Labels, u64)>> {
    let mut out: Vec<(Labels, u64)> = match v {
        Value::Scalar(f) => vec![(Labels::new(), f.to_bits())],
        Value::Vector(vs) => vs
            .iter()
            .map(|s| (s.labels.clone(), s.value.to_bits()))
            .collect(),
        Value::String(_) | Value::Matrix(_) => return None,
    };
    out.sort();
    Some(out)
}

fn check_eval(text: &str, engine: &Engine, st: &Store, t: i64) -> Result<Value, EvalError> {
    let Ok(ast) = alerter::promql::parse_expr(text) else {
        return Err(EvalError("unparsed".into()));
    };
    let supported = alerter::promql::check_supported(&ast);
    let first = engine.instant(st, &ast, t);
    let again = engine.instant(st, &ast, t);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(bits(a), bits(b), "not deterministic: {text:?} at {t}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "not deterministic: {text:?} at {t}"),
        _ => panic!("not deterministic: {text:?} at {t}: {first:?} then {again:?}"),
    }
    if supported.is_ok()
        && let Err(e) = &first
    {
        assert!(
            !e.0.contains("not supported by this engine"),
            "check_supported passed but evaluation refused {text:?}: {e}"
        );
    }
    let step = engine.range(st, &ast, t, t, 1);
    match (&first, step) {
        (Ok(v), Ok(series)) => {
            let got: Vec<(Labels, u64)> = series
                .into_iter()
                .map(|s| {
                    assert_eq!(s.points.len(), 1, "{text:?}: one step, one point");
                    assert_eq!(s.points[0].0, t, "{text:?}: the point is at the step");
                    (s.labels, s.points[0].1.to_bits())
                })
                .collect();
            assert_eq!(
                as_one_step(v).as_ref(),
                Some(&got),
                "instant and one-step range differ for {text:?} at {t}"
            );
        }
        (Ok(v), Err(e)) => assert!(
            as_one_step(v).is_none(),
            "instant gave {v:?} but the one-step range failed for {text:?} at {t}: {e}"
        ),
        (Err(a), Err(b)) => assert_eq!(a, &b, "{text:?} at {t}: instant and range fail alike"),
        (Err(e), Ok(s)) => panic!("instant failed ({e}) but range gave {s:?} for {text:?} at {t}"),
    }
    first
}

fn run_once(r: &mut Rng, engine: &Engine, st: &Store) {
    let e = expr(r, 0);
    let text = if r.below(3) == 0 { mutate(r, &e) } else { e };
    let t = r.below(2_000_000) as i64 - 100_000;
    let instant = check_eval(&text, engine, st, t);
    if r.below(4) == 0
        && instant.is_ok()
        && let Ok(ast) = alerter::promql::parse_expr(&text)
    {
        let end = t + r.below(600_000) as i64;
        let step = 1 + r.below(60_000) as i64;
        if let Ok(series) = engine.range(st, &ast, t, end, step) {
            for w in series.windows(2) {
                assert!(
                    w[0].labels < w[1].labels,
                    "{text:?}: range series sorted, unique"
                );
            }
            for s in &series {
                assert!(
                    s.points
                        .iter()
                        .all(|p| p.0 >= t && p.0 <= end && (p.0 - t) % step == 0),
                    "{text:?}: range points on the steps of [{t}, {end}]"
                );
                assert!(
                    s.points.windows(2).all(|w| w[0].0 < w[1].0),
                    "{text:?}: points in time order"
                );
            }
        }
    }
    let rf = mutate(r, RULE_FILE);
    let _ = parse_rules(Path::new("fuzz.yml"), &rf);
    let tmpl = mutate(
        r,
        "{{ $labels.job | toUpper }} {{ humanizeDuration $value }} {{ .Labels.x }} {{- $v := 1 }}{{ $v }}",
    );
    if let Ok(tp) = Template::parse(&tmpl) {
        let _ = tp.expand(&TemplateData {
            value: r.below(100000) as f64 / 7.0,
            ..Default::default()
        });
    }
    let _ = parse_values(&mutate(r, "1+2x3 _x2 stale -Inf 5-1x2 0x9"));
}

#[test]
fn fuzz() {
    let iters: u64 = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ITERATIONS);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e3779b97f4a7c15);
    assert!(
        parse_rules(Path::new("fuzz.yml"), RULE_FILE).is_ok(),
        "the unmutated rule file loads"
    );
    let mut r = Rng(seed);
    let engine = Engine::default();
    let start = Instant::now();
    let mut st = store(&mut r);
    for n in 0..iters {
        if n.is_multiple_of(500) {
            st = store(&mut r);
        }
        let state = r.0;
        let res = catch_unwind(AssertUnwindSafe(|| run_once(&mut r, &engine, &st)));
        if res.is_err() {
            panic!("failure at iteration {n} (FUZZ_SEED={seed}), rng state {state}");
        }
    }
    println!("fuzz: {iters} iterations in {:?}", start.elapsed());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let engine = Engine::default();
    let st = Store::new();
    for depth in [150, 250, 1000] {
        let e = format!("{}m{}", "(".repeat(depth), ")".repeat(depth));
        if let Ok(ast) = alerter::promql::parse_expr(&e) {
            let r = engine.instant(&st, &ast, 0);
            assert_eq!(
                r.is_err(),
                depth > alerter::promql::MAX_DEPTH,
                "depth {depth}: {r:?}"
            );
        }
        let e = format!("{}m{}", "-(".repeat(depth), ")".repeat(depth));
        if let Ok(ast) = alerter::promql::parse_expr(&e) {
            let _ = engine.instant(&st, &ast, 0);
            let _ = alerter::promql::check_supported(&ast);
        }
    }
}

#[test]
fn number_durations_out_of_range_are_errors() {
    for e in [
        "m[1e300]",
        "m[NaN]",
        "m offset 1e300",
        "m offset Inf",
        "rate(m[5m])[1e300:]",
        "(m)[5m:1e99]",
        "m[0x7fffffffffffffffffff]",
    ] {
        assert!(alerter::promql::parse_expr(e).is_err(), "{e}");
    }
    for e in [
        "m[5m]",
        "m[300]",
        "m offset 60",
        "a:1e400",
        "m{a=\"[1e400]\"}",
        "(m)[300:10]",
    ] {
        assert!(alerter::promql::parse_expr(e).is_ok(), "{e}");
    }
    for d in ["-1", "1e300", "NaN", "inf"] {
        assert!(alerter::rules::duration::parse_duration(d).is_err(), "{d}");
    }
    let bad = "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    for: -1\n";
    assert!(parse_rules(Path::new("x.yml"), bad).is_err());
}
