//! The data model: Alertmanager's template `Data` as gotmpl values, and Go's rule
//! for walking a field chain over them (a method of the receiver's type wins,
//! then a field or map key), with the methods Alertmanager's types have
//! (`.Alerts.Firing`, `.Labels.SortedPairs`, `.StartsAt.Format`, ...).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gotmpl::{SafeKind, TemplateError, Value, ValueFunc};

use super::gotime::{GO_TIME_STRING, go_format, parse_go_time};
use super::{DEFAULT_KEY, MAX_OUTPUT, TYPE_KEY};
use crate::notify::{AlertData, Data, Status, zero_time};

pub(super) fn s(v: &str) -> Value {
    Value::String(Arc::from(v))
}

fn kv(m: &BTreeMap<String, String>) -> Value {
    Value::Map(Arc::new(
        m.iter()
            .map(|(k, v)| (Arc::from(k.as_str()), s(v)))
            .collect(),
    ))
}

fn typed(t: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut m: BTreeMap<Arc<str>, Value> =
        fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect();
    m.insert(Arc::from(TYPE_KEY), s(t));
    Value::Map(Arc::new(m))
}

fn status(st: Status) -> Value {
    s(match st {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    })
}

fn alert_value(a: &AlertData) -> Value {
    typed(
        "Alert",
        vec![
            ("Status", status(a.status)),
            ("Labels", kv(&a.labels)),
            ("Annotations", kv(&a.annotations)),
            ("StartsAt", s(&go_format(&a.starts_at, GO_TIME_STRING))),
            ("EndsAt", s(&go_format(&a.ends_at, GO_TIME_STRING))),
            ("GeneratorURL", s(&a.generator_url)),
            ("Fingerprint", s(&a.fingerprint)),
        ],
    )
}

/// Alertmanager's template data as a template value.
pub fn data_value(d: &Data) -> Value {
    let data = Arc::new(d.clone());
    let render: ValueFunc = Arc::new(move |args: &[Value]| {
        Ok(match args.first().and_then(Value::as_str) {
            Some("subject") => s(&super::defaults::subject(&data)),
            Some("text") => s(&super::defaults::text_body(&data)),
            Some("html") => Value::Safe {
                kind: SafeKind::Html,
                s: Arc::from(super::defaults::html_body(&data)),
            },
            _ => Value::Nil,
        })
    });
    typed(
        "Data",
        vec![
            ("Receiver", s(&d.receiver)),
            ("Status", status(d.status)),
            (
                "Alerts",
                Value::List(d.alerts.iter().map(alert_value).collect()),
            ),
            ("GroupLabels", kv(&d.group_labels)),
            ("CommonLabels", kv(&d.common_labels)),
            ("CommonAnnotations", kv(&d.common_annotations)),
            ("ExternalURL", s(&d.external_url)),
            (DEFAULT_KEY, Value::Function(render)),
        ],
    )
}

/// `Data`, `Alert`, `Pair`, or `None` for other values.
pub(super) fn type_of(v: &Value) -> Option<&str> {
    match v {
        Value::Map(m) => m.get(TYPE_KEY).and_then(Value::as_str),
        _ => None,
    }
}

pub(super) fn is_kv(v: &Value) -> bool {
    matches!(v, Value::Map(m) if !m.contains_key(TYPE_KEY))
}

pub(super) fn is_pairs(v: &Value) -> bool {
    matches!(v, Value::List(l) if l.iter().all(|p| type_of(p) == Some("Pair")))
}

pub(super) fn type_name(v: &Value) -> String {
    if let Some(t) = type_of(v) {
        return t.to_string();
    }
    match v {
        Value::Map(_) => "KV".into(),
        Value::List(_) if is_pairs(v) => "Pairs".into(),
        other => other.type_name().to_string(),
    }
}

pub(super) fn exec_err(msg: String) -> TemplateError {
    TemplateError::Exec(msg)
}

/// Alertmanager's `KV.SortedPairs`: `alertname` first, then by name.
fn sorted_pairs(m: &BTreeMap<Arc<str>, Value>) -> Vec<(Arc<str>, Value)> {
    let mut out: Vec<(Arc<str>, Value)> = Vec::with_capacity(m.len());
    if let Some(v) = m.get("alertname") {
        out.push((Arc::from("alertname"), v.clone()));
    }
    out.extend(
        m.iter()
            .filter(|(k, _)| &***k != "alertname")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

fn pair(name: Arc<str>, value: Value) -> Value {
    typed(
        "Pair",
        vec![("Name", Value::String(name)), ("Value", value)],
    )
}

fn pairs_string(items: &[(String, String)]) -> String {
    items
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn text_of(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    }
}

pub(super) fn field_of(v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Map(m) => m.get(name).cloned(),
        _ => None,
    }
}

/// One step of a field chain: Go's rule, a method of the receiver's type wins,
/// then a field / map key (text/template exec.go evalField).
pub(super) fn access(v: &Value, name: &str, args: &[Value]) -> gotmpl::Result<Value> {
    let no_args = || -> gotmpl::Result<()> {
        if args.is_empty() {
            Ok(())
        } else {
            Err(exec_err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            )))
        }
    };
    let want_one = || -> gotmpl::Result<&Value> {
        match args {
            [a] => Ok(a),
            _ => Err(exec_err(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            ))),
        }
    };
    match (v, name) {
        (Value::List(l), "Firing" | "Resolved")
            if l.iter().all(|a| type_of(a) == Some("Alert")) =>
        {
            no_args()?;
            let want = if name == "Firing" {
                "firing"
            } else {
                "resolved"
            };
            return Ok(Value::List(
                l.iter()
                    .filter(|a| {
                        field_of(a, "Status").as_ref().and_then(Value::as_str) == Some(want)
                    })
                    .cloned()
                    .collect(),
            ));
        }
        (Value::Map(m), "SortedPairs" | "Names" | "Values" | "String" | "Remove") if is_kv(v) => {
            let pairs = sorted_pairs(m);
            return match name {
                "SortedPairs" => {
                    no_args()?;
                    Ok(Value::List(
                        pairs.into_iter().map(|(k, v)| pair(k, v)).collect(),
                    ))
                }
                "Names" => {
                    no_args()?;
                    Ok(Value::List(
                        pairs.into_iter().map(|(k, _)| Value::String(k)).collect(),
                    ))
                }
                "Values" => {
                    no_args()?;
                    Ok(Value::List(pairs.into_iter().map(|(_, v)| v).collect()))
                }
                "String" => {
                    no_args()?;
                    Ok(s(&kv_string(v)))
                }
                _ => {
                    let keys = want_one()?;
                    let Value::List(keys) = keys else {
                        return Err(exec_err(format!(
                            "Remove wants a list of names, got {}",
                            type_name(keys)
                        )));
                    };
                    let drop: BTreeSet<String> = keys.iter().map(text_of).collect();
                    Ok(Value::Map(Arc::new(
                        m.iter()
                            .filter(|(k, _)| !drop.contains(&***k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )))
                }
            };
        }
        (Value::List(l), "Names" | "Values" | "String") if is_pairs(v) => {
            no_args()?;
            let items: Vec<(String, String)> = l
                .iter()
                .map(|p| {
                    (
                        field_of(p, "Name").map(|v| text_of(&v)).unwrap_or_default(),
                        field_of(p, "Value")
                            .map(|v| text_of(&v))
                            .unwrap_or_default(),
                    )
                })
                .collect();
            return Ok(match name {
                "Names" => Value::List(items.into_iter().map(|(k, _)| s(&k)).collect()),
                "Values" => Value::List(items.into_iter().map(|(_, v)| s(&v)).collect()),
                _ => s(&pairs_string(&items)),
            });
        }
        (Value::List(l), "Join") if l.iter().all(|x| matches!(x, Value::String(_))) => {
            let sep = text_of(want_one()?);
            return capped(l.iter().map(text_of).collect::<Vec<_>>().join(&sep));
        }
        (Value::String(t), "Format" | "Unix" | "IsZero" | "UTC" | "Local" | "String") => {
            if let Some(t) = parse_go_time(t) {
                return match name {
                    "Format" => Ok(s(&go_format(&t, &text_of(want_one()?)))),
                    "Unix" => {
                        no_args()?;
                        Ok(Value::Int(t.timestamp()))
                    }
                    "IsZero" => {
                        no_args()?;
                        Ok(Value::Bool(t == zero_time()))
                    }
                    _ => {
                        no_args()?;
                        Ok(s(&go_format(&t, GO_TIME_STRING)))
                    }
                };
            }
        }
        _ => {}
    }
    let found = match v {
        Value::Map(m) => match m.get(name) {
            Some(x) => x.clone(),
            // Alertmanager executes with missingkey=zero: a missing label is "".
            None if is_kv(v) => s(""),
            None => {
                return Err(exec_err(format!(
                    "can't evaluate field {name} in type {}",
                    type_name(v)
                )));
            }
        },
        Value::Nil => {
            return Err(exec_err(format!("nil pointer evaluating field {name}")));
        }
        other => {
            return Err(exec_err(format!(
                "can't evaluate field {name} in type {}",
                type_name(other)
            )));
        }
    };
    if !args.is_empty() {
        return Err(exec_err(format!(
            "{name} is not a method but has arguments"
        )));
    }
    Ok(found)
}

/// A `Pair` as Go prints the struct: `{alertname X}`.
pub(super) fn pair_string(p: &Value) -> String {
    format!(
        "{{{} {}}}",
        field_of(p, "Name").map(|x| text_of(&x)).unwrap_or_default(),
        field_of(p, "Value")
            .map(|x| text_of(&x))
            .unwrap_or_default()
    )
}

fn kv_string(v: &Value) -> String {
    match v {
        Value::Map(m) => pairs_string(
            &sorted_pairs(m)
                .into_iter()
                .map(|(k, v)| (k.to_string(), text_of(&v)))
                .collect::<Vec<_>>(),
        ),
        _ => String::new(),
    }
}

pub(super) fn capped(out: String) -> gotmpl::Result<Value> {
    if out.len() > MAX_OUTPUT {
        return Err(exec_err(format!(
            "a string of {} bytes is larger than {MAX_OUTPUT}",
            out.len()
        )));
    }
    Ok(Value::String(Arc::from(out)))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn data_fields() {
        assert_eq!(
            text(
                "{{ .Status }} {{ .Receiver }} {{ .ExternalURL }} {{ .GroupLabels.alertname }} {{ .CommonLabels.team }} {{ .CommonAnnotations.summary }}"
            ),
            "firing team-x http://alerter:9093 HostHighCpuUsage ops CPU <high>"
        );
        assert_eq!(
            text(
                "{{ range .Alerts }}{{ .Status }} {{ .Labels.instance }} {{ .Annotations.summary }} {{ .StartsAt }} | {{ .EndsAt }} {{ .GeneratorURL }} {{ .Fingerprint }}\n{{ end }}"
            ),
            "firing web1:9100 CPU <high> 2024-05-01 14:03:09 +0000 UTC | 0001-01-01 00:00:00 +0000 UTC http://prom:9090/graph?g0.expr=up fp-web1:9100\n\
             firing web2:9100 CPU <high> 2024-05-01 14:03:09 +0000 UTC | 0001-01-01 00:00:00 +0000 UTC http://prom:9090/graph?g0.expr=up fp-web2:9100\n\
             resolved web3:9100 CPU <high> 2024-05-01 14:03:09 +0000 UTC | 2024-05-01 15:00:00 +0000 UTC http://prom:9090/graph?g0.expr=up fp-web3:9100\n"
        );
        // Alertmanager runs with missingkey=zero: a missing label is "".
        assert_eq!(text("[{{ .CommonLabels.nope }}]"), "[]");
        assert_eq!(
            text(r#"{{ if eq .CommonLabels.nope "" }}empty{{ end }}"#),
            "empty"
        );
        assert_eq!(text(r#"[{{ index .CommonLabels "nope" }}]"#), "[]");
        assert_eq!(text(r#"{{ index .CommonLabels "team" }}"#), "ops");
        // A missing field of Data or Alert is an error, as in Go.
        let e = text_err("{{ .Staus }}");
        assert!(e.contains("can't evaluate field Staus in type Data"), "{e}");
        assert!(e.contains("1:4"), "position: {e}");
        let e = text_err("{{ range .Alerts }}{{ .Label }}{{ end }}");
        assert!(
            e.contains("can't evaluate field Label in type Alert"),
            "{e}"
        );
    }

    #[test]
    fn a_label_named_like_a_method_is_still_a_label_where_go_reads_one() {
        let mut d = data();
        d.alerts[0].labels.insert("Firing".into(), "yes".into());
        d.alerts[0].annotations.insert("Format".into(), "f".into());
        let t = Templates::builtin()
            .text(
                "t",
                "{{ with index .Alerts 0 }}{{ .Labels.Firing }} {{ .Annotations.Format }}{{ end }}",
            )
            .unwrap();
        assert_eq!(t.render(&d).unwrap(), "yes f");
        // The method wins on KV, as Go's evalField tries methods first.
        d.common_labels.insert("Names".into(), "x".into());
        let t = Templates::builtin()
            .text("t", "{{ .CommonLabels.Names | len }}")
            .unwrap();
        assert_eq!(t.render(&d).unwrap(), "4");
    }

    #[test]
    fn runtime_errors() {
        let e = text_err("{{ .Alerts.Firing.Nope }}");
        assert!(e.starts_with("t: "), "{e}");
        assert!(e.contains("can't evaluate field Nope"), "{e}");
        let e = text_err("{{ .Status.Foo }}");
        assert!(e.contains("can't evaluate field Foo in type string"), "{e}");
        let e = text_err(r#"{{ .Receiver "x" }}"#);
        assert!(e.contains("not a method but has arguments"), "{e}");
        let e = text_err(r#"{{ .CommonLabels.Remove }}"#);
        assert!(e.contains("wrong number of args for Remove"), "{e}");
        let e = text_err(r#"{{ index .Alerts 9 }}"#);
        assert!(e.contains("index out of range: 9"), "{e}");
        let e = text_err(r#"{{ $f := "%*d" }}{{ printf $f 100000000 1 }}"#);
        assert!(e.contains("`*` widths"), "{e}");
    }
}
