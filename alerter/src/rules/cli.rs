//! Command-line entry points: `alerter test-rules FILE...`.

use std::io::Write;
use std::path::{Path, PathBuf};
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

/// For `check-config`: loads the config's `rule_files` (globs relative to the config file's
/// folder) and validates every rule. Returns the number of groups and rules, or every error as
/// `file:line: message`. A pattern that matches nothing is an error too.
pub fn check_rule_files(
    config_dir: &Path,
    patterns: &[String],
) -> Result<(usize, usize), Vec<String>> {
    let groups = super::builtin::load_patterns(config_dir, patterns)?;
    Ok((groups.len(), groups.iter().map(|g| g.rules.len()).sum()))
}
