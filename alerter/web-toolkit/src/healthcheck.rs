//! Both binaries' `healthcheck` subcommand: the container image's HEALTHCHECK (a `FROM
//! scratch` image has no shell or curl). Asks the running daemon's `/-/healthy` on
//! loopback, speaking the daemon's `--web.config.file`: HTTPS when it serves TLS.

use std::path::Path;
use std::time::Duration;

use crate::WebConfig;

/// `host:port` to ask for a listen address as the daemons take it: an unspecified host
/// (`:9093`, `0.0.0.0:9093`, `[::]:9093`) becomes loopback.
pub fn loopback(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix(':') {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_string()
    }
}

/// GET `/-/healthy` under `prefix` within 3 s; Ok when it answers 2xx. With TLS in the
/// web config the request is HTTPS and the certificate is not checked: it is our own
/// server on loopback and nothing secret is sent. With basic auth on (the hashes in the
/// file cannot give a password), a 401 from the auth layer proves the server answers.
pub fn check(listen: &str, prefix: &str, web_config: Option<&Path>) -> Result<(), String> {
    let web = match web_config {
        Some(p) => Some(WebConfig::load(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let tls = web.as_ref().is_some_and(|w| w.tls.is_some());
    let auth = web.as_ref().is_some_and(|w| !w.users.is_empty());
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{}{prefix}/-/healthy", loopback(listen));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the async runtime: {e}"))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(tls)
            .build()
            .map_err(|e| format!("{url}: {e}"))?;
        let resp = client
            .get(&url)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        if status.is_success() || (auth && status == reqwest::StatusCode::UNAUTHORIZED) {
            Ok(())
        } else {
            Err(format!("{url}: HTTP {status}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_hosts_are_asked_on_loopback() {
        assert_eq!(loopback(":9093"), "127.0.0.1:9093");
        assert_eq!(loopback("0.0.0.0:9100"), "127.0.0.1:9100");
        assert_eq!(loopback("[::]:9100"), "[::1]:9100");
        assert_eq!(loopback("10.0.0.5:9093"), "10.0.0.5:9093");
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = check(&format!("127.0.0.1:{port}"), "", None).unwrap_err();
        assert!(
            e.contains(&format!("http://127.0.0.1:{port}/-/healthy")),
            "{e}"
        );
    }
}
