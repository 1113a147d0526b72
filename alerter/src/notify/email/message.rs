//! The RFC 5322 message an alert group becomes, built from a receiver's compiled
//! templates and envelope (the built-in content they default to is in
//! `template::defaults`).

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};

use super::config::ResolvedEmail;
use super::err;
use crate::notify::{Data, NotifyError, Reason};

/// Builds the RFC 5322 message from the compiled templates (text and/or HTML)
/// and the envelope (`from`, `to`; a templated `To`/`From` header changes only
/// what the message shows, as in Alertmanager). A template that fails to render
/// is a permanent error: retrying would fail the same way.
pub fn build_message(cfg: &ResolvedEmail, d: &Data) -> Result<lettre::Message, NotifyError> {
    use lettre::message::Mailboxes;
    use lettre::message::header::{self, HeaderName, HeaderValue};

    let tmpl_err = |message: String| err(false, Reason::Template, message);
    let value = crate::notify::template::data_value(d);
    let envelope = lettre::address::Envelope::new(
        Some(cfg.from.email.clone()),
        cfg.to.iter().map(|m| m.email.clone()).collect(),
    )
    .map_err(|e| {
        err(
            false,
            Reason::Message,
            format!("cannot build the envelope: {e}"),
        )
    })?;
    let mut b = lettre::Message::builder().envelope(envelope);
    let (mut from_set, mut to_set) = (false, false);
    for (name, t) in &cfg.content.headers {
        // One line: a rendered newline must not start a header of its own.
        let v = t
            .render_value(&value)
            .map_err(tmpl_err)?
            .replace(['\r', '\n'], " ");
        match name.as_str() {
            "Subject" => b = b.subject(v),
            "From" => {
                let m: Mailbox = v
                    .trim()
                    .parse()
                    .map_err(|e| tmpl_err(format!("headers.From: {v:?} is not an address: {e}")))?;
                b = b.from(m);
                from_set = true;
            }
            "To" => {
                let m: Mailboxes = v.trim().parse().map_err(|e| {
                    tmpl_err(format!("headers.To: {v:?} is not a list of addresses: {e}"))
                })?;
                b = b.mailbox(header::To::from(m));
                to_set = true;
            }
            _ => {
                let h = HeaderName::new_from_ascii(name.clone())
                    .map_err(|e| tmpl_err(format!("headers.{name}: {e}")))?;
                b = b.raw_header(HeaderValue::new(h, v));
            }
        }
    }
    if !from_set {
        b = b.from(cfg.from.clone());
    }
    if !to_set {
        for t in &cfg.to {
            b = b.to(t.clone());
        }
    }
    let text = match &cfg.content.text {
        Some(t) => Some(t.render_value(&value).map_err(tmpl_err)?),
        None => None,
    };
    let html = match &cfg.content.html {
        Some(t) => Some(t.render_value(&value).map_err(tmpl_err)?),
        None => None,
    };
    let part = |ct: ContentType, body: String| SinglePart::builder().header(ct).body(body);
    // Always multipart/alternative, one part or two, as Alertmanager sends it.
    let built = match (text, html) {
        (Some(t), Some(h)) => b.multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, t))
                .singlepart(part(ContentType::TEXT_HTML, h)),
        ),
        (Some(t), None) => {
            b.multipart(MultiPart::alternative().singlepart(part(ContentType::TEXT_PLAIN, t)))
        }
        (None, Some(h)) => {
            b.multipart(MultiPart::alternative().singlepart(part(ContentType::TEXT_HTML, h)))
        }
        (None, None) => {
            return Err(err(
                false,
                Reason::Message,
                "no text and no html part".into(),
            ));
        }
    };
    built.map_err(|e| {
        err(
            false,
            Reason::Message,
            format!("cannot build the message: {e}"),
        )
    })
}
