//! `node_timex_*`: the kernel's clock discipline state from a read-only adjtimex(2),
//! with node_exporter's names and scaling (timex.go: offsets in µs, or ns under
//! STA_NANO; frequencies in ppm scaled by 2^16).

use std::sync::Arc;

use crate::collector::host::{ProcReader, gauge1};
use crate::collector::source::Collector;
use crate::metrics::Family;
use crate::setting::HostPaths;

/// `STA_UNSYNC`: the clock is not synchronised (linux/timex.h).
const STA_UNSYNC: i64 = 0x0040;
/// `STA_NANO`: `offset` and `jitter` are in nanoseconds, not microseconds.
const STA_NANO: i64 = 0x2000;
/// ppm with a 16-bit fraction, as the kernel reports `freq`, `ppsfreq`, `stabil`.
const PPM16FRAC: f64 = 1_000_000.0 * 65_536.0;

/// The fields of `struct timex` the collector reports, as plain integers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timex {
    pub status: i64,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

pub fn build(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("timex", paths, |_| Ok(families(&read()?))))
}

/// Reads the kernel's state without changing it (`modes` = 0).
#[allow(unsafe_code)]
fn read() -> anyhow::Result<Timex> {
    // SAFETY: `libc::timex` is a plain C struct of integers, for which all-zero bytes
    // are a valid value; zero `modes` makes adjtimex(2) a read-only query that only
    // writes into the struct we own, for the duration of the call.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the whole call.
    let state = unsafe { libc::adjtimex(&raw mut tx) };
    if state < 0 {
        anyhow::bail!("adjtimex: {}", std::io::Error::last_os_error());
    }
    Ok(Timex {
        status: i64::from(tx.status),
        offset: tx.offset,
        freq: tx.freq,
        maxerror: tx.maxerror,
        esterror: tx.esterror,
        constant: tx.constant,
        tick: tx.tick,
        ppsfreq: tx.ppsfreq,
        jitter: tx.jitter,
        shift: i64::from(tx.shift),
        stabil: tx.stabil,
        jitcnt: tx.jitcnt,
        calcnt: tx.calcnt,
        errcnt: tx.errcnt,
        stbcnt: tx.stbcnt,
        tai: i64::from(tx.tai),
    })
}

/// node_exporter's families for one reading.
#[allow(clippy::cast_precision_loss)]
pub fn families(t: &Timex) -> Vec<Family> {
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let synced = if t.status & STA_UNSYNC == 0 { 1.0 } else { 0.0 };
    let counter = |name: &str, help: &str, v: i64| Family::counter(name, help).single(v as f64);
    vec![
        gauge1(
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / 1e6,
        ),
        gauge1(
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        gauge1(
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        gauge1(
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / 1e6,
        ),
        gauge1(
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        counter(
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt,
        ),
        counter(
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt,
        ),
        gauge1(
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        gauge1(
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        counter(
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt,
        ),
        gauge1(
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        counter(
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
        gauge1(
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        gauge1(
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        ),
        gauge1(
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            synced,
        ),
        gauge1(
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai as f64,
        ),
        gauge1(
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / 1e6,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Value;

    fn value(fams: &[Family], name: &str) -> f64 {
        let f = fams.iter().find(|f| f.name == name).expect(name);
        match f.samples[0].value {
            Value::Scalar(v) => v,
            Value::Histogram { .. } => panic!("{name} is a histogram"),
        }
    }

    #[test]
    fn scales_like_node_exporter() {
        // An unsynchronised VM clock (status 64), as read on our test machine.
        let t = Timex {
            status: 0x0040,
            offset: 1500,
            freq: 65_536 * 3,
            maxerror: 16_000_000,
            esterror: 16_000_000,
            constant: 2,
            tick: 10_000,
            ..Timex::default()
        };
        let f = families(&t);
        assert_eq!(f.len(), 17);
        assert_eq!(value(&f, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&f, "node_timex_maxerror_seconds"), 16.0);
        assert_eq!(value(&f, "node_timex_offset_seconds"), 0.0015);
        assert_eq!(value(&f, "node_timex_tick_seconds"), 0.01);
        assert!((value(&f, "node_timex_frequency_adjustment_ratio") - 1.000_003).abs() < 1e-12);
    }

    #[test]
    fn nanosecond_offsets_and_synced_clock() {
        let t = Timex {
            status: STA_NANO,
            offset: 2_000_000,
            jitter: 500,
            ..Timex::default()
        };
        let f = families(&t);
        assert_eq!(value(&f, "node_timex_sync_status"), 1.0);
        assert_eq!(value(&f, "node_timex_offset_seconds"), 0.002);
        assert_eq!(value(&f, "node_timex_pps_jitter_seconds"), 5e-7);
    }

    #[test]
    fn reads_this_kernel() {
        let t = read().expect("adjtimex read-only query");
        assert!(t.tick > 0, "a running kernel has a clock tick: {t:?}");
    }
}
