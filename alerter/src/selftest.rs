//! `alerter test`: sends a synthetic alert through one email receiver and prints each
//! SMTP step, then a one-line diagnosis on failure. The CLI wiring (clap subcommand,
//! loading the config, picking the receiver) lives in main.rs; this module does the
//! rest so it can be tested without a process.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{TimeZone, Utc};

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
