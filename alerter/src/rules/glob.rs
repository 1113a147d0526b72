//! Shell-style globs (`*`, `?`, `[...]`) in a file name, as `rule_files` and promtool
//! test files use them.

use std::path::{Path, PathBuf};

/// Files matching a `*`/`?` pattern in its last path component, sorted.
pub fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let pat = pattern
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let Some(re) = glob_regex(&pat) else {
        return vec![];
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|f| re.is_match(&f.to_string_lossy()))
        })
        .collect();
    out.sort();
    out
}

/// A glob (`*`, `?`, `[...]`) as an anchored regex; None when it is malformed.
pub fn glob_regex(pat: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!(
        "^{}$",
        regex::escape(pat)
            .replace(r"\*", ".*")
            .replace(r"\?", ".")
            .replace(r"\[", "[")
            .replace(r"\]", "]")
    ))
    .ok()
}
