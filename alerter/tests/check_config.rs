//! `alerter check-config` on the good and bad config folders; each bad file's
//! error names the problem.

use std::path::Path;
use std::process::Command;

fn run(file: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_alerter"))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run alerter");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn good_and_bad_configs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
    let (ok, out) = run(&dir.join("good/minimal.yml"));
    assert!(ok, "{out}");
    assert!(out.contains("2 receivers"), "{out}");
    for (file, expected) in [
        ("undefined_receiver.yml", "undefined receiver \"nobody\""),
        ("unknown_key.yml", "unknown field `group_wiat`"),
        ("bad_duration.yml", "route.group_wait"),
        (
            "bad_inhibit_key.yml",
            "inhibit_rules[0]: unknown field `equals`",
        ),
        ("bad_match_re.yml", "route.routes[0].match_re.service"),
        (
            "bad_receiver_key.yml",
            "receivers[0].email_configs[0]: unknown field `pasword`",
        ),
        ("duplicate_receiver.yml", "\"ops\" is not unique"),
        (
            "bad_matcher.yml",
            "route.routes[1].matchers[0]: bad matcher format: severity critical",
        ),
        (
            "undefined_time_interval.yml",
            "route.routes[0].mute_time_intervals[0]: undefined time interval \"weekends\"",
        ),
        (
            "bad_time_interval.yml",
            "time_intervals[0].time_intervals[0].weekdays[1]: caturday is not a valid weekday",
        ),
        (
            "http_config_basic_and_authorization.yml",
            "receivers[hook].webhook_configs[0].http_config: at most one of basic_auth, oauth2 & authorization must be configured",
        ),
        (
            "email_smarthost_without_port.yml",
            "receivers[r].email_configs[0].smarthost: address mail.example.com: missing port in address",
        ),
        (
            "null_match_re.yml",
            "route.routes[0]: invalid regexp value for \"service\"",
        ),
        (
            "inhibit_null_match_re.yml",
            "inhibit_rules[0]: invalid regexp value for \"severity\"",
        ),
        (
            "global_smtp_password_twice.yml",
            "at most one of smtp_auth_password & smtp_auth_password_file must be configured",
        ),
        (
            "wildcard_group_by.yml",
            "route.group_by: cannot have wildcard",
        ),
        (
            "slack_without_api_url.yml",
            "receivers[chat].slack_configs[0]: no global Slack API URL set either inline or in a file",
        ),
        (
            "slack_api_url_and_file.yml",
            "at most one of api_url & api_url_file must be configured",
        ),
        (
            "slack_bad_api_url.yml",
            "slack_configs[0]: api_url: unsupported scheme \"\" for URL",
        ),
        (
            "slack_field_without_value.yml",
            "fields[0]: missing value in Slack field configuration",
        ),
        (
            "discord_without_webhook_url.yml",
            "discord_configs[0]: no discord webhook URL provided",
        ),
        (
            "telegram_without_chat_id.yml",
            "telegram_configs[0]: missing chat_id on telegram_config",
        ),
        (
            "telegram_bad_parse_mode.yml",
            "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string",
        ),
        (
            "webex_without_authorization.yml",
            "webex_configs[0]: missing webex_configs.http_config.authorization",
        ),
        (
            "victorops_without_routing_key.yml",
            "missing Routing key in VictorOps config",
        ),
        (
            "victorops_reserved_custom_field.yml",
            "contains custom field entity_id which cannot be used",
        ),
        (
            "victorops_without_api_key.yml",
            "victorops_configs[0]: no global VictorOps API Key set",
        ),
        (
            "wechat_without_secret.yml",
            "wechat_configs[0]: no global Wechat ApiSecret set",
        ),
        (
            "wechat_bad_message_type.yml",
            "weChat message type \"news\" does not match valid options ^(text|markdown)$",
        ),
        (
            "pushover_without_token.yml",
            "pushover_configs[0]: missing token in Pushover config",
        ),
        (
            "sns_without_target.yml",
            "sns_configs[0]: must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
        ),
        (
            "sns_topic_and_phone.yml",
            "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
        ),
        (
            "opsgenie_without_api_key.yml",
            "opsgenie_configs[0]: no global OpsGenie API Key set either inline or in a file",
        ),
        (
            "opsgenie_bad_responder_type.yml",
            "type does not match valid options ^(team|teams|user|escalation|schedule)$",
        ),
        (
            "opsgenie_responder_without_name.yml",
            "has to have at least one of id, username or name specified",
        ),
        (
            "pagerduty_without_key.yml",
            "pagerduty_configs[0]: missing service or routing key in PagerDuty config",
        ),
        (
            "pagerduty_routing_key_and_file.yml",
            "at most one of routing_key & routing_key_file must be configured",
        ),
        ("pagerduty_unknown_key.yml", "unknown field `severty`"),
        (
            "slack_action_without_name_or_url.yml",
            "actions[0]: missing name or url in Slack action configuration",
        ),
    ] {
        let (ok, out) = run(&dir.join("bad").join(file));
        assert!(!ok, "{file} accepted: {out}");
        assert!(out.contains(expected), "{file}: {out}");
    }
}

/// Keys of Alertmanager versions after 0.25, and our own integrations (amtool
/// 0.25 refuses them all):
/// `newer/*.yml` are accepted, `newer/bad_*.yml` refused with the newer message.
#[test]
fn newer_integrations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/newer");
    for ok_file in [
        "msteams.yml",
        "msteamsv2.yml",
        "slack_app_token.yml",
        "ntfy.yml",
        "matrix.yml",
        "rocketchat.yml",
        "jira.yml",
    ] {
        let (ok, out) = run(&dir.join(ok_file));
        assert!(ok, "{ok_file}: {out}");
    }
    let (ok, out) = run(&dir.join("bad_rocketchat_without_token.yml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "rocketchat_configs[0]: no global Rocketchat Token set either inline or in a file"
        ),
        "{out}"
    );
    let (ok, out) = run(&dir.join("bad_jira.yml"));
    assert!(!ok, "{out}");
    for e in [
        "jira_configs[0]: missing project in jira_config",
        "jira_configs[0]: missing issue_type in jira_config",
        "jira_configs[0]: unknown api_type on jira_config, must be auto, cloud or datacenter",
        "jira_configs[0]: no global Jira Cloud URL set",
    ] {
        assert!(out.contains(e), "{e}: {out}");
    }
    let (ok, out) = run(&dir.join("bad_ntfy_priority.yml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains("ntfy_configs[0]: priority: \"loud\" is not 1-5"),
        "{out}"
    );
    let (ok, out) = run(&dir.join("bad_slack_app_token_and_authorization.yml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "slack_configs[0]: http authorization can't be set when using Slack App tokens"
        ),
        "{out}"
    );
    let (ok, out) = run(&dir.join("bad_msteams_without_webhook_url.yml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "receivers[teams].msteams_configs[0]: one of webhook_url or webhook_url_file must be configured"
        ),
        "{out}"
    );
}

#[test]
fn agrees_with_amtool() {
    let Some(amtool) = e2e::require("amtool", "compare check-config with Alertmanager's") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
    for sub in ["good", "bad"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("read configs") {
            let path = entry.expect("entry").path();
            let am = Command::new(&amtool)
                .arg("check-config")
                .arg(&path)
                .output()
                .expect("run amtool");
            let (ours, out) = run(&path);
            assert_eq!(am.status.success(), ours, "{}: {out}", path.display());
            assert_eq!(ours, sub == "good", "{}", path.display());
        }
    }
}

/// `check-config` also loads the config's `rule_files` (relative to the config) and
/// rejects a broken one with its file, line and cause (issue: never at 3 a.m.).
#[test]
fn check_config_checks_rule_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = |rule_file: &Path| {
        let p = dir.path().join("alerter.yml");
        std::fs::write(
            &p,
            format!(
                "route:\n  receiver: r\nreceivers:\n  - name: r\nrule_files: [{:?}]\n",
                rule_file.display().to_string()
            ),
        )
        .expect("write config");
        p
    };
    let shipped = root.join("../rules/*.yml");
    let (ok, out) = run(&config(&shipped));
    assert!(ok, "shipped rules: {out}");
    assert!(out.contains("rules in 6 rule groups"), "{out}");
    for (file, cause) in [
        ("bad_function.rules.yml", "unknown function"),
        ("bad_arity.rules.yml", "argument"),
        ("bad_template.rules.yml", "template"),
        ("bad_duplicate_group.rules.yml", "repeated"),
        ("bad_yaml.rules.yml", ""),
    ] {
        let path = root.join("tests/rules_fixtures").join(file);
        let (ok, out) = run(&config(&path));
        assert!(!ok, "{file} must be rejected: {out}");
        assert!(
            out.contains(&format!("{file}:")) && out.contains(cause),
            "{file}: {out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
}

/// A secret `*_file` that cannot be read is a warning at load (the config is
/// valid, the file may appear later: amtool does not look at it), naming
/// receiver, key and file, and saying that a running alerter will not reload it.
#[test]
fn unreadable_integration_secret_file_is_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("am.yml");
    let missing = dir.path().join("routing_key");
    std::fs::write(
        &path,
        format!(
            "route:\n  receiver: r\nreceivers:\n- name: r\n  pagerduty_configs:\n  - routing_key_file: {}\n  webhook_configs:\n  - url: http://127.0.0.1:9/\n    http_config: {{basic_auth: {{username: u, password_file: hook_pw}}}}\n  email_configs:\n  - {{to: a@example.org, from: b@example.org, smarthost: '127.0.0.1:25', auth_username: u, auth_password_file: {}/smtp_pw}}\n",
            missing.display(),
            dir.path().display()
        ),
    )
    .expect("write");
    let (ok, out) = run(&path);
    assert!(ok, "{out}");
    let d = dir.path().display();
    for expected in [
        format!(
            "WARNING: receivers[\"r\"].pagerduty_configs[0].routing_key_file: cannot read {}",
            missing.display()
        ),
        format!(
            "WARNING: receivers[\"r\"].webhook_configs[0].http_config.basic_auth.password_file: cannot read {d}/hook_pw"
        ),
        format!("WARNING: receivers[\"r\"].email_configs[0].auth_password_file: cannot read {d}/smtp_pw"),
        "WARNING: a running alerter refuses to reload this config until every secret file above can be read".into(),
    ] {
        assert!(out.contains(&expected), "no {expected:?} in {out}");
    }
}
