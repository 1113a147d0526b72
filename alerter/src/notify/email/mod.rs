//! Email over SMTP, Alertmanager's email integration: one file per job.
//! - `config`: the `email_configs` entry as written and its resolution into a
//!   validated [`ResolvedEmail`] (the config loader parses into these types);
//! - `session`: the SMTP dialogue (connect, TLS, AUTH, send);
//! - `stage`: the steps of the session, as the diagnosis matches on them;
//! - `diagnosis`: a failure's [`Reason`] and the plain-words likely cause;
//! - `message`: the MIME message built from the templates.
//!
//! This file is the integration itself: [`EmailNotifier`] and the readiness check.

mod config;
mod diagnosis;
mod message;
mod session;
mod stage;

use futures::future::BoxFuture;

pub use crate::notify::template::{html_body, subject, text_body};
pub use config::{
    Content, EmailConfig, ResolvedEmail, Security, SmtpGlobals, TlsConfig, check_host_port,
    compile_content, password_file, resolve, resolve_with,
};
pub use config_values::Secret;
pub use diagnosis::diagnose;
pub use message::build_message;
pub use session::{Mode, dialogue};

use super::{Notification, Notifier, NotifyError, Reason, Status};

fn err(retryable: bool, reason: Reason, message: String) -> NotifyError {
    NotifyError {
        retryable,
        reason,
        message,
    }
}

/// SMTP sessions one email integration runs at once: a failing server with
/// thousands of groups gets a few connections, not thousands.
pub const MAX_SESSIONS: usize = 4;

/// The email integration.
pub struct EmailNotifier {
    pub cfg: ResolvedEmail,
    sessions: tokio::sync::Semaphore,
}

impl EmailNotifier {
    pub fn new(cfg: ResolvedEmail) -> EmailNotifier {
        EmailNotifier {
            cfg,
            sessions: tokio::sync::Semaphore::new(MAX_SESSIONS),
        }
    }
}

impl Notifier for EmailNotifier {
    fn integration(&self) -> &'static str {
        "email"
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            if n.data.status == Status::Resolved && !self.cfg.send_resolved {
                return Ok(());
            }
            let msg = build_message(&self.cfg, &n.data)?;
            let _permit = self.sessions.acquire().await.map_err(|_| NotifyError {
                retryable: true,
                reason: Reason::Shutdown,
                message: "the notifier is shutting down".into(),
            })?;
            let mut sink = |_: String| {};
            let r = dialogue(&self.cfg, Some(&msg), Mode::Send, &mut sink).await;
            // The likely cause travels with the error, so the pipeline's one log
            // line (and the self-monitoring alarm) carry it.
            r.map_err(|mut e| {
                e.message = format!(
                    "{} (smarthost {}:{}); likely cause: {}",
                    e.message,
                    self.cfg.host,
                    self.cfg.port,
                    diagnose(&e, &self.cfg)
                );
                e
            })
        })
    }
}

/// The start-up / reload readiness check: connect, TLS, EHLO, AUTH, no mail.
pub async fn check_ready(cfg: &ResolvedEmail) -> Result<(), NotifyError> {
    let mut sink = |_: String| {};
    dialogue(cfg, None, Mode::ConnectOnly, &mut sink).await
}
