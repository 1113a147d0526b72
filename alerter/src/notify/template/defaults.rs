//! The built-in named templates, available to every templated field before the
//! users' files.

/// Built-in named templates: `email.default.*` render our phone-friendly content
/// (email/message.rs `subject`, `text_body`, `html_body`); `__subject` etc. keep
/// configs written against Alertmanager's default.tmpl working.
pub(super) const BUILTIN: &str = r#"{{ define "email.default.subject" }}{{ __email_default "subject" . }}{{ end }}
{{- define "email.default.text" }}{{ __email_default "text" . }}{{ end }}
{{- define "email.default.html" }}{{ __email_default "html" . }}{{ end }}
{{- define "__subject" }}{{ template "email.default.subject" . }}{{ end }}
{{- define "__alertmanager" }}alerter{{ end }}
{{- define "__alertmanagerURL" }}{{ .ExternalURL }}{{ end }}"#;

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;

    #[test]
    fn builtin_defaults_render_our_content() {
        let d = data();
        assert_eq!(
            text(r#"{{ template "email.default.subject" . }}"#),
            email::subject(&d)
        );
        assert_eq!(email::subject(&d), "[FIRING:2] HostHighCpuUsage (warning)");
        assert_eq!(
            text(r#"{{ template "email.default.text" . }}"#),
            email::text_body(&d)
        );
        // In HTML the built-in body is trusted markup, not escaped again.
        assert_eq!(
            html(r#"{{ template "email.default.html" . }}"#),
            email::html_body(&d)
        );
        assert_eq!(
            html(r#"<title>{{ template "email.default.subject" . }}</title>"#),
            format!("<title>{}</title>", email::subject(&d))
        );
        assert_eq!(text(r#"{{ template "__subject" . }}"#), email::subject(&d));
        let e = text_err(r#"{{ template "email.default.subject" .Alerts }}"#);
        assert!(e.contains("want the notification data as dot"), "{e}");
    }
}
