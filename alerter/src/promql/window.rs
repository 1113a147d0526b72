//! What the range-vector functions compute from one series' window of points: extrapolated
//! `rate`/`increase`/`delta`, `irate`/`idelta`, linear regression (`deriv`, `predict_linear`)
//! and the `*_over_time` family. Each is a pure function of a [`Window`], named in the
//! function table (functions.rs); `None` means the series yields no sample.

use super::number::{kahan_inc, quantile};

/// One series' points in a range `(end - range, end]`, and the function's scalar parameter
/// (`quantile_over_time`'s φ, `predict_linear`'s seconds; 0 for the others).
pub(super) struct Window<'a> {
    pub points: &'a [(i64, f64)],
    pub end: i64,
    pub range: i64,
    pub param: f64,
}

fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = points[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn extrapolated_rate(
    p: &[(i64, f64)],
    end: i64,
    range: i64,
    counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let start = end - range;
    let (ft, fv) = p[0];
    let (lt, lv) = p[p.len() - 1];
    let mut result = lv - fv;
    if counter {
        let mut prev = fv;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (ft - start) as f64 / 1000.0;
    let mut to_end = (end - lt) as f64 / 1000.0;
    let sampled = (lt - ft) as f64 / 1000.0;
    let avg = sampled / (p.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && fv >= 0.0 {
        let to_zero = sampled * (fv / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

pub(super) fn rate(w: &Window) -> Option<f64> {
    extrapolated_rate(w.points, w.end, w.range, true, true)
}

pub(super) fn increase(w: &Window) -> Option<f64> {
    extrapolated_rate(w.points, w.end, w.range, true, false)
}

pub(super) fn delta(w: &Window) -> Option<f64> {
    extrapolated_rate(w.points, w.end, w.range, false, false)
}

/// The last two points, when there are two.
fn last_two(p: &[(i64, f64)]) -> Option<((i64, f64), (i64, f64))> {
    match p {
        [.., a, b] => Some((*a, *b)),
        _ => None,
    }
}

pub(super) fn irate(w: &Window) -> Option<f64> {
    let (a, b) = last_two(w.points)?;
    let dv = if b.1 < a.1 { b.1 } else { b.1 - a.1 };
    let dt = (b.0 - a.0) as f64 / 1000.0;
    if dt == 0.0 { None } else { Some(dv / dt) }
}

pub(super) fn idelta(w: &Window) -> Option<f64> {
    let (a, b) = last_two(w.points)?;
    Some(b.1 - a.1)
}

pub(super) fn deriv(w: &Window) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    Some(linear_regression(p, p[0].0).0)
}

pub(super) fn predict_linear(w: &Window) -> Option<f64> {
    if w.points.len() < 2 {
        return None;
    }
    let (slope, icpt) = linear_regression(w.points, w.end);
    Some(icpt + slope * w.param)
}

pub(super) fn avg_over_time(w: &Window) -> Option<f64> {
    let (mut sum, mut mean, mut count, mut c, mut inc) = (0.0, 0.0, 0.0, 0.0, false);
    for &(_, f) in w.points {
        count += 1.0;
        if !inc {
            let (ns, nc) = kahan_inc(f, sum, c);
            if count == 1.0 || !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            inc = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(f / count, q * mean, q * c);
    }
    Some(if inc {
        mean + c
    } else {
        sum / count + c / count
    })
}

pub(super) fn sum_over_time(w: &Window) -> Option<f64> {
    let (mut s, mut c) = (0.0, 0.0);
    for &(_, f) in w.points {
        (s, c) = kahan_inc(f, s, c);
    }
    Some(s + c)
}

pub(super) fn count_over_time(w: &Window) -> Option<f64> {
    Some(w.points.len() as f64)
}

pub(super) fn min_over_time(w: &Window) -> Option<f64> {
    Some(w.points.iter().fold(
        f64::NAN,
        |m, &(_, f)| if f < m || m.is_nan() { f } else { m },
    ))
}

pub(super) fn max_over_time(w: &Window) -> Option<f64> {
    Some(w.points.iter().fold(
        f64::NAN,
        |m, &(_, f)| if f > m || m.is_nan() { f } else { m },
    ))
}

pub(super) fn last_over_time(w: &Window) -> Option<f64> {
    w.points.last().map(|p| p.1)
}

pub(super) fn present_over_time(_: &Window) -> Option<f64> {
    Some(1.0)
}

pub(super) fn quantile_over_time(w: &Window) -> Option<f64> {
    Some(quantile(w.param, w.points.iter().map(|x| x.1).collect()))
}

/// Population variance, Kahan-compensated (Prometheus's `varianceOverTime`).
fn variance(p: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, f) in p {
        count += 1.0;
        let delta = f - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (f - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

pub(super) fn stddev_over_time(w: &Window) -> Option<f64> {
    Some(variance(w.points).sqrt())
}

pub(super) fn stdvar_over_time(w: &Window) -> Option<f64> {
    Some(variance(w.points))
}

pub(super) fn changes(w: &Window) -> Option<f64> {
    let mut n = 0.0;
    for p in w.points.windows(2) {
        if p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan()) {
            n += 1.0;
        }
    }
    Some(n)
}

pub(super) fn resets(w: &Window) -> Option<f64> {
    Some(w.points.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64)
}
