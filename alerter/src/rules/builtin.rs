//! The rule files of this repository's `rules/`, compiled into the binary so the
//! built-in config (and any config naming `<built-in>/rules/...`) evaluates them
//! where no `rules/` directory exists, as in the container image.

use std::path::{Path, PathBuf};

use super::file::{GroupDef, RuleError, parse_rules};
use super::glob::{glob_files, glob_regex};

/// How a `rule_files` entry names the embedded files: `<built-in>/rules/*.yml`.
pub const PREFIX: &str = "<built-in>/";

/// Each embedded file by its name under [`PREFIX`]. A test checks this list against
/// the `rules/*.yml` of the repository, so a new rule file cannot be forgotten.
pub const FILES: &[(&str, &str)] = &[
    ("rules/api.yml", include_str!("../../../rules/api.yml")),
    (
        "rules/celery.yml",
        include_str!("../../../rules/celery.yml"),
    ),
    (
        "rules/containers.yml",
        include_str!("../../../rules/containers.yml"),
    ),
    ("rules/host.yml", include_str!("../../../rules/host.yml")),
    ("rules/redis.yml", include_str!("../../../rules/redis.yml")),
    (
        "rules/targets.yml",
        include_str!("../../../rules/targets.yml"),
    ),
];

/// The embedded files matching `pattern` (the part after [`PREFIX`]; `*`, `?` and
/// `[...]` as in a file glob), parsed; errors name the file as `<built-in>/rules/x.yml`.
/// `Ok(None)` when nothing matches.
pub fn load(pattern: &str) -> Result<Option<Vec<GroupDef>>, Vec<RuleError>> {
    let Some(re) = glob_regex(pattern) else {
        return Ok(None);
    };
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    let mut found = false;
    for (name, text) in FILES.iter().filter(|(n, _)| re.is_match(n)) {
        found = true;
        match parse_rules(&path(name), text) {
            Ok(g) => groups.extend(g),
            Err(e) => errs.extend(e),
        }
    }
    match (found, errs.is_empty()) {
        (false, _) => Ok(None),
        (true, true) => Ok(Some(groups)),
        (true, false) => Err(errs),
    }
}

fn path(name: &str) -> PathBuf {
    Path::new(&format!("{PREFIX}{name}")).to_path_buf()
}

/// Loads `rule_files` entries: globs relative to `base_dir`, or `<built-in>/...` for the
/// rule files compiled into the binary. A pattern that matches nothing is an error; all
/// errors are returned as `file:line: message`.
pub fn load_patterns(base_dir: &Path, patterns: &[String]) -> Result<Vec<GroupDef>, Vec<String>> {
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for pat in patterns {
        if let Some(rest) = pat.strip_prefix(PREFIX) {
            match load(rest) {
                Ok(Some(g)) => groups.extend(g),
                Ok(None) => errs.push(format!("rule_files: {pat:?} matches no built-in file")),
                Err(e) => errs.extend(e.iter().map(ToString::to_string)),
            }
            continue;
        }
        let p = base_dir.join(pat);
        if pat.contains(['*', '?', '[']) {
            let found = glob_files(&p);
            if found.is_empty() {
                errs.push(format!("rule_files: {pat:?} matches no file"));
            }
            files.extend(found);
        } else {
            files.push(p);
        }
    }
    match super::file::check_files(&files) {
        Ok(g) => groups.extend(g),
        Err(e) => errs.extend(e.iter().map(ToString::to_string)),
    }
    if errs.is_empty() {
        Ok(groups)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `rules/*.yml` of the repository is embedded, and nothing else.
    #[test]
    fn embeds_every_rule_file_of_the_repository() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("rules/")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".yml"))
            .map(|n| format!("rules/{n}"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_string()).collect();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn patterns_select_files_and_errors_name_them() {
        let all = load("rules/*.yml").unwrap().unwrap();
        assert!(all.iter().any(|g| g.name == "targets"));
        assert!(
            all.iter()
                .all(|g| g.file.to_string_lossy().starts_with("<built-in>/rules/"))
        );
        let one = load("rules/targets.yml").unwrap().unwrap();
        assert!(one.iter().all(|g| g.name == "targets"));
        assert!(load("rules/nope*.yml").unwrap().is_none());
        let e = parse_rules(
            &path("rules/x.yml"),
            "groups: [{name: a, rules: [{alert: A, expr: 'up =='}]}]",
        )
        .unwrap_err();
        assert!(
            e[0].to_string().starts_with("<built-in>/rules/x.yml:1:"),
            "{}",
            e[0]
        );
    }
}
