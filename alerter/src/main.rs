//! The alerter binary: Alertmanager's flags for the daemon, plus subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alerter",
    version,
    about = "Prometheus rules + Alertmanager-compatible routing"
)]
struct Cli {
    /// Alertmanager configuration file.
    #[arg(long = "config.file", default_value = "alertmanager.yml")]
    config_file: PathBuf,
    /// Directory for silences, notification log and alerts.
    #[arg(long = "storage.path", default_value = "data/")]
    storage_path: PathBuf,
    /// Address to listen on for the web interface and API.
    #[arg(long = "web.listen-address", default_value = ":9093")]
    listen_address: String,
    /// URL under which the alerter is reachable from outside.
    #[arg(long = "web.external-url")]
    external_url: Option<String>,
    /// Path prefix for every endpoint and the status page (default: the path of
    /// --web.external-url).
    #[arg(long = "web.route-prefix")]
    route_prefix: Option<String>,
    /// TLS, basic auth and response headers, in exporter-toolkit's web config format
    /// (Alertmanager's flag).
    #[arg(long = "web.config.file")]
    web_config_file: Option<PathBuf>,
    /// Log format: text or json. Colour only on a terminal.
    #[arg(long = "log.format", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// How long to keep data for.
    #[arg(long = "data.retention", default_value = "120h")]
    data_retention: config_values::Duration,
    /// Most alerts held at once (firing, or resolved and not yet collected); an alert
    /// with a new label set beyond it is refused with a 400 and counted in
    /// alerter_alerts_insert_limited_total. 0: no limit.
    #[arg(long = "alerts.max-count", default_value_t = alerter::provider::Limits::default().max_alerts)]
    alerts_max_count: usize,
    /// Most bytes of labels, annotations and generatorURL held over all alerts; an
    /// alert that would pass it is refused the same way. 0: no limit.
    #[arg(long = "alerts.max-size-bytes", default_value_t = alerter::provider::Limits::default().max_bytes)]
    alerts_max_size_bytes: usize,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check configuration files, as `amtool check-config`.
    CheckConfig {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests in promtool's format (`promtool test rules`).
    TestRules {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Send a synthetic alert to a receiver and print every SMTP step, with the likely
    /// cause on failure. Exit code 0 only when the server accepted the message.
    Test {
        /// Config file (default: --config.file).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Receiver to test (default: the root route's receiver).
        #[arg(long)]
        receiver: Option<String>,
    },
    /// Check rule files as Prometheus loads them, and that this evaluator can run them.
    CheckRules {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Ask the running alerter's /-/healthy on loopback (the container's HEALTHCHECK: the
    /// image has no shell or curl); exit 0 when it answers 2xx.
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { files }) => check_config(&files),
        Some(Command::Test { config, receiver }) => {
            let explicit = config.is_some() || explicit_config_flag();
            let source = config_source(config.unwrap_or(cli.config_file), explicit);
            test_receiver(&source, receiver.as_deref())
        }
        Some(Command::TestRules { files }) => alerter::rules::cli::test_rules(&files),
        Some(Command::CheckRules { files }) => {
            let patterns: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            match alerter::rules::cli::check_rule_files(std::path::Path::new("."), &patterns) {
                Ok((groups, rules)) => {
                    println!("SUCCESS: {rules} rules found in {groups} groups");
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    for e in errors {
                        eprintln!("{e}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Healthcheck) => healthcheck(&cli),
        None => daemon(&cli),
    }
}

fn healthcheck(cli: &Cli) -> ExitCode {
    let prefix = match alerter::server::route_prefix(
        cli.route_prefix.as_deref(),
        cli.external_url.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("alerter: error: {e}");
            return ExitCode::from(2);
        }
    };
    match web_toolkit::healthcheck::check(
        &cli.listen_address,
        &prefix,
        cli.web_config_file.as_deref(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alerter: unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Daemon mode: serve the API and route alerts until SIGINT/SIGTERM.
fn daemon(cli: &Cli) -> ExitCode {
    let retention = cli.data_retention.as_std();

    // `ALERTER_LOG=debug` or `ALERTER_LOG=info,alerter::notify=debug`: per-target
    // levels, without EnvFilter's span and field matching (and its regex engine,
    // which would cost resident memory at start-up for a feature nobody uses here).
    let (targets, bad_filter) = match std::env::var("ALERTER_LOG") {
        Err(_) => (
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO),
            None,
        ),
        Ok(v) => match v.parse::<tracing_subscriber::filter::Targets>() {
            Ok(t) => (t, None),
            Err(e) => (
                tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO),
                Some(format!(
                    "ALERTER_LOG={v:?} is not a valid filter ({e}); logging at info"
                )),
            ),
        },
    };
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi);
        match cli.log_format {
            LogFormat::Text => tracing_subscriber::registry()
                .with(layer)
                .with(targets)
                .init(),
            LogFormat::Json => tracing_subscriber::registry()
                .with(layer.json())
                .with(targets)
                .init(),
        }
    }
    if let Some(w) = bad_filter {
        tracing::warn!("{w}");
    }
    let source = config_source(cli.config_file.clone(), explicit_config_flag());
    let opts = alerter::server::Options {
        source,
        storage_path: cli.storage_path.clone(),
        listen: cli.listen_address.clone(),
        external_url: cli.external_url.clone(),
        route_prefix: cli.route_prefix.clone(),
        web_config_file: cli.web_config_file.clone(),
        retention,
        watch_interval: std::time::Duration::from_secs(3),
        alert_limits: alerter::provider::Limits {
            max_alerts: cli.alerts_max_count,
            max_bytes: cli.alerts_max_size_bytes,
        },
    };
    // One thread: the daemon's work is small and I/O-bound. A single-threaded runtime
    // has no cross-thread wake-ups (two workers made 7,600 futex calls per 10,000
    // posted alerts) and no second malloc arena or worker stack.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alerter: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(alerter::server::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("alerter: {e}");
            ExitCode::FAILURE
        }
    }
}

fn explicit_config_flag() -> bool {
    std::env::args().any(|a| a.starts_with("--config.file"))
}

/// An explicit config file must exist; without one, ./alertmanager.yml is used if
/// present, else the built-in default (which says so loudly). The daemon and
/// `alerter test` decide the same way.
fn config_source(path: PathBuf, explicit: bool) -> alerter::server::Source {
    if explicit || path.exists() {
        alerter::server::Source::File(path)
    } else {
        alerter::server::Source::Embedded
    }
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Checking '{}'", f.display());
        match alerter::config::load(f) {
            Ok(compiled) => {
                let cfg = &compiled.config;
                // Rule files named by the config are checked too, relative to it: an
                // expression this evaluator cannot run fails here, not at 3 a.m.
                let dir = f.parent().unwrap_or(std::path::Path::new("."));
                let rules = match alerter::rules::cli::check_rule_files(dir, &cfg.rule_files) {
                    Ok(counts) => counts,
                    Err(errors) => {
                        println!("  FAILED: rule files:");
                        for e in errors {
                            println!("    {e}");
                        }
                        failed = true;
                        println!();
                        continue;
                    }
                };
                println!("  SUCCESS");
                println!("Found:");
                println!(" - global config");
                println!(" - route");
                println!(" - {} inhibit rules", cfg.inhibit_rules.len());
                println!(" - {} receivers", cfg.receivers.len());
                println!(" - {} templates", cfg.templates.len());
                if !cfg.rule_files.is_empty() {
                    println!(" - {} rules in {} rule groups", rules.1, rules.0);
                }
                // What loads but will not send (a missing password file, say): the
                // daemon would start and log these, so say them here too.
                for w in &compiled.warnings {
                    println!("  WARNING: {w}");
                }
                if !compiled.unreadable_secrets.is_empty() {
                    println!(
                        "  WARNING: a running alerter refuses to reload this config until every secret file above can be read"
                    );
                }
            }
            Err(e) => {
                println!("  FAILED: {e}");
                failed = true;
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn test_receiver(source: &alerter::server::Source, receiver: Option<&str>) -> ExitCode {
    if matches!(source, alerter::server::Source::Embedded) {
        eprintln!(
            "alerter test: no --config.file given and ./alertmanager.yml does not exist: testing the built-in default config"
        );
    }
    let cfg = match alerter::server::load(source) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("alerter test: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alerter test: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    match rt.block_on(alerter::selftest::run_receiver(&cfg, receiver, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alerter test: {e}");
            ExitCode::FAILURE
        }
    }
}
