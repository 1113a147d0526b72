//! The in-memory series store: append-only per series, samples packed into small chunks
//! (delta-of-delta timestamps and XOR'd values, byte-aligned: ~2-5 bytes per regular sample),
//! retention by time, memory accounted.

use super::Labels;
use std::collections::HashMap;

const CHUNK_SAMPLES: u32 = 240;

#[derive(Debug, Clone)]
struct Chunk {
    min_t: i64,
    max_t: i64,
    n: u32,
    last_delta: i64,
    last_bits: u64,
    bytes: Vec<u8>,
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (u & 0x7f) as u8;
        u >>= 7;
        if u == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_varint(buf: &[u8], pos: &mut usize) -> i64 {
    let mut u: u64 = 0;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if shift < 64 {
            u |= u64::from(b & 0x7f) << shift;
        }
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

impl Chunk {
    fn new(t: i64, v: f64) -> Chunk {
        let mut bytes = Vec::with_capacity(32);
        put_varint(&mut bytes, t);
        bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        Chunk {
            min_t: t,
            max_t: t,
            n: 1,
            last_delta: 0,
            last_bits: v.to_bits(),
            bytes,
        }
    }

    fn push(&mut self, t: i64, v: f64) {
        let delta = t - self.max_t;
        put_varint(&mut self.bytes, delta - self.last_delta);
        let bits = v.to_bits();
        let x = bits ^ self.last_bits;
        if x == 0 {
            self.bytes.push(0);
        } else {
            let lz = (x.leading_zeros() / 8) as usize;
            let tz = (x.trailing_zeros() / 8) as usize;
            self.bytes.push(1 + (lz * 8 + tz) as u8);
            let le = x.to_le_bytes();
            self.bytes.extend_from_slice(&le[tz..8 - lz]);
        }
        self.max_t = t;
        self.last_delta = delta;
        self.last_bits = bits;
        self.n += 1;
        if self.n == CHUNK_SAMPLES {
            self.bytes.shrink_to_fit();
        }
    }

    fn for_each(&self, mut f: impl FnMut(i64, f64)) {
        let b = &self.bytes;
        let mut pos = 0;
        let mut t = get_varint(b, &mut pos);
        let mut raw = [0u8; 8];
        if let Some(s) = b.get(pos..pos + 8) {
            raw.copy_from_slice(s);
        }
        pos += 8;
        let mut bits = u64::from_le_bytes(raw);
        f(t, f64::from_bits(bits));
        let mut delta = 0i64;
        for _ in 1..self.n {
            delta += get_varint(b, &mut pos);
            t += delta;
            let h = b.get(pos).copied().unwrap_or(0) as usize;
            pos += 1;
            if h != 0 {
                let lz = (h - 1) / 8;
                let tz = (h - 1) % 8;
                let len = 8usize.saturating_sub(lz + tz);
                let mut le = [0u8; 8];
                if let Some(s) = b.get(pos..pos + len) {
                    le[tz..tz + len].copy_from_slice(s);
                }
                pos += len;
                bits ^= u64::from_le_bytes(le);
            }
            f(t, f64::from_bits(bits));
        }
    }
}

/// One series: its labels and its samples in time order.
#[derive(Debug, Clone)]
pub struct StoredSeries {
    pub labels: Labels,
    chunks: Vec<Chunk>,
}

impl StoredSeries {
    /// Samples with `from < t <= to` (stale markers included), in time order.
    pub fn samples(&self, from: i64, to: i64, out: &mut Vec<(i64, f64)>) {
        for c in &self.chunks {
            if c.max_t <= from || c.min_t > to {
                continue;
            }
            c.for_each(|t, v| {
                if t > from && t <= to {
                    out.push((t, v))
                }
            });
        }
    }

    /// The newest sample with `from < t <= to`, stale markers included.
    pub fn last_in(&self, from: i64, to: i64) -> Option<(i64, f64)> {
        let mut found = None;
        for c in self.chunks.iter().rev() {
            if c.min_t > to {
                continue;
            }
            if c.max_t <= from {
                break;
            }
            c.for_each(|t, v| {
                if t > from && t <= to {
                    found = Some((t, v))
                }
            });
            if found.is_some() {
                break;
            }
        }
        found
    }

    pub fn last_timestamp(&self) -> Option<i64> {
        self.chunks.last().map(|c| c.max_t)
    }
}

fn hash_labels(l: &Labels) -> u64 {
    use std::hash::BuildHasher;
    static STATE: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    STATE.get_or_init(Default::default).hash_one(l)
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample: {t} is not after the series' last sample at {last}")]
    OutOfOrder { t: i64, last: i64 },
}

/// The series store. Timestamps are milliseconds since the Unix epoch.
#[derive(Debug, Default, Clone)]
pub struct Store {
    series: Vec<StoredSeries>,
    /// Label-set hash to the series with that hash (labels are stored once, in `series`).
    index: HashMap<u64, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    fn find(&self, h: u64, labels: &Labels) -> Option<usize> {
        self.index
            .get(&h)?
            .iter()
            .copied()
            .find(|&i| self.series.get(i).is_some_and(|s| &s.labels == labels))
    }

    /// Appends a sample; the series is created on first use.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let h = hash_labels(labels);
        let idx = match self.find(h, labels) {
            Some(i) => i,
            None => {
                let i = self.series.len();
                self.series.push(StoredSeries {
                    labels: labels.clone(),
                    chunks: Vec::new(),
                });
                self.index.entry(h).or_default().push(i);
                let name = labels.get("__name__").cloned().unwrap_or_default();
                self.by_name.entry(name).or_default().push(i);
                i
            }
        };
        let s = &mut self.series[idx];
        match s.chunks.last_mut() {
            Some(c) if c.max_t >= t => return Err(AppendError::OutOfOrder { t, last: c.max_t }),
            Some(c) if c.n < CHUNK_SAMPLES => c.push(t, v),
            _ => s.chunks.push(Chunk::new(t, v)),
        }
        Ok(())
    }

    /// Drops every chunk whose samples are all older than `min_t`, and series left empty.
    pub fn truncate_before(&mut self, min_t: i64) {
        let mut changed = false;
        for s in &mut self.series {
            let before = s.chunks.len();
            s.chunks.retain(|c| c.max_t >= min_t);
            changed |= before != s.chunks.len();
        }
        if changed && self.series.iter().any(|s| s.chunks.is_empty()) {
            let old = std::mem::take(&mut self.series);
            self.index.clear();
            self.by_name.clear();
            for s in old.into_iter().filter(|s| !s.chunks.is_empty()) {
                let i = self.series.len();
                self.index
                    .entry(hash_labels(&s.labels))
                    .or_default()
                    .push(i);
                let name = s.labels.get("__name__").cloned().unwrap_or_default();
                self.by_name.entry(name).or_default().push(i);
                self.series.push(s);
            }
        }
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.series
            .iter()
            .flat_map(|s| &s.chunks)
            .map(|c| c.n as usize)
            .sum()
    }

    /// Approximate heap bytes held: chunk bytes, chunk headers, labels and index entries.
    pub fn memory_bytes(&self) -> usize {
        let mut total = self.series.capacity() * std::mem::size_of::<StoredSeries>();
        for s in &self.series {
            total += s.chunks.capacity() * std::mem::size_of::<Chunk>();
            total += s.chunks.iter().map(|c| c.bytes.capacity()).sum::<usize>();
            let lbytes: usize = s.labels.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
            total += lbytes + 48 + 32;
        }
        total
    }

    /// All series, for selection.
    pub fn all(&self) -> &[StoredSeries] {
        &self.series
    }

    /// Series whose `__name__` is `name`.
    pub fn named(&self, name: &str) -> impl Iterator<Item = &StoredSeries> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.series.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trips_awkward_values() {
        let l: Labels = [("__name__".to_string(), "x".to_string())].into();
        let mut s = Store::new();
        let vals = [
            0.0,
            1.5,
            f64::NAN,
            super::super::stale_nan(),
            -3.25e300,
            1e-300,
            f64::INFINITY,
        ];
        let mut t = -5000;
        let mut want = Vec::new();
        for i in 0..600 {
            let v = vals[i % vals.len()] + if i % 3 == 0 { i as f64 } else { 0.0 };
            t += 1 + (i as i64 % 7) * 1000;
            s.append(&l, t, v).unwrap();
            want.push((t, v));
        }
        let mut got = Vec::new();
        s.all()[0].samples(i64::MIN, i64::MAX, &mut got);
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits());
        }
        assert!(s.append(&l, t, 1.0).is_err());
    }
}
