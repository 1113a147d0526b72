//! `alerter healthcheck`: the container image's HEALTHCHECK (a `FROM scratch` image has no
//! shell or curl). Asks the running alerter's `/-/healthy` on loopback.

use std::time::Duration;

/// `http://…/-/healthy` for a listen address as the daemon takes it (`:9093`,
/// `0.0.0.0:9093`, `[::]:9093` are asked on loopback) under the route prefix.
pub fn url(listen: &str, prefix: &str) -> String {
    let host_port = if let Some(port) = listen.strip_prefix(':') {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_string()
    };
    format!("http://{host_port}{prefix}/-/healthy")
}

/// GET `url` within 3 s; Ok when it answers 2xx.
pub fn check(url: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the async runtime: {e}"))?;
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url}: HTTP {}", resp.status()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_asked_on_loopback_under_the_prefix() {
        assert_eq!(url(":9093", ""), "http://127.0.0.1:9093/-/healthy");
        assert_eq!(
            url("0.0.0.0:9093", "/am"),
            "http://127.0.0.1:9093/am/-/healthy"
        );
        assert_eq!(url("[::]:9093", ""), "http://[::1]:9093/-/healthy");
        assert_eq!(url("10.0.0.5:9093", ""), "http://10.0.0.5:9093/-/healthy");
    }
}
