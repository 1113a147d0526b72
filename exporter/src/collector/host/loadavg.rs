//! `node_load1`, `node_load5`, `node_load15` from /proc/loadavg.

use std::sync::Arc;

use super::{ProcReader, gauge1, num, read};
use crate::collector::source::{CollectResult, Collector};
use crate::setting::HostPaths;

pub fn build(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("loadavg", paths, collect))
}

fn collect(paths: &HostPaths) -> CollectResult {
    parse(&read(&paths.proc("loadavg"))?)
}

/// Parses /proc/loadavg: `0.52 0.58 0.59 1/467 12345`.
pub fn parse(text: &str) -> CollectResult {
    let mut fields = text.split_whitespace();
    let mut next = |what: &str| -> anyhow::Result<f64> {
        let f = fields
            .next()
            .ok_or_else(|| anyhow::anyhow!("/proc/loadavg: missing {what}"))?;
        num(f, what)
    };
    let (l1, l5, l15) = (next("load1")?, next("load5")?, next("load15")?);
    Ok(vec![
        gauge1("node_load1", "1m load average.", l1),
        gauge1("node_load5", "5m load average.", l5),
        gauge1("node_load15", "15m load average.", l15),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_loadavg() {
        let f = super::parse("0.52 0.58 0.59 1/467 12345\n").unwrap();
        assert_eq!(f[2].name, "node_load15");
        assert_eq!(f[2].samples[0].value, crate::metrics::Value::Scalar(0.59));
        assert!(super::parse("").is_err());
    }
}
