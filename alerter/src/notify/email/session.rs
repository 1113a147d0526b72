//! The SMTP session, step by step, every step with a deadline: DNS, connect (or
//! implicit TLS), greeting and EHLO, STARTTLS, AUTH with each configured
//! mechanism in turn, then MAIL, RCPT and DATA. Reports each step to a log
//! callback (the `alerter test` transcript) and never the password.

use std::net::SocketAddr;

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use std::sync::Arc;

use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::config::{ResolvedEmail, Security};
use super::diagnosis::{classify, full_chain};
use super::err;
use super::stage::Stage;
use crate::notify::pinned::PinnedVerifier;
use crate::notify::{NotifyError, Reason};

/// How far to go: the start-up/reload check stops after EHLO (and STARTTLS, AUTH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    ConnectOnly,
    Send,
}

async fn step<T>(
    stage: Stage,
    cfg: &ResolvedEmail,
    fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, NotifyError> {
    step_within(stage, cfg, cfg.step_timeout, fut).await
}

/// [`step`] with its own deadline: the opening step holds the TCP connect (which
/// lettre bounds by `step_timeout` itself) and then TLS, greeting and EHLO.
async fn step_within<T>(
    stage: Stage,
    cfg: &ResolvedEmail,
    limit: std::time::Duration,
    fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, NotifyError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(stage, &e, cfg)),
        Err(_) => Err(err(
            true,
            if stage.is_opening() {
                Reason::GreetingTimeout
            } else {
                Reason::Timeout
            },
            format!(
                "{stage} with {}:{}: no reply within {:?}{}",
                cfg.host,
                cfg.port,
                limit,
                if stage.is_opening() {
                    " (the TCP connection was accepted, but no TLS handshake / greeting / EHLO reply followed)"
                } else {
                    ""
                }
            ),
        )),
    }
}

/// One command of the mail transaction; a failure ends the session (lettre's
/// `abort`: a best-effort QUIT, then close), as every failed step after AUTH does.
async fn command<C: std::fmt::Display>(
    conn: &mut AsyncSmtpConnection,
    stage: Stage,
    cfg: &ResolvedEmail,
    cmd: C,
) -> Result<Response, NotifyError> {
    let r = step(stage, cfg, conn.command(cmd)).await;
    if r.is_err() {
        abort(conn, cfg).await;
    }
    r
}

/// Ends a failed session: lettre's `abort` (QUIT, then close) within one step. A
/// server that stopped answering would otherwise hold the session, its send
/// slot and the error until the flush deadline, on a QUIT nobody answers.
async fn abort(conn: &mut AsyncSmtpConnection, cfg: &ResolvedEmail) {
    let _ = tokio::time::timeout(cfg.step_timeout, conn.abort()).await;
}

fn tls_params(cfg: &ResolvedEmail) -> Result<TlsParameters, NotifyError> {
    let mut b = TlsParameters::builder(cfg.tls_server_name.clone());
    // A given CA is checked by `check_pinned` once the handshake is done (lettre
    // takes no custom verifier); lettre still checks the handshake's signatures.
    if cfg.insecure_skip_verify || cfg.ca_pem.is_some() {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    b.build().map_err(|e| {
        err(
            false,
            Reason::TlsConfig,
            format!("tls_config: {}", full_chain(&e)),
        )
    })
}

/// The server's certificate against `tls_config.ca`, before anything but EHLO
/// went over the encrypted connection: a byte-equal pinned certificate or a chain
/// to one of them, for `tls_server_name`, within its dates.
async fn check_pinned(
    conn: &mut AsyncSmtpConnection,
    cfg: &ResolvedEmail,
) -> Result<(), NotifyError> {
    let Some(pem) = cfg.ca_pem.as_deref().filter(|_| !cfg.insecure_skip_verify) else {
        return Ok(());
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedVerifier::from_pem(pem, provider)
        .map_err(|e| err(false, Reason::TlsConfig, format!("tls_config: {e}")))?;
    let checked = conn
        .certificate_chain()
        .map_err(|e| rustls::Error::General(full_chain(&e)))
        .and_then(|chain| verifier.check_chain(&chain, &cfg.tls_server_name));
    if let Err(e) = checked {
        abort(conn, cfg).await;
        return Err(err(
            true,
            Reason::TlsHandshake,
            format!(
                "the server's certificate is not trusted for {}: {e}",
                cfg.tls_server_name
            ),
        ));
    }
    Ok(())
}

fn reply(r: &Response) -> String {
    let lines: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), lines.join(" / "))
}

/// TCP connect (+ TLS for implicit TLS), greeting, EHLO, STARTTLS.
async fn open(
    cfg: &ResolvedEmail,
    addr: SocketAddr,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<AsyncSmtpConnection, NotifyError> {
    // TCP connect (+ TLS for implicit TLS) + greeting + EHLO
    let hello = ClientId::Domain(cfg.hello.clone());
    let implicit = if cfg.security == Security::ImplicitTls {
        Some(tls_params(cfg)?)
    } else {
        None
    };
    let stage = if implicit.is_some() {
        Stage::TlsHandshake
    } else {
        Stage::Connect
    };
    log(format!(
        "CONNECT  {addr} ({})",
        match cfg.security {
            Security::ImplicitTls => "implicit TLS from the first byte",
            Security::StartTlsRequired => "STARTTLS required",
            Security::StartTlsOpportunistic => "STARTTLS if offered, plain allowed",
        }
    ));
    let connect =
        AsyncSmtpConnection::connect_tokio1(addr, Some(cfg.step_timeout), &hello, implicit, None);
    // Twice the step: lettre's own connect timeout (one step) must be the one to
    // fire when nobody answers the SYN, so a dropped connection is reported as
    // connect_timeout (with the port 25/465 hint), never as a silent server. With
    // equal deadlines the outer one won about one time in ten.
    let mut conn = step_within(stage, cfg, cfg.step_timeout * 2, connect).await?;
    if cfg.security == Security::ImplicitTls {
        check_pinned(&mut conn, cfg).await?;
        log(format!(
            "TLS      handshake ok, certificate verified for {}",
            cfg.tls_server_name
        ));
    }
    log(format!("EHLO     {}", conn.server_info()));

    // STARTTLS
    if cfg.security != Security::ImplicitTls {
        if conn.can_starttls() {
            let p = tls_params(cfg)?;
            step(Stage::StartTls, cfg, conn.starttls(p, &hello)).await?;
            check_pinned(&mut conn, cfg).await?;
            log(format!(
                "STARTTLS ok, certificate verified for {}; EHLO again: {}",
                cfg.tls_server_name,
                conn.server_info()
            ));
        } else if cfg.security == Security::StartTlsRequired {
            abort(&mut conn, cfg).await;
            return Err(err(
                false,
                Reason::TlsRequired,
                format!(
                    "{}:{} does not offer STARTTLS and require_tls is true (use port 465 for implicit TLS, or set require_tls: false only for a trusted local relay)",
                    cfg.host, cfg.port
                ),
            ));
        } else {
            log("STARTTLS not offered; continuing in plain text (require_tls: false)".into());
        }
    }

    Ok(conn)
}

/// Connects to the first address that answers, as SMTP clients do with a host that
/// resolves to several (IPv6 and IPv4, or several MX-style A records).
async fn open_any(
    cfg: &ResolvedEmail,
    addrs: &[SocketAddr],
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(AsyncSmtpConnection, SocketAddr), NotifyError> {
    let mut last = None;
    for (i, addr) in addrs.iter().copied().enumerate() {
        match open(cfg, addr, log).await {
            Ok(c) => return Ok((c, addr)),
            Err(e)
                if i + 1 < addrs.len()
                    && matches!(e.reason, Reason::ConnectionRefused | Reason::ConnectTimeout) =>
            {
                log(format!(
                    "CONNECT  {addr}: {}; trying the next address",
                    e.message
                ));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        err(
            true,
            Reason::Dns,
            format!("DNS lookup of {}: no addresses", cfg.host),
        )
    }))
}

/// Runs the SMTP dialogue, reporting each step to `log` (the `alerter test`
/// transcript, or nothing). Never logs the password.
pub async fn dialogue(
    cfg: &ResolvedEmail,
    msg: Option<&lettre::Message>,
    mode: Mode,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(), NotifyError> {
    // DNS
    let target = format!("{}:{}", cfg.host, cfg.port);
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(cfg.step_timeout, tokio::net::lookup_host(target.clone())).await
        {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => {
                return Err(err(
                    true,
                    Reason::Dns,
                    format!("DNS lookup of {}: {e}", cfg.host),
                ));
            }
            Err(_) => {
                return Err(err(
                    true,
                    Reason::Dns,
                    format!("DNS lookup of {} timed out", cfg.host),
                ));
            }
        };
    if addrs.is_empty() {
        return Err(err(
            true,
            Reason::Dns,
            format!("DNS lookup of {}: no addresses", cfg.host),
        ));
    }
    log(format!(
        "DNS      {} -> {}",
        cfg.host,
        addrs
            .iter()
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let (mut conn, addr) = open_any(cfg, &addrs, log).await?;
    // AUTH: each configured mechanism the server offers, in order; a 535 falls
    // through to the next on a fresh connection (lettre closes it after a 5xx).
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        let creds = Credentials::new(user.clone(), pass.expose().to_string());
        let offered: Vec<Mechanism> = cfg
            .mechanisms
            .iter()
            .copied()
            .filter(|m| conn.server_info().supports_auth_mechanism(*m))
            .collect();
        if offered.is_empty() {
            abort(&mut conn, cfg).await;
            return Err(err(
                false,
                Reason::AuthUnsupported,
                format!(
                    "{}:{} offers none of auth_mechanisms {:?} (server: {})",
                    cfg.host,
                    cfg.port,
                    cfg.mechanisms
                        .iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>(),
                    conn.server_info()
                ),
            ));
        }
        let mut last = None;
        for (i, m) in offered.iter().copied().enumerate() {
            if i > 0 {
                conn = open(cfg, addr, log).await?;
            }
            match step(Stage::Auth, cfg, conn.auth(&[m], &creds)).await {
                Ok(r) => {
                    log(format!("AUTH     {m} as {user}: {}", reply(&r)));
                    last = None;
                    break;
                }
                Err(e) => {
                    log(format!("AUTH     {m} as {user}: {}", e.message));
                    let fall_through = matches!(e.reason, Reason::AuthRejected);
                    last = Some((m, e));
                    if !fall_through {
                        break;
                    }
                }
            }
        }
        if let Some((m, mut e)) = last {
            abort(&mut conn, cfg).await;
            if matches!(e.reason, Reason::AuthRejected) {
                e.message = format!(
                    "{} (rejected after trying {:?} in order; not retried: fix the username/password or auth_mechanisms; last tried {m})",
                    e.message,
                    offered.iter().map(|m| m.to_string()).collect::<Vec<_>>()
                );
            }
            return Err(e);
        }
    }

    if mode == Mode::ConnectOnly {
        let _ = step(Stage::Quit, cfg, conn.quit()).await;
        return Ok(());
    }
    let Some(msg) = msg else {
        return Ok(());
    };
    let env = msg.envelope();
    let r = command(
        &mut conn,
        Stage::MailFrom,
        cfg,
        Mail::new(env.from().cloned(), vec![]),
    )
    .await?;
    log(format!(
        "MAIL     FROM:<{}>: {}",
        fmt_addr(env.from()),
        reply(&r)
    ));
    for rcpt in env.to() {
        let r = command(
            &mut conn,
            Stage::RcptTo,
            cfg,
            Rcpt::new(rcpt.clone(), vec![]),
        )
        .await?;
        log(format!("RCPT     TO:<{rcpt}>: {}", reply(&r)));
    }
    command(
        &mut conn,
        Stage::Data,
        cfg,
        lettre::transport::smtp::commands::Data,
    )
    .await?;
    let bytes = msg.formatted();
    match step(Stage::Data, cfg, conn.message(&bytes)).await {
        Ok(r) => log(format!("DATA     {} bytes: {}", bytes.len(), reply(&r))),
        Err(e) => {
            abort(&mut conn, cfg).await;
            return Err(e);
        }
    }
    let _ = step(Stage::Quit, cfg, conn.quit()).await;
    Ok(())
}

fn fmt_addr(a: Option<&Address>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}
