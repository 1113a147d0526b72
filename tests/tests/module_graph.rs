//! The module graphs of both crates, read from their source: which module refers to
//! which (`crate::x` paths, `use` lines and inline, and `super::`), with test
//! modules left out. Checked here:
//! - no cycle among a crate's top-level modules (`config` assembles the components'
//!   sections; no component refers back to it), and none among its files, where a
//!   `mod.rs` declaring or re-exporting its own children does not count;
//! - the PromQL engine refers to nothing outside itself, and the rule code to
//!   nothing above the engine and the leaf types, so both can become crates.
//!
//! Run alone: `cargo test -p e2e --test module_graph -- --nocapture` prints the
//! top-level graph of each crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's source files by module path (`["notify", "email", "config"]`).
struct Crate {
    name: &'static str,
    files: BTreeMap<Vec<String>, PathBuf>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read_crate(name: &'static str, src: &Path) -> Crate {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(src, &mut paths);
    let mut files = BTreeMap::new();
    for p in paths {
        let rel = p.strip_prefix(src).expect("under src");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts
            .last()
            .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
        {
            parts.pop();
        }
        // Binaries use the library by its crate name, like any other user.
        if rel == Path::new("main.rs") {
            continue;
        }
        files.insert(parts, p);
    }
    Crate { name, files }
}

/// The production part of a file: without its `#[cfg(test)]` items (a `mod tests`
/// block, a `mod fixtures;` line, a test-only function).
fn production(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // Skip the item the attribute guards: one line ending in `;`, or a block
        // until its braces balance.
        let mut depth = 0i32;
        for item in lines.by_ref() {
            depth += item.matches('{').count() as i32 - item.matches('}').count() as i32;
            let t = item.trim_end();
            if depth <= 0 && (t.ends_with(';') || t.ends_with('}')) {
                break;
            }
        }
    }
    out
}

/// Every module path a file refers to, absolute (`crate::a::b`, `super::c`,
/// grouped `crate::{a, b::c}`), as far as the path names modules or items in them.
fn references(module: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Byte-wise scan: skip positions inside a multi-byte character.
        let Some(rest) = code.get(i..) else {
            i += 1;
            continue;
        };
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let (base, len) = if boundary && rest.starts_with("crate::") {
            (Vec::new(), 7)
        } else if boundary && rest.starts_with("super::") {
            // `super` of a `mod.rs` (or of a top-level file) is its parent module.
            let mut base = module.to_vec();
            let mut n = 0;
            let mut r = rest;
            while r.starts_with("super::") {
                n += 1;
                r = &r[7..];
            }
            for _ in 0..n {
                base.pop();
            }
            (base, 7 * n)
        } else {
            i += 1;
            continue;
        };
        for path in expand(&code[i + len..]) {
            let mut full = base.clone();
            full.extend(path);
            out.insert(full);
        }
        i += len;
    }
    out
}

/// The paths after `crate::` at the start of `s`: `a::b::C` or a `{...}` group.
fn expand(s: &str) -> Vec<Vec<String>> {
    let ident_end = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut cur = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        items.push(cur);
        return items.iter().flat_map(|it| expand(it.trim())).collect();
    }
    let mut path = Vec::new();
    let mut r = s;
    loop {
        let n = ident_end(r);
        if n == 0 {
            if r.starts_with('{') {
                return expand(r)
                    .into_iter()
                    .map(|tail| path.iter().cloned().chain(tail).collect())
                    .collect();
            }
            break;
        }
        path.push(r[..n].to_string());
        r = &r[n..];
        match r.strip_prefix("::") {
            Some(next) => r = next,
            None => break,
        }
    }
    if path.is_empty() || path[0] == "self" {
        Vec::new()
    } else {
        vec![path]
    }
}

/// The file a module path lives in: the longest prefix that is a file's module.
fn owner<'a>(c: &'a Crate, path: &[String]) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|n| c.files.get_key_value(&path[..n]).map(|(k, _)| k))
}

/// What a `mod.rs` re-exports from its children: item name → child module
/// (`pub use child::{A, b::C}` maps `A` and `C` to `child`; a glob maps `*`).
fn reexports(module: &[String], text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for stmt in text.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.strip_prefix("self::").unwrap_or(rest);
        let Some((child, items)) = rest.split_once("::") else {
            continue;
        };
        if !child.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let mut m = module.to_vec();
        m.push(child.to_string());
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            // `a::b::C as D` names `D` here; `a::{C}` was flattened by the split.
            let item = item.trim();
            let name = match item.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => item
                    .rsplit("::")
                    .next()
                    .unwrap_or(item)
                    .trim_matches(['{', '}', ' ']),
            };
            if !name.is_empty() {
                out.insert(name.to_string(), m.clone());
            }
        }
    }
    out
}

/// File → files it refers to. A `mod.rs` referring to its own descendants
/// (declaring or re-exporting them) is containment, not use; a reference to a
/// `mod.rs` from outside also reaches the children it re-exports.
fn file_graph(c: &Crate) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let texts: BTreeMap<&Vec<String>, String> = c
        .files
        .iter()
        .map(|(m, p)| {
            (
                m,
                production(&std::fs::read_to_string(p).expect("read source")),
            )
        })
        .collect();
    let reexported: BTreeMap<&Vec<String>, BTreeMap<String, Vec<String>>> = c
        .files
        .keys()
        .map(|m| (m, reexports(m, &texts[m])))
        .collect();
    let mut g = BTreeMap::new();
    for (module, path) in &c.files {
        let is_mod_rs = path.file_name().is_some_and(|n| n == "mod.rs");
        let mut to = BTreeSet::new();
        for r in references(module, &texts[module]) {
            let Some(mut target) = owner(c, &r).cloned() else {
                continue;
            };
            // An item reached through a parent's `pub use` lives in the child.
            while let Some(item) = r.get(target.len()) {
                let via = reexported
                    .get(&target)
                    .and_then(|re| re.get(item).or_else(|| re.get("*")));
                match via.and_then(|child| owner(c, child)) {
                    Some(child) if child != &target => target = child.clone(),
                    _ => break,
                }
            }
            let descendant = target.len() > module.len() && target.starts_with(module);
            if &target != module && !(is_mod_rs && descendant) && !module.is_empty() {
                to.insert(target);
            }
        }
        g.insert(module.clone(), to);
    }
    g
}

/// Top-level module → top-level modules it refers to.
fn top_graph(c: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in file_graph(c) {
        let Some(f) = from.first() else { continue };
        let entry = g.entry(f.clone()).or_default();
        for t in tos {
            if let Some(t) = t.first()
                && t != f
            {
                entry.insert(t.clone());
            }
        }
    }
    g
}

/// The cycles of a graph (strongly connected components with more than one node).
fn cycles<N: Ord + Clone>(g: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    // Kosaraju: finish order on g, then components on the reverse graph.
    let nodes: Vec<N> = g.keys().cloned().collect();
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in &nodes {
        let mut stack = vec![(n.clone(), false)];
        while let Some((x, done)) = stack.pop() {
            if done {
                order.push(x);
                continue;
            }
            if !seen.insert(x.clone()) {
                continue;
            }
            stack.push((x.clone(), true));
            for y in g.get(&x).into_iter().flatten() {
                if !seen.contains(y) {
                    stack.push((y.clone(), false));
                }
            }
        }
    }
    let mut rev: BTreeMap<N, BTreeSet<N>> = BTreeMap::new();
    for (a, bs) in g {
        for b in bs {
            rev.entry(b.clone()).or_default().insert(a.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.into_iter().rev() {
        if assigned.contains(&n) {
            continue;
        }
        let mut comp = Vec::new();
        let mut stack = vec![n];
        while let Some(x) = stack.pop() {
            if !assigned.insert(x.clone()) {
                continue;
            }
            comp.push(x.clone());
            for y in rev.get(&x).into_iter().flatten() {
                if !assigned.contains(y) {
                    stack.push(y.clone());
                }
            }
        }
        if comp.len() > 1 {
            comp.sort();
            out.push(comp);
        }
    }
    out
}

fn crates() -> Vec<Crate> {
    let ws = workspace();
    vec![
        read_crate("exporter", &ws.join("exporter/src")),
        read_crate("alerter", &ws.join("alerter/src")),
        read_crate("config-values", &ws.join("alerter/config-values/src")),
    ]
}

#[test]
fn no_cycles_among_modules_or_files() {
    let mut problems = Vec::new();
    for c in crates() {
        let top = top_graph(&c);
        println!("{}:", c.name);
        for (m, tos) in &top {
            println!(
                "  {m} -> {}",
                tos.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for cyc in cycles(&top) {
            problems.push(format!(
                "{}: modules in a cycle: {}",
                c.name,
                cyc.join(" <-> ")
            ));
        }
        for cyc in cycles(&file_graph(&c)) {
            let names: Vec<String> = cyc.iter().map(|m| m.join("::")).collect();
            problems.push(format!(
                "{}: files in a cycle: {}",
                c.name,
                names.join(" <-> ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// promql/ could be lifted into its own crate as it is; rules/ needs only promql and
/// the leaf types, never configuration, notification, dispatch or the server.
#[test]
fn promql_and_rules_depend_on_nothing_above_them() {
    let c = read_crate("alerter", &workspace().join("alerter/src"));
    let g = file_graph(&c);
    let mut problems = Vec::new();
    for (from, tos) in &g {
        for to in tos {
            let (f, t) = (from[0].as_str(), to[0].as_str());
            let bad = match f {
                "promql" => t != "promql",
                "rules" => matches!(
                    t,
                    "config"
                        | "notify"
                        | "dispatch"
                        | "server"
                        | "api"
                        | "inhibit"
                        | "silence"
                        | "selfmon"
                        | "selftest"
                        | "store"
                        | "provider"
                ),
                _ => false,
            };
            if bad {
                problems.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The reader above must see what it claims to: a known arrow and a made-up cycle.
#[test]
fn the_reader_finds_arrows_and_cycles() {
    let r = references(
        &["a".into(), "b".into()],
        &production(
            "use crate::{x::Y, z};\nfn f() { super::c::d(); crate::w::f() }\n#[cfg(test)]\nmod tests { use crate::q; }",
        ),
    );
    let got: Vec<String> = r.iter().map(|p| p.join("::")).collect();
    assert_eq!(got, ["a::c::d", "w::f", "x::Y", "z"]);
    let p = production(
        "a\n#[cfg(test)]\nmod fixtures;\nb\n#[cfg(test)]\nfn f() {\n  x();\n}\nc\n#[cfg(test)]\nmod tests {\n  fn g() {}\n}\n",
    );
    assert_eq!(p, "a\nb\nc\n");
    let g: BTreeMap<u8, BTreeSet<u8>> = [
        (1, [2].into()),
        (2, [3].into()),
        (3, [1].into()),
        (4, [1].into()),
    ]
    .into();
    assert_eq!(cycles(&g), vec![vec![1, 2, 3]]);
}
