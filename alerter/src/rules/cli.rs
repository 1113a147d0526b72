//! Command-line entry points: `alerter test-rules FILE...`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs promtool-format rule unit tests; prints promtool-like output. Exit 0 when every file
/// passes, 1 otherwise.
pub fn test_rules(paths: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for p in paths {
        let _ = writeln!(out, "Unit Testing:  {}", p.display());
        match super::unittest::run_test_file(p) {
            Ok(()) => {
                let _ = writeln!(out, "  SUCCESS\n");
            }
            Err(errs) => {
                failed = true;
                let _ = writeln!(out, "  FAILED:");
                for e in errs {
                    let _ = writeln!(out, "{e}");
                }
                let _ = writeln!(out);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
