//! What the template tests render: one notification's data, and shorthands that
//! compile and render a text or HTML field with the built-in templates.

pub(super) use std::collections::BTreeMap;

pub(super) use chrono::{TimeZone, Utc};

pub(super) use super::Templates;
pub(super) use crate::notify::{AlertData, Data, Status, zero_time};

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn alert(st: Status, name: &str, instance: &str) -> AlertData {
    AlertData {
        status: st,
        labels: labels(&[
            ("alertname", name),
            ("instance", instance),
            ("severity", "warning"),
        ]),
        annotations: labels(&[("summary", "CPU <high>")]),
        starts_at: Utc.with_ymd_and_hms(2024, 5, 1, 14, 3, 9).unwrap(),
        ends_at: if st == Status::Firing {
            zero_time()
        } else {
            Utc.with_ymd_and_hms(2024, 5, 1, 15, 0, 0).unwrap()
        },
        generator_url: "http://prom:9090/graph?g0.expr=up".into(),
        fingerprint: format!("fp-{instance}"),
    }
}

pub(super) fn data() -> Data {
    Data {
        receiver: "team-x".into(),
        status: Status::Firing,
        alerts: vec![
            alert(Status::Firing, "HostHighCpuUsage", "web1:9100"),
            alert(Status::Firing, "HostHighCpuUsage", "web2:9100"),
            alert(Status::Resolved, "HostHighCpuUsage", "web3:9100"),
        ],
        group_labels: labels(&[("alertname", "HostHighCpuUsage"), ("severity", "warning")]),
        common_labels: labels(&[
            ("alertname", "HostHighCpuUsage"),
            ("severity", "warning"),
            ("team", "ops"),
        ]),
        common_annotations: labels(&[("summary", "CPU <high>")]),
        external_url: "http://alerter:9093".into(),
    }
}

pub(super) fn text(src: &str) -> String {
    Templates::builtin()
        .text("t", src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .render(&data())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

pub(super) fn text_err(src: &str) -> String {
    match Templates::builtin().text("t", src) {
        Err(e) => e,
        Ok(t) => t.render(&data()).expect_err(src),
    }
}

pub(super) fn html(src: &str) -> String {
    Templates::builtin()
        .html("h", src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .render(&data())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}
