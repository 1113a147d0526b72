//! Remote mode: `remote_query` names a Prometheus-compatible `/api/v1/query` endpoint
//! (Prometheus, VictoriaMetrics, Thanos, Mimir) and each rule's expression is sent
//! there as an instant query at the evaluation time, as vmalert and Thanos Ruler do.
//!
//! Decides the request (POST form with `query`, `time`, `timeout`), which failures are
//! worth the one retry (the network, a timeout, 429 and 5xx; not a query the engine
//! refused), and how the engine's JSON answer becomes samples. Authentication and TLS
//! are the alerter's `http_config` client; header values are typed secrets.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use config_values::{Duration as ConfigDuration, Secret};
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::scrape::{MAX_BODY_BYTES, fmt_d};
use crate::notify::http::{Authorization, BasicAuth, HttpClient, HttpConfig, TlsConfig};
use crate::promql::{Labels, Sample, parse_float};

/// The default per-attempt timeout of a remote query.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers the client sets itself, or that carry credentials (use `basic_auth` or
/// `authorization`, which read their secret from a file).
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "connection",
    "proxy-authorization",
];

/// `remote_query:` as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteQueryConfig {
    /// The engine's instant-query endpoint, ending in `/api/v1/query`.
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Sent with every query (a tenant id, say); values are redacted in the status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
}

impl RemoteQueryConfig {
    fn http(&self) -> HttpConfig {
        HttpConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            tls_config: self.tls_config.clone(),
            ..HttpConfig::default()
        }
    }

    /// Inline credentials, to be moved to their `_file` form (load warnings).
    pub fn inline_secrets(&self) -> Vec<String> {
        self.http()
            .inline_secrets()
            .into_iter()
            .map(|k| {
                format!(
                    "remote_query.{k} is inline in the config file; move it to its _file form so it stays out of git"
                )
            })
            .collect()
    }
}

/// A compiled `remote_query`.
#[derive(Clone, Debug)]
pub struct Remote {
    pub url: String,
    pub timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: HttpClient,
}

/// Checks and builds `remote_query`; every problem at once, each with its key path.
pub fn compile(c: &RemoteQueryConfig, base_dir: &Path) -> Result<Remote, Vec<String>> {
    let mut errs = Vec::new();
    match url::Url::parse(&c.url) {
        _ if c.url.is_empty() => errs.push("remote_query.url: missing".to_string()),
        Ok(u) if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() => {
            errs.push(format!(
                "remote_query.url: {:?}: expected an http or https URL with a host",
                c.url
            ));
        }
        Ok(u) if !u.path().ends_with("/api/v1/query") => errs.push(format!(
            "remote_query.url: {:?}: must be the engine's instant-query endpoint, ending in /api/v1/query",
            c.url
        )),
        Ok(_) => {}
        Err(e) => errs.push(format!("remote_query.url: {:?}: {e}", c.url)),
    }
    let timeout = c.timeout.map_or(DEFAULT_TIMEOUT, ConfigDuration::as_std);
    if timeout.is_zero() {
        errs.push("remote_query.timeout: must be positive".into());
    }
    let mut headers = Vec::new();
    for (name, value) in &c.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            errs.push(format!(
                "remote_query.headers.{name}: set by the alerter (credentials go in basic_auth or authorization, read from a file)"
            ));
            continue;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.expose()),
        ) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                headers.push((n, v));
            }
            (Err(_), _) => errs.push(format!(
                "remote_query.headers.{name}: not a valid header name"
            )),
            (_, Err(_)) => errs.push(format!(
                "remote_query.headers.{name}: the value has characters a header cannot carry"
            )),
        }
    }
    let http = c.http();
    let problems = http.check();
    errs.extend(problems.iter().map(|e| format!("remote_query: {e}")));
    let client = if problems.is_empty() {
        http.build(base_dir)
            .map_err(|e| errs.push(format!("remote_query: {e}")))
            .ok()
    } else {
        None
    };
    match client {
        Some(client) if errs.is_empty() => Ok(Remote {
            url: c.url.clone(),
            timeout,
            headers,
            client,
        }),
        _ => Err(errs),
    }
}

/// Why one attempt failed, and whether the retry may help.
#[derive(Debug, PartialEq)]
pub struct QueryError {
    pub retryable: bool,
    pub message: String,
}

fn retryable(message: String) -> QueryError {
    QueryError {
        retryable: true,
        message,
    }
}

fn permanent(message: String) -> QueryError {
    QueryError {
        retryable: false,
        message,
    }
}

/// An error with its causes (reqwest's own message hides "connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

impl Remote {
    /// `expr` at `t_ms`, with one retry of a failure the engine may not repeat.
    pub async fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<Sample>, String> {
        match self.attempt(expr, t_ms).await {
            Ok(v) => Ok(v),
            Err(e) if e.retryable => self
                .attempt(expr, t_ms)
                .await
                .map_err(|e| format!("remote query: {} (after one retry)", e.message)),
            Err(e) => Err(format!("remote query: {}", e.message)),
        }
    }

    async fn attempt(&self, expr: &str, t_ms: i64) -> Result<Vec<Sample>, QueryError> {
        match tokio::time::timeout(self.timeout, self.send(expr, t_ms)).await {
            Ok(r) => r,
            Err(_) => Err(retryable(format!(
                "{} did not answer within the timeout {}",
                self.url,
                fmt_d(self.timeout)
            ))),
        }
    }

    async fn send(&self, expr: &str, t_ms: i64) -> Result<Vec<Sample>, QueryError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", expr)
            .append_pair("time", &format_time(t_ms))
            .append_pair("timeout", &format!("{}s", self.timeout.as_secs_f64()))
            .finish();
        let mut req = self
            .client
            .request(reqwest::Method::POST, &self.url)
            .await
            .map_err(|e| retryable(e.message))?
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        let mut resp = req.send().await.map_err(|e| retryable(chain(&e)))?;
        let status = resp.status().as_u16();
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| retryable(chain(&e)))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(permanent(format!(
                    "answer larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        parse_response(status, &body)
    }
}

/// Seconds with millisecond precision, as the query API takes `time`.
fn format_time(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: Labels,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    histogram: Option<serde_json::Value>,
}

/// The query API's answer (`/api/v1/query`'s JSON) as samples: a vector, or a scalar
/// as one sample without labels (what a rule makes of either).
pub fn parse_response(status: u16, body: &[u8]) -> Result<Vec<Sample>, QueryError> {
    // 5xx and 429: the engine is unwell or overloaded; 4xx: it refused the query.
    let fail = |m: String| {
        if status >= 500 || status == 429 {
            retryable(m)
        } else {
            permanent(m)
        }
    };
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(fail(format!(
                "HTTP {status}, not a query API answer ({e}): {text:?}"
            )));
        }
    };
    if answer.status != "success" {
        return Err(fail(format!(
            "HTTP {status}: {}: {}",
            answer.error_type, answer.error
        )));
    }
    if !(200..300).contains(&status) {
        return Err(fail(format!("HTTP {status}")));
    }
    let Some(data) = answer.data else {
        return Err(permanent("answer has no data".into()));
    };
    let value = |v: &str| parse_float(v).map_err(|e| permanent(format!("answer: {e}")));
    match data.result_type.as_str() {
        "vector" => {
            let items: Vec<VectorItem> = serde_json::from_value(data.result)
                .map_err(|e| permanent(format!("answer: bad vector: {e}")))?;
            items
                .into_iter()
                .map(|i| match (i.value, i.histogram) {
                    (Some((_, v)), _) => Ok(Sample {
                        labels: i.metric,
                        value: value(&v)?,
                        drop_name: false,
                    }),
                    (None, Some(_)) => Err(permanent(
                        "answer: native histogram samples are not supported".into(),
                    )),
                    (None, None) => Err(permanent("answer: a sample without a value".into())),
                })
                .collect()
        }
        "scalar" => {
            let (_, v): (f64, String) = serde_json::from_value(data.result)
                .map_err(|e| permanent(format!("answer: bad scalar: {e}")))?;
            Ok(vec![Sample {
                labels: Labels::new(),
                value: value(&v)?,
                drop_name: false,
            }])
        }
        other => Err(permanent(format!(
            "rule result is not a vector or scalar (the engine answered a {other})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(y: &str) -> RemoteQueryConfig {
        serde_yaml::from_str(y).unwrap()
    }

    #[test]
    fn vectors_and_scalars_become_samples() {
        let v = parse_response(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"node","instance":"a:1"},"value":[1700000000.5,"0"]},{"metric":{},"value":[1700000000.5,"+Inf"]}]}}"#,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels["job"], "node");
        assert_eq!(v[0].value, 0.0);
        assert!(v[1].labels.is_empty() && v[1].value.is_infinite());
        let s = parse_response(
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}"#,
        )
        .unwrap();
        assert!(s.len() == 1 && s[0].value.is_nan());
        let empty = parse_response(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        )
        .unwrap();
        assert!(empty.is_empty());
    }

    /// Which failures get the one retry: not a query the engine refused.
    #[test]
    fn failures_named_and_classed() {
        let cases: &[(u16, &[u8], bool, &str)] = &[
            (
                400,
                br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
                false,
                "HTTP 400: bad_data: parse error",
            ),
            (
                422,
                br#"{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}"#,
                false,
                "execution: many-to-many",
            ),
            (
                503,
                br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#,
                true,
                "HTTP 503: timeout",
            ),
            (502, b"<html>Bad Gateway</html>", true, "HTTP 502, not a query API answer"),
            (200, b"garbage", false, "not a query API answer"),
            (
                200,
                br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                false,
                "not a vector or scalar",
            ),
            (
                200,
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#,
                false,
                "native histogram",
            ),
            (
                200,
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
                false,
                "invalid number",
            ),
        ];
        for (status, body, retry, want) in cases {
            let e = parse_response(*status, body).unwrap_err();
            assert_eq!(e.retryable, *retry, "{status} {}", e.message);
            assert!(e.message.contains(want), "{want:?} not in {:?}", e.message);
        }
    }

    #[test]
    fn time_as_seconds_with_millis() {
        assert_eq!(format_time(1_700_000_000_123), "1700000000.123");
        assert_eq!(format_time(5), "0.005");
    }

    #[test]
    fn config_problems_named_by_key() {
        let base = Path::new(".");
        let ok = compile(
            &cfg("url: http://127.0.0.1:9090/api/v1/query\ntimeout: 2s\nheaders: {X-Scope-OrgID: team-a}\nbasic_auth: {username: u, password_file: pw}\n"),
            base,
        )
        .unwrap();
        assert_eq!(ok.timeout, Duration::from_secs(2));
        assert_eq!(
            compile(
                &cfg("url: https://vm:8481/select/0/prometheus/api/v1/query\n"),
                base
            )
            .unwrap()
            .timeout,
            DEFAULT_TIMEOUT
        );
        let e = compile(
            &cfg("url: http://127.0.0.1:9090/\ntimeout: 0s\nheaders: {Authorization: x, 'bad name': y}\nbasic_auth: {password: a, password_file: b}\n"),
            base,
        )
        .unwrap_err()
        .join("\n");
        for want in [
            "remote_query.url: \"http://127.0.0.1:9090/\": must be the engine's instant-query endpoint",
            "remote_query.timeout: must be positive",
            "remote_query.headers.Authorization: set by the alerter",
            "remote_query.headers.bad name: not a valid header name",
            "remote_query: at most one of basic_auth password & password_file",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = compile(&cfg("timeout: 1s\n"), base).unwrap_err().join("\n");
        assert!(e.contains("remote_query.url: missing"), "{e}");
        let e = compile(&cfg("url: ftp://h/api/v1/query\n"), base)
            .unwrap_err()
            .join("\n");
        assert!(e.contains("expected an http or https URL"), "{e}");
        let e = serde_yaml::from_str::<RemoteQueryConfig>("url: x\nbearer_token: t\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bearer_token"), "{e}");
    }

    /// Header values and credentials never show when the config is printed.
    #[test]
    fn secrets_redacted_when_serialised() {
        let c = cfg(
            "url: http://h/api/v1/query\nheaders: {X-Api-Key: hunter2}\nauthorization: {credentials: hunter3}\n",
        );
        let y = serde_yaml::to_string(&c).unwrap();
        assert!(!y.contains("hunter"), "{y}");
        assert!(y.contains("X-Api-Key"), "{y}");
        assert_eq!(c.inline_secrets().len(), 1);
    }
}
