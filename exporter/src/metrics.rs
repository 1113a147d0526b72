//! Owned metric values. Collectors gather asynchronously into these, and only then
//! is anything encoded (prometheus-client's `Collector::encode` is synchronous).

/// The metric type, as the classic text format names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Histogram,
}

/// One metric family. `name` is the full name as it appears in the classic text
/// format: counters end in `_total` (e.g. `node_cpu_seconds_total`), except a peer's
/// counter named without it (`redis_total_error_replies`, see [`crate::exposition::encode`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Label pairs in the order they are to be rendered.
    pub labels: Vec<(String, String)>,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    /// Cumulative buckets `(upper bound, count)`, without the `+Inf` bucket (that is `count`).
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

impl Family {
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: Kind) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }

    pub fn counter(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Counter)
    }

    pub fn gauge(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Gauge)
    }

    pub fn untyped(name: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(name, help, Kind::Untyped)
    }

    /// Adds a scalar sample with the given labels.
    pub fn push<K, V>(&mut self, labels: impl IntoIterator<Item = (K, V)>, value: f64) -> &mut Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.samples.push(Sample {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            value: Value::Scalar(value),
        });
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(mut self, value: f64) -> Self {
        self.push(std::iter::empty::<(String, String)>(), value);
        self
    }
}
