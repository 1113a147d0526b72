//! `exporter`: parse flags, load and validate config, build the enabled collectors and
//! serve them. Every startup problem is one line on stderr and exit status 1 (2 for a
//! bad command line, as clap does).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::error::ErrorKind;
use exporter::collector;
use exporter::config::{Command, Config, Flags};
use exporter::http::{AppState, router};
use exporter::scrape::Scraper;

fn main() -> ExitCode {
    let flags = match Flags::try_parse_from(std::env::args_os()) {
        Ok(f) => f,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first line names the problem; usage text would bury it.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("exporter: error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(&flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exporter: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(flags: &Flags) -> anyhow::Result<()> {
    let cfg = Config::load(flags)?;
    if flags.command == Some(Command::Healthcheck) {
        return web_toolkit::healthcheck::check(
            &cfg.listen_address.to_string(),
            "",
            cfg.web_config_file.as_deref(),
        )
        .map_err(anyhow::Error::msg);
    }
    init_logging(cfg.log_level, cfg.log_json);
    let any_host = collector::LIST
        .iter()
        .any(|e| cfg.enabled(e.name) && e.host);
    if any_host {
        cfg.paths.check().map_err(anyhow::Error::msg)?;
    }
    let collectors = cfg.build_collectors()?;
    if flags.config_check {
        let source = cfg.source.as_ref().map_or_else(
            || "flags and defaults".to_string(),
            |p| p.display().to_string(),
        );
        println!(
            "config OK ({source}): {} collectors enabled, listening on {}{}",
            collectors.len(),
            cfg.listen_address,
            cfg.telemetry_path
        );
        return Ok(());
    }

    // One thread serves HTTP and runs the collectors (procfs reads are CPU work of
    // microseconds); blocking threads only run statfs calls and other blocking I/O.
    // A statfs stuck on a dead mount holds one until the kernel answers, and the mount
    // is skipped meanwhile, so a small pool is enough. Fewer threads, less memory.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let result = runtime.block_on(serve(cfg, collectors));
    // A statfs stuck on a dead mount would keep a plain drop waiting forever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

async fn serve(cfg: Config, collectors: Vec<Arc<dyn collector::Collector>>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen_address)
        .await
        .with_context(|| format!("listen on {}", cfg.listen_address))?;
    tracing::info!(
        address = %cfg.listen_address,
        path = %cfg.telemetry_path,
        collectors = ?collectors.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "serving metrics"
    );
    let scraper = Arc::new(Scraper::new(collectors, cfg.collector_timeout));
    let web = cfg.web_config_file.clone();
    let app = router(AppState::new(Arc::new(cfg), scraper));
    web_toolkit::serve(
        listener,
        app,
        web.as_deref(),
        web_toolkit::Limits::default(),
        shutdown_signal(),
    )
    .await
    .context("serve HTTP")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

fn init_logging(level: tracing::Level, json: bool) {
    // A plain level filter: EnvFilter would link a second regex engine, and the
    // binary's size is most of its idle memory.
    let fmt = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a file or pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        fmt.json().init();
    } else {
        fmt.init();
    }
}
