//! The README's configuration reference links every key to the type that holds it.
//! This keeps those links true: each linked file exists and defines the item the
//! link names (its last path segment), so a rename or a move fails here, not in a
//! reader's hands.

use std::path::Path;

#[test]
fn every_link_of_the_configuration_reference_names_an_item_in_its_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("README has a `## Configuration reference` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut checked = 0;
    let mut problems = Vec::new();
    // Links look like [`module::Item`](path/to/file.rs).
    for part in section.split("[`").skip(1) {
        let Some((name, rest)) = part.split_once("`](") else {
            continue;
        };
        let Some((file, _)) = rest.split_once(')') else {
            continue;
        };
        let item = name.rsplit("::").next().unwrap_or(name);
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            problems.push(format!("{name}: {file} does not exist"));
            continue;
        };
        // `Cli` in main.rs, or a module path such as `rules::file` (linked to its file).
        let defines = ["struct", "enum", "type", "fn", "trait", "const"]
            .iter()
            .any(|kw| text.contains(&format!("{kw} {item}")))
            || file.trim_end_matches(".rs").ends_with(item)
            || file.trim_end_matches("/mod.rs").ends_with(item);
        if !defines {
            problems.push(format!("{name}: {file} defines no `{item}`"));
        }
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} links found: is the table still there?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
