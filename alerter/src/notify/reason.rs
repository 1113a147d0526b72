//! Why a delivery failed, as one closed list. The pipeline and the email
//! session branch on it (retry the next address, fall through to the next AUTH
//! mechanism, log again only when it changes), the failure diagnosis explains
//! it, and [`Reason::as_str`] is the `reason` label of
//! `alertmanager_notifications_failed_total`: those strings are read by tests,
//! dashboards and alert rules, so they never change.

use std::fmt;

use serde::{Serialize, Serializer};

/// One variant per `reason` label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    // Any integration.
    /// No answer in time: a step of the SMTP dialogue, a POST, or the flush deadline.
    Timeout,
    /// Nothing listens on the host and port.
    ConnectionRefused,
    /// The integration's settings do not resolve (dispatch's `Unusable`).
    Config,
    /// Every send slot of the integration was busy.
    Backlog,
    /// The notifier is shutting down.
    Shutdown,

    // Webhook.
    /// The shared HTTP client could not be built.
    HttpClient,
    /// `url_file` could not be read.
    UrlFile,
    /// A credential file of `http_config` could not be read.
    CredentialsFile,
    /// `http_config.oauth2`: no token from the token endpoint.
    OAuth2Token,
    ConnectionReset,
    /// Connecting failed for another reason.
    ConnectError,
    /// The request failed for another reason.
    RequestError,
    Http5xx,
    Http4xx,
    /// A status that is neither success nor 4xx/5xx (e.g. a redirect not followed).
    HttpStatus,

    // Email.
    /// The smarthost name did not resolve.
    Dns,
    ConnectTimeout,
    /// TCP accepted, but no TLS handshake / greeting / EHLO reply followed.
    GreetingTimeout,
    /// Connecting failed with a protocol or I/O error (not TLS, not refused).
    ConnectFailed,
    /// `tls_config` cannot be used (bad CA, builder error).
    TlsConfig,
    TlsHandshake,
    /// The server offers no STARTTLS (or answered 530) and TLS is required.
    TlsRequired,
    /// 5xx to AUTH: wrong credentials.
    AuthRejected,
    /// The server offers none of the configured mechanisms.
    AuthUnsupported,
    SenderRejected,
    RecipientRejected,
    MessageRejected,
    /// Any other 5xx.
    SmtpPermanent,
    /// Any 4xx.
    SmtpTransient,
    /// A broken dialogue mid-session.
    Protocol,
    /// A template failed to render.
    Template,
    /// The message could not be built.
    Message,
}

impl Reason {
    /// Every reason, for tests and documentation.
    pub const ALL: [Reason; 32] = [
        Reason::Timeout,
        Reason::ConnectionRefused,
        Reason::Config,
        Reason::Backlog,
        Reason::Shutdown,
        Reason::HttpClient,
        Reason::UrlFile,
        Reason::CredentialsFile,
        Reason::OAuth2Token,
        Reason::ConnectionReset,
        Reason::ConnectError,
        Reason::RequestError,
        Reason::Http5xx,
        Reason::Http4xx,
        Reason::HttpStatus,
        Reason::Dns,
        Reason::ConnectTimeout,
        Reason::GreetingTimeout,
        Reason::ConnectFailed,
        Reason::TlsConfig,
        Reason::TlsHandshake,
        Reason::TlsRequired,
        Reason::AuthRejected,
        Reason::AuthUnsupported,
        Reason::SenderRejected,
        Reason::RecipientRejected,
        Reason::MessageRejected,
        Reason::SmtpPermanent,
        Reason::SmtpTransient,
        Reason::Protocol,
        Reason::Template,
        Reason::Message,
    ];

    /// The metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::ConnectionRefused => "connection_refused",
            Reason::Config => "config",
            Reason::Backlog => "backlog",
            Reason::Shutdown => "shutdown",
            Reason::HttpClient => "http_client",
            Reason::UrlFile => "url_file",
            Reason::CredentialsFile => "credentials_file",
            Reason::OAuth2Token => "oauth2_token",
            Reason::ConnectionReset => "connection_reset",
            Reason::ConnectError => "connect_error",
            Reason::RequestError => "request_error",
            Reason::Http5xx => "http_5xx",
            Reason::Http4xx => "http_4xx",
            Reason::HttpStatus => "http_status",
            Reason::Dns => "dns",
            Reason::ConnectTimeout => "connect_timeout",
            Reason::GreetingTimeout => "greeting_timeout",
            Reason::ConnectFailed => "connect_failed",
            Reason::TlsConfig => "tls_config",
            Reason::TlsHandshake => "tls_handshake",
            Reason::TlsRequired => "tls_required",
            Reason::AuthRejected => "auth_rejected",
            Reason::AuthUnsupported => "auth_unsupported",
            Reason::SenderRejected => "sender_rejected",
            Reason::RecipientRejected => "recipient_rejected",
            Reason::MessageRejected => "message_rejected",
            Reason::SmtpPermanent => "smtp_permanent",
            Reason::SmtpTransient => "smtp_transient",
            Reason::Protocol => "protocol",
            Reason::Template => "template",
            Reason::Message => "message",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As its label (the status API's `reason`).
impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Compares with a label value, as tests and external checks read it.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label values are an interface (dashboards, rules, tests): pinned here.
    #[test]
    fn labels_are_pinned_and_distinct() {
        let labels: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let mut unique = labels.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), labels.len(), "{labels:?}");
        assert_eq!(
            unique.join(" "),
            "auth_rejected auth_unsupported backlog config connect_error connect_failed \
             connect_timeout connection_refused connection_reset credentials_file dns greeting_timeout \
             http_4xx http_5xx http_client http_status message message_rejected oauth2_token protocol \
             recipient_rejected request_error sender_rejected shutdown smtp_permanent \
             smtp_transient template timeout tls_config tls_handshake tls_required url_file"
        );
        assert_eq!(Reason::Http5xx.to_string(), "http_5xx");
        assert!(Reason::AuthRejected == "auth_rejected");
    }
}
