//! Email over SMTP. This file starts as the config contract between the config
//! loader (which parses `email_configs` and `global.smtp_*` into these types) and the
//! email notifier, which owns everything else here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of a receiver's `email_configs`, as Alertmanager defines it, plus our
/// additions (`auth_mechanisms`, `auth_password_env`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub smarthost: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<String>,
    #[serde(default)]
    pub auth_password_file: Option<String>,
    /// Ours: the name of an environment variable holding the password.
    #[serde(default)]
    pub auth_password_env: Option<String>,
    #[serde(default)]
    pub auth_secret: Option<String>,
    #[serde(default)]
    pub auth_secret_file: Option<String>,
    #[serde(default)]
    pub auth_identity: Option<String>,
    /// Ours: mechanisms to try, in order (`PLAIN`, `LOGIN`, `XOAUTH2`).
    #[serde(default)]
    pub auth_mechanisms: Option<Vec<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
}

/// Alertmanager's `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
}

/// The `global.smtp_*` defaults an `EmailConfig` falls back to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SmtpGlobals {
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<String>,
    pub smtp_auth_password_file: Option<String>,
    pub smtp_auth_secret: Option<String>,
    pub smtp_auth_secret_file: Option<String>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub smtp_tls_config: Option<TlsConfig>,
}
