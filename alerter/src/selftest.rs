//! `alerter test`: sends a synthetic alert through one email receiver and prints each
//! SMTP step, then a one-line diagnosis on failure. The CLI wiring (clap subcommand,
//! loading the config, picking the receiver) lives in main.rs; this module does the
//! rest so it can be tested without a process.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{TimeZone, Utc};

use crate::config::Compiled;
use crate::notify::email::{self, Mode, ResolvedEmail};
use crate::notify::{AlertData, Data, NotifyError, Status};

/// The synthetic alert `alerter test` sends.
pub fn synthetic_data(receiver: &str) -> Data {
    let labels = BTreeMap::from([
        ("alertname".to_string(), "AlerterTest".to_string()),
        ("severity".to_string(), "info".to_string()),
    ]);
    Data {
        receiver: receiver.to_string(),
        status: Status::Firing,
        alerts: vec![AlertData {
            status: Status::Firing,
            labels: labels.clone(),
            annotations: BTreeMap::from([(
                "summary".to_string(),
                format!("Test alert from `alerter test`: receiver {receiver} delivers."),
            )]),
            starts_at: Utc::now(),
            ends_at: Utc
                .with_ymd_and_hms(1, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_else(Utc::now),
            generator_url: String::new(),
            fingerprint: "alerter-test".to_string(),
        }],
        group_labels: labels.clone(),
        common_labels: labels,
        common_annotations: BTreeMap::new(),
        external_url: String::new(),
    }
}

/// Runs the test for one email receiver, writing the transcript to `out`.
/// Returns `Ok(())` only when the server accepted the message.
pub async fn run_email(
    receiver: &str,
    cfg: &ResolvedEmail,
    mode: Mode,
    out: &mut (dyn Write + Send),
) -> Result<(), NotifyError> {
    let _ = writeln!(
        out,
        "receiver {receiver}: email to {} via {}:{}",
        cfg.to
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.host,
        cfg.port
    );
    let msg = email::build_message(cfg, &synthetic_data(receiver))?;
    let mut lines = Vec::new();
    let started = std::time::Instant::now();
    let r = {
        let mut log = |l: String| lines.push(l);
        email::dialogue(cfg, Some(&msg), mode, &mut log).await
    };
    for l in &lines {
        let _ = writeln!(out, "  {l}");
    }
    match &r {
        Ok(()) if mode == Mode::Send => {
            let _ = writeln!(
                out,
                "OK: the server accepted the test message in {:.1}s; check the inbox of {}",
                started.elapsed().as_secs_f64(),
                cfg.to
                    .iter()
                    .map(|m| m.email.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(()) => {
            let _ = writeln!(out, "OK: connected, greeted and authenticated");
        }
        Err(e) => {
            let _ = writeln!(out, "FAILED [{}]: {}", e.reason, e.message);
            let _ = writeln!(out, "likely cause: {}", email::diagnose(e, cfg));
        }
    }
    r
}

/// Why `alerter test` could not run or failed, for the exit code and last line.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("no receiver named {0:?} in the config (receivers: {1})")]
    UnknownReceiver(String, String),
    #[error("receiver {0:?} has no email_configs to test")]
    NothingToTest(String),
    #[error("receiver {0:?}: {1}")]
    BadConfig(String, String),
    #[error("receiver {0:?}: delivery failed ({1})")]
    Failed(String, &'static str),
}

/// `alerter test`: every email integration of `receiver` (default: the root route's
/// receiver) gets the synthetic alert; each transcript goes to `out`. The config's
/// warnings come first, so a missing password file is named before the attempt.
pub async fn run_receiver(
    cfg: &Compiled,
    receiver: Option<&str>,
    out: &mut (dyn Write + Send),
) -> Result<(), TestError> {
    for w in &cfg.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    // Without --receiver: wherever the routing tree sends the synthetic alert.
    let name = match receiver {
        Some(r) => r.to_string(),
        None => {
            let labels = &synthetic_data("").alerts[0].labels;
            cfg.route
                .matches(labels)
                .first()
                .map(|r| r.receiver.clone())
                .unwrap_or_default()
        }
    };
    let emails = cfg.emails.get(&name).ok_or_else(|| {
        let all: Vec<&str> = cfg.emails.keys().map(String::as_str).collect();
        TestError::UnknownReceiver(name.clone(), all.join(", "))
    })?;
    if emails.is_empty() {
        return Err(TestError::NothingToTest(name));
    }
    let mut first_err = None;
    for (i, e) in emails.iter().enumerate() {
        let resolved = match e {
            Ok(r) => r,
            Err(why) => {
                return Err(TestError::BadConfig(
                    name,
                    format!("email_configs[{i}]: {why}"),
                ));
            }
        };
        if let Err(e) = run_email(&name, resolved, Mode::Send, out).await {
            first_err.get_or_insert(e.reason.as_str());
        }
    }
    match first_err {
        None => Ok(()),
        Some(reason) => Err(TestError::Failed(name, reason)),
    }
}

/// The readiness check run at start-up and after every reload: for each email
/// integration, connect, TLS, EHLO and AUTH, no mail. The result is the metric
/// `alerter_receiver_ready{receiver}`: a receiver is ready when all its email
/// integrations are. Receivers without email are not listed.
pub async fn check_receivers(cfg: &Compiled) -> Vec<(String, Result<(), String>)> {
    let checks = cfg
        .emails
        .iter()
        .filter(|(_, emails)| !emails.is_empty())
        .map(|(name, emails)| async move {
            let mut result = Ok(());
            for (i, e) in emails.iter().enumerate() {
                let one = match e {
                    Err(why) => Err(format!("email_configs[{i}]: {why}")),
                    Ok(resolved) => email::check_ready(resolved).await.map_err(|e| {
                        format!(
                            "email_configs[{i}]: {} ({}); likely cause: {}",
                            e.message,
                            e.reason,
                            email::diagnose(&e, resolved)
                        )
                    }),
                };
                if result.is_ok() {
                    result = one;
                }
            }
            (name.clone(), result)
        });
    futures::future::join_all(checks).await
}
