//! All of /proc/meminfo as `node_memory_<Field>_bytes` (fields in kB become bytes;
//! unitless fields such as `HugePages_Total` keep their name without `_bytes`), as
//! node_exporter's meminfo collector names them.

use std::sync::Arc;

use super::{ProcReader, read};
use crate::collector::source::{CollectResult, Collector};
use crate::metrics::Family;
use crate::setting::HostPaths;

pub fn build(paths: &HostPaths) -> anyhow::Result<Arc<dyn Collector>> {
    Ok(ProcReader::arc("meminfo", paths, collect))
}

fn collect(paths: &HostPaths) -> CollectResult {
    parse(&read(&paths.proc("meminfo"))?)
}

/// Parses /proc/meminfo lines like `MemTotal:  16318412 kB` or `HugePages_Total: 0`.
pub fn parse(text: &str) -> CollectResult {
    let mut out = Vec::with_capacity(64);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(value) = parts.next() else { continue };
        let value: f64 = value.parse().map_err(|_| {
            anyhow::anyhow!("/proc/meminfo: {key}: expected a number, got {value:?}")
        })?;
        // node_exporter turns `Active(anon)` into `Active_anon`.
        let key = key.replace('(', "_").replace(')', "");
        let (name, value) = match parts.next() {
            Some("kB") => (format!("node_memory_{key}_bytes"), value * 1024.0),
            _ => (format!("node_memory_{key}"), value),
        };
        let help = format!(
            "Memory information field {}.",
            &name["node_memory_".len()..]
        );
        out.push(Family::gauge(name, help).single(value));
    }
    if out.is_empty() {
        anyhow::bail!("/proc/meminfo: no fields found");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::metrics::Value;

    #[test]
    fn parses_meminfo() {
        let f = super::parse(
            "MemTotal:       16318412 kB\nActive(anon):     123 kB\nHugePages_Total:       0\n",
        )
        .unwrap();
        assert_eq!(f[0].name, "node_memory_MemTotal_bytes");
        assert_eq!(f[0].samples[0].value, Value::Scalar(16318412.0 * 1024.0));
        assert_eq!(f[1].name, "node_memory_Active_anon_bytes");
        assert_eq!(f[2].name, "node_memory_HugePages_Total");
        assert!(super::parse("MemTotal: lots kB\n").is_err());
    }
}
