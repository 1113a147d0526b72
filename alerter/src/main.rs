//! The `alerter` command line. The routing server (Alertmanager's API and dispatch)
//! is not built yet; the rule tooling is.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "alerter",
    version,
    about = "Prometheus rules and Alertmanager-compatible alert routing"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run rule unit tests in promtool's format (`promtool test rules`).
    TestRules {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check rule files as Prometheus loads them, and that this evaluator can run them.
    CheckRules {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Some(Cmd::TestRules { files }) => alerter::rules::cli::test_rules(&files),
        Some(Cmd::CheckRules { files }) => {
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
        None => {
            eprintln!(
                "alerter: the routing server is not built yet; `alerter test-rules` and `alerter check-rules` are"
            );
            ExitCode::FAILURE
        }
    }
}
