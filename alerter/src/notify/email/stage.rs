//! The steps of an SMTP session, as one closed set: the session names the step it
//! is at, and the diagnosis decides a failure's [`Reason`](crate::notify::Reason)
//! by matching on it. Owns only the spelling each step has in messages.

use std::fmt;

/// One step of the SMTP dialogue, as error messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// TCP connect, greeting and EHLO (plain text or before STARTTLS).
    Connect,
    /// TCP connect with implicit TLS from the first byte, greeting and EHLO.
    TlsHandshake,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    Quit,
}

impl Stage {
    /// The step's name in error messages, e.g. `AUTH with host:587: ...`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::TlsHandshake => "TLS handshake",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "AUTH",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Quit => "QUIT",
        }
    }

    /// Whether the step opens the connection: a silence here means no greeting.
    pub fn is_opening(self) -> bool {
        matches!(self, Stage::Connect | Stage::TlsHandshake)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Stage;

    #[test]
    fn names_as_printed() {
        for (s, want) in [
            (Stage::Connect, "connect"),
            (Stage::TlsHandshake, "TLS handshake"),
            (Stage::StartTls, "STARTTLS"),
            (Stage::Auth, "AUTH"),
            (Stage::MailFrom, "MAIL FROM"),
            (Stage::RcptTo, "RCPT TO"),
            (Stage::Data, "DATA"),
            (Stage::Quit, "QUIT"),
        ] {
            assert_eq!(s.to_string(), want);
            assert_eq!(s.as_str(), want);
        }
    }
}
