//! `exporter healthcheck`: the container image's HEALTHCHECK (a `FROM scratch` image has no
//! shell or curl). Asks the running exporter's `/-/healthy` on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The address to ask: the listen address, with an unspecified host (`:9100`, `0.0.0.0`,
/// `[::]`) replaced by loopback.
pub fn target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, listen.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, listen.port()).into(),
        _ => listen,
    }
}

/// GET `http://{target}/-/healthy` within 3 s; Ok when it answers 2xx.
pub fn check(listen: SocketAddr) -> Result<(), String> {
    let url = format!("http://{}/-/healthy", target(listen));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the async runtime: {e}"))?;
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .get(&url)
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
    fn unspecified_hosts_become_loopback() {
        let t = |s: &str| target(s.parse().unwrap()).to_string();
        assert_eq!(t("0.0.0.0:9100"), "127.0.0.1:9100");
        assert_eq!(t("[::]:9100"), "[::1]:9100");
        assert_eq!(t("10.1.2.3:9100"), "10.1.2.3:9100");
    }
}
