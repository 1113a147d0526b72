use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test-rules") => {
            let files: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
            if files.is_empty() {
                eprintln!("usage: alerter test-rules FILE...");
                return ExitCode::from(2);
            }
            alerter::rules::cli::test_rules(&files)
        }
        _ => {
            println!("alerter: not yet implemented");
            ExitCode::SUCCESS
        }
    }
}
