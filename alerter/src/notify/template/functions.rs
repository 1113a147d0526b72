//! The function map: Alertmanager's template functions (template.go
//! DefaultFuncs) by their names, Prometheus's `stripPort`, and the hidden
//! functions the rewrite calls (field walks, step counting, output caps).

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, SafeKind, TemplateError, Value, ValueFunc};

use super::data::{
    access, capped, exec_err, field_of, is_kv, is_pairs, pair_string, s, text_of, type_name,
    type_of,
};
use super::gotime::{go_format, parse_go_time};
use super::rewrite::check_format;
use super::{CAP, DEFAULT_KEY, EMAIL_DEFAULT, FMT_GUARD, MAX_OUTPUT, PATH, PRINT, TICK, step};

fn arg<'a>(name: &str, args: &'a [Value], i: usize) -> gotmpl::Result<&'a Value> {
    args.get(i).ok_or_else(|| {
        exec_err(format!(
            "wrong number of args for {name}: want at least {} got {}",
            i + 1,
            args.len()
        ))
    })
}

fn str_fn(
    name: &'static str,
    f: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (String, ValueFunc) {
    let func: ValueFunc = Arc::new(move |args: &[Value]| {
        if args.len() != 1 {
            return Err(exec_err(format!(
                "wrong number of args for {name}: want 1 got {}",
                args.len()
            )));
        }
        capped(f(&text_of(&args[0])))
    });
    (name.to_string(), func)
}

fn regex(pattern: &str) -> gotmpl::Result<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| exec_err(format!("bad regular expression {pattern:?}: {e}")))
}

/// Alertmanager's `title` (x/text cases.Title): each word's first letter upper
/// case, the rest lower case.
fn title(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut in_word = false;
    for c in t.chars() {
        if in_word {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        in_word = c.is_alphanumeric() || c == '\'' || c == '_';
    }
    out
}

/// Prometheus's `stripPort`: the host of `host:port` / `[v6]:port`, else the input.
fn strip_port(t: &str) -> String {
    if let Some(rest) = t.strip_prefix('[')
        && let Some((host, port)) = rest.split_once("]:")
        && !port.contains(':')
    {
        return host.to_string();
    }
    match t.split_once(':') {
        Some((host, port)) if !port.contains(':') && !host.contains('[') => host.to_string(),
        _ => t.to_string(),
    }
}

/// Go's `url.QueryUnescape`.
fn url_unescape(t: &str) -> gotmpl::Result<String> {
    let b = t.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = t
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| exec_err(format!("invalid URL escape in {t:?}")))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| exec_err(format!("{t:?} unescapes to invalid UTF-8")))
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(n) => (*n).into(),
        Value::Uint(n) => (*n).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) | Value::Safe { s, .. } => s.to_string().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m
            .iter()
            .filter(|(k, _)| !k.starts_with('#'))
            .map(|(k, v)| (k.to_string(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

pub(super) fn func_map() -> FuncMap {
    let mut m = FuncMap::new();
    let mut add = |name: &str, f: ValueFunc| {
        m.insert(name.to_string(), f);
    };
    add(
        PATH,
        Arc::new(|args: &[Value]| {
            step()?;
            let (Some(path), Some(at), Some(recv)) = (
                args.first().and_then(Value::as_str),
                args.get(1).and_then(Value::as_str),
                args.get(2),
            ) else {
                return Err(exec_err("internal: malformed field access".into()));
            };
            let names: Vec<&str> = path.split('.').collect();
            let mut v = recv.clone();
            for (i, name) in names.iter().enumerate() {
                let a = if i + 1 == names.len() {
                    &args[3..]
                } else {
                    &[]
                };
                v = access(&v, name, a).map_err(|e| match e {
                    TemplateError::Exec(m) => exec_err(format!("{at}: <.{path}>: {m}")),
                    other => other,
                })?;
            }
            Ok(v)
        }),
    );
    add(
        PRINT,
        Arc::new(|args: &[Value]| {
            let v = args.last().cloned().unwrap_or(Value::Nil);
            Ok(match &v {
                Value::List(l) if !l.is_empty() && is_pairs(&v) => s(&format!(
                    "[{}]",
                    l.iter().map(pair_string).collect::<Vec<_>>().join(" ")
                )),
                _ if type_of(&v) == Some("Pair") => s(&pair_string(&v)),
                _ => v,
            })
        }),
    );
    add(
        TICK,
        Arc::new(|_: &[Value]| {
            step()?;
            Ok(Value::Bool(false))
        }),
    );
    add(
        CAP,
        Arc::new(|args: &[Value]| {
            let v = args.last().cloned().unwrap_or(Value::Nil);
            if let Value::String(t) = &v
                && t.len() > MAX_OUTPUT
            {
                return Err(exec_err(format!(
                    "a string of {} bytes is larger than {MAX_OUTPUT}",
                    t.len()
                )));
            }
            Ok(v)
        }),
    );
    add(
        FMT_GUARD,
        Arc::new(|args: &[Value]| {
            let f = args.first().cloned().unwrap_or(Value::Nil);
            if let Value::String(t) = &f {
                check_format(t).map_err(|e| exec_err(format!("printf: {e}")))?;
            }
            Ok(f)
        }),
    );
    add(
        EMAIL_DEFAULT,
        Arc::new(|args: &[Value]| {
            let kind = arg(EMAIL_DEFAULT, args, 0)?.clone();
            match args.get(1).and_then(|d| field_of(d, DEFAULT_KEY)) {
                Some(Value::Function(f)) => f(&[kind]),
                _ => Err(exec_err(
                    "the alerter.email.* templates want the notification data as dot, e.g. {{ template \"alerter.email.subject\" . }}".into(),
                )),
            }
        }),
    );
    for (name, f) in [
        str_fn("toUpper", str::to_uppercase),
        str_fn("toLower", str::to_lowercase),
        str_fn("title", title),
        str_fn("trimSpace", |t| t.trim().to_string()),
        str_fn("stripPort", strip_port),
    ] {
        add(&name, f);
    }
    add(
        "safeHtml",
        Arc::new(|args: &[Value]| {
            Ok(Value::Safe {
                kind: SafeKind::Html,
                s: Arc::from(text_of(arg("safeHtml", args, 0)?)),
            })
        }),
    );
    add(
        "safeUrl",
        Arc::new(|args: &[Value]| {
            Ok(Value::Safe {
                kind: SafeKind::Url,
                s: Arc::from(text_of(arg("safeUrl", args, 0)?)),
            })
        }),
    );
    add(
        "urlUnescape",
        Arc::new(|args: &[Value]| Ok(s(&url_unescape(&text_of(arg("urlUnescape", args, 0)?))?))),
    );
    // join is strings.Join with the arguments swapped, for pipelines.
    add(
        "join",
        Arc::new(|args: &[Value]| {
            let sep = text_of(arg("join", args, 0)?);
            match arg("join", args, 1)? {
                Value::List(l) => capped(l.iter().map(text_of).collect::<Vec<_>>().join(&sep)),
                other => Err(exec_err(format!(
                    "join wants a list of strings, got {}",
                    type_name(other)
                ))),
            }
        }),
    );
    add(
        "match",
        Arc::new(|args: &[Value]| {
            let re = regex(&text_of(arg("match", args, 0)?))?;
            Ok(Value::Bool(re.is_match(&text_of(arg("match", args, 1)?))))
        }),
    );
    add(
        "reReplaceAll",
        Arc::new(|args: &[Value]| {
            let re = regex(&text_of(arg("reReplaceAll", args, 0)?))?;
            let repl = text_of(arg("reReplaceAll", args, 1)?);
            let t = text_of(arg("reReplaceAll", args, 2)?);
            capped(re.replace_all(&t, repl.as_str()).into_owned())
        }),
    );
    add(
        "stringSlice",
        Arc::new(|args: &[Value]| Ok(Value::List(args.iter().map(|a| s(&text_of(a))).collect()))),
    );
    add(
        "list",
        Arc::new(|args: &[Value]| Ok(Value::List(args.iter().cloned().collect()))),
    );
    add(
        "append",
        Arc::new(|args: &[Value]| match arg("append", args, 0)? {
            Value::List(l) => Ok(Value::List(
                l.iter().chain(args[1..].iter()).cloned().collect(),
            )),
            other => Err(exec_err(format!(
                "append wants a list first, got {}",
                type_name(other)
            ))),
        }),
    );
    add(
        "dict",
        Arc::new(|args: &[Value]| {
            if !args.len().is_multiple_of(2) {
                return Err(exec_err("dict requires an even number of arguments".into()));
            }
            let mut m = BTreeMap::new();
            for kv in args.chunks(2) {
                let Value::String(k) = &kv[0] else {
                    return Err(exec_err("dict keys must be strings".into()));
                };
                m.insert(k.clone(), kv[1].clone());
            }
            Ok(Value::Map(Arc::new(m)))
        }),
    );
    add(
        "date",
        Arc::new(|args: &[Value]| {
            let layout = text_of(arg("date", args, 0)?);
            let t = text_of(arg("date", args, 1)?);
            let t =
                parse_go_time(&t).ok_or_else(|| exec_err(format!("date: {t:?} is not a time")))?;
            Ok(s(&go_format(&t, &layout)))
        }),
    );
    add(
        "toJson",
        Arc::new(|args: &[Value]| capped(to_json(arg("toJson", args, 0)?).to_string())),
    );
    // Go's index on a map[string]string yields "" for a missing key.
    add(
        "index",
        Arc::new(|args: &[Value]| {
            let mut v = arg("index", args, 0)?.clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Value::Map(m), Value::String(key)) => match m.get(&**key) {
                        Some(x) => x.clone(),
                        None if is_kv(&v) => s(""),
                        None => {
                            return Err(exec_err(format!(
                                "can't index item of type {}",
                                type_name(&v)
                            )));
                        }
                    },
                    (Value::List(l), _) => {
                        let i = k.as_int().ok_or_else(|| {
                            exec_err(format!("cannot index list with {}", type_name(k)))
                        })?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| l.get(i))
                            .cloned()
                            .ok_or_else(|| exec_err(format!("index out of range: {i}")))?
                    }
                    (Value::String(t), _) => {
                        let i = k.as_int().ok_or_else(|| {
                            exec_err(format!("cannot index string with {}", type_name(k)))
                        })?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| t.as_bytes().get(i))
                            .map(|b| Value::Int(i64::from(*b)))
                            .ok_or_else(|| exec_err(format!("index out of range: {i}")))?
                    }
                    (Value::Nil, _) => return Err(exec_err("index of untyped nil".into())),
                    (other, _) => {
                        return Err(exec_err(format!(
                            "can't index item of type {}",
                            type_name(other)
                        )));
                    }
                };
            }
            Ok(v)
        }),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn string_functions() {
        assert_eq!(
            text(r#"{{ "warn" | toUpper }} {{ toLower "ABC" }}"#),
            "WARN abc"
        );
        assert_eq!(
            text(r#"{{ title "hello wORLD foo-bar" }}"#),
            "Hello World Foo-Bar"
        );
        assert_eq!(text(r#"[{{ trimSpace "  x \n" }}]"#), "[x]");
        assert_eq!(
            text(
                r#"{{ stripPort "web1:9100" }} {{ stripPort "[::1]:80" }} {{ stripPort "host" }} {{ stripPort "::1" }}"#
            ),
            "web1 ::1 host ::1"
        );
        assert_eq!(
            text(r#"{{ reReplaceAll "(.*):(\\d+)" "$1 port $2" "web1:9100" }}"#),
            "web1 port 9100"
        );
        assert_eq!(
            text(r#"{{ if match "^web" (index .Alerts 0).Labels.instance }}yes{{ end }}"#),
            "yes"
        );
        assert_eq!(
            text(r#"{{ join "+" (stringSlice "a" "b") }} {{ urlUnescape "a%20b+c" }}"#),
            "a+b a b c"
        );
        assert_eq!(
            text(r#"{{ toJson .GroupLabels }}"#),
            r#"{"alertname":"HostHighCpuUsage","severity":"warning"}"#
        );
        assert_eq!(
            text(r#"{{ (dict "a" "1").a }} {{ len (list 1 2 3) }} {{ len (append (list 1) 2) }}"#),
            "1 3 2"
        );
        let e = text_err(r#"{{ reReplaceAll "(" "" "x" }}"#);
        assert!(e.contains("bad regular expression"), "{e}");
    }
}
