//! What went wrong, in two forms: [`classify`] turns a failed SMTP step into a
//! [`Reason`] (the metric label, and whether to retry), and [`diagnose`] turns a
//! reason into one line of plain words about the likely cause (the log, the
//! self-monitoring alarm and `alerter test` print it).

use lettre::transport::smtp::authentication::Mechanism;

use super::config::{ResolvedEmail, Security};
use super::err;
use super::stage::Stage;
use crate::notify::{NotifyError, Reason};

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = c.source();
    }
    None
}

pub(super) fn full_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        // Many errors already print their cause ("Connection error: …"): each cause
        // is shown once.
        let text = c.to_string();
        if !text.is_empty() && !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// Classifies a lettre error seen at `stage` into a reason.
pub(super) fn classify(
    stage: Stage,
    e: &lettre::transport::smtp::Error,
    cfg: &ResolvedEmail,
) -> NotifyError {
    let msg = format!("{stage} with {}:{}: {}", cfg.host, cfg.port, full_chain(e));
    if e.is_timeout() {
        return err(true, Reason::ConnectTimeout, msg);
    }
    if e.is_tls() {
        return err(true, Reason::TlsHandshake, msg);
    }
    match io_kind(e) {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            return err(true, Reason::ConnectionRefused, msg);
        }
        Some(std::io::ErrorKind::TimedOut) => return err(true, Reason::ConnectTimeout, msg),
        _ => {}
    }
    let code = e.status().map(|c| c.to_string());
    if e.is_permanent() {
        let reason = match stage {
            Stage::Auth => Reason::AuthRejected,
            Stage::MailFrom => Reason::SenderRejected,
            Stage::RcptTo => Reason::RecipientRejected,
            Stage::Data => Reason::MessageRejected,
            _ if code.as_deref() == Some("530") => Reason::TlsRequired,
            _ => Reason::SmtpPermanent,
        };
        return err(false, reason, msg);
    }
    if e.is_transient() {
        return err(true, Reason::SmtpTransient, msg);
    }
    if stage.is_opening() {
        // A TLS failure on the first bytes shows up as a protocol/IO error.
        if matches!(cfg.security, Security::ImplicitTls) {
            return err(true, Reason::TlsHandshake, msg);
        }
        return err(true, Reason::ConnectFailed, msg);
    }
    err(true, Reason::Protocol, msg)
}

/// One line in plain words: the likely cause of a failure.
pub fn diagnose(e: &NotifyError, cfg: &ResolvedEmail) -> String {
    match e.reason {
        Reason::ConnectTimeout if matches!(cfg.port, 25 | 465) => format!(
            "connecting to port {} timed out: many hosting providers block outbound ports 25 and 465 by default; ask yours to lift the block, or try port 587 with STARTTLS",
            cfg.port
        ),
        Reason::ConnectTimeout => "connecting timed out: a firewall drops the traffic, or the host/port is wrong".into(),
        Reason::GreetingTimeout => "the server accepted the TCP connection but never greeted: wrong port for this protocol (implicit TLS on 465 vs STARTTLS on 587?) or an overloaded server".into(),
        Reason::ConnectionRefused => "nothing listens on that host:port: check smarthost".into(),
        Reason::Dns => "the smarthost name does not resolve: check the spelling and the host's DNS".into(),
        Reason::TlsHandshake => "TLS handshake failed: the server's certificate is not trusted for that name (tls_config.ca_file / server_name), or the port expects no TLS (587 wants STARTTLS, 465 implicit TLS)".into(),
        Reason::TlsRequired => "the server will not do TLS on this port: use port 465 (implicit TLS) or 587 (STARTTLS); set require_tls: false only for a trusted local relay".into(),
        // Name a mechanism only when it is certain it was the one tried: with several
        // configured, lettre takes the first the server offers, which we do not see.
        Reason::AuthRejected if cfg.mechanisms == [Mechanism::Plain] => "the server rejected the credentials (535) after PLAIN: check the password; if it is right, try `auth_mechanisms: [LOGIN]`".into(),
        Reason::AuthRejected if cfg.mechanisms.first() == Some(&Mechanism::Plain) && cfg.mechanisms.len() > 1 => "the server rejected the credentials (535): check the password; if it is right, try `auth_mechanisms: [LOGIN]` (PLAIN is tried first when the server offers it)".into(),
        Reason::AuthRejected => "the server rejected the credentials: check auth_username and the password source".into(),
        Reason::AuthUnsupported => "the server offers none of the configured auth_mechanisms: set auth_mechanisms to one it lists in EHLO".into(),
        Reason::SenderRejected => "the server refused the From address: many providers only accept the authenticated account's own address".into(),
        Reason::RecipientRejected => "the server refused a recipient: check `to`, or whether the server relays for that domain".into(),
        Reason::Timeout => "the server stopped answering in the middle of the dialogue".into(),
        _ => "see the message above".into(),
    }
}

#[cfg(test)]
mod issue20_tests {
    use super::full_chain;

    #[derive(Debug)]
    struct Wrap(String, Option<Box<Wrap>>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|w| w as _)
        }
    }

    /// Issue 20, defect 3: a chain whose links repeat their cause shows each once.
    #[test]
    fn defect_03_error_chain_shows_each_cause_once() {
        let inner = Wrap("Connection refused (os error 111)".into(), None);
        let mid = Wrap(
            "Connection error: Connection refused (os error 111)".into(),
            Some(Box::new(inner)),
        );
        // lettre prints its source in its own text; the chain used to repeat it.
        assert_eq!(
            full_chain(&mid),
            "Connection error: Connection refused (os error 111)"
        );
        let a = Wrap(
            "permanent error (535)".into(),
            Some(Box::new(Wrap("5.7.8 bad credentials".into(), None))),
        );
        assert_eq!(
            full_chain(&a),
            "permanent error (535): 5.7.8 bad credentials"
        );
        let b = Wrap(
            "5.7.8 bad credentials".into(),
            Some(Box::new(Wrap("5.7.8 bad credentials".into(), None))),
        );
        assert_eq!(full_chain(&b), "5.7.8 bad credentials");
    }
}
