//! A check that the collector's, the dashboard's and the agent's top-level modules form no cycle:
//! each module's code (comments and test modules left out) names the modules it uses
//! as `crate::NAME`, and following those names never leads back. A leaf module (the
//! screen's geometry, the health counters) is how two modules share something without
//! importing each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `module -> modules it names`, for the crate whose sources are in `src`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).expect("below src");
        let first = rel.components().next().expect("a file below src");
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let is_test = rel
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs");
        if top == "lib" || top == "main" || is_test {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        // What follows `#[cfg(test)] mod tests {` is the file's test module.
        let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
        let code: String = code
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let used = edges.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            for name in named(&code[i + "crate::".len()..]) {
                if name != top {
                    used.insert(name);
                }
            }
        }
    }
    edges
}

/// The modules a path after `crate::` starts with: `ui::render` names `ui`, a group
/// `{app::App, layout}` (over several lines, as rustfmt writes long ones) names each.
fn named(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect();
    };
    let (mut depth, mut names, mut start) = (0usize, Vec::new(), 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(ident(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(ident(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// A cycle through `edges`, as the modules in order, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn collector_tui_and_agent_modules_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for krate in ["collector", "tui", "agent"] {
        let edges = graph(&root.join(krate).join("src"));
        assert!(edges.len() > 5, "{krate}: {edges:?}");
        if let Some(found) = cycle(&edges) {
            panic!(
                "{krate}: the modules {} import each other",
                found.join(" -> ")
            );
        }
    }
}

#[test]
fn paths_and_groups_name_their_modules() {
    assert_eq!(named("ui::render(app)"), ["ui"]);
    assert_eq!(
        named("{\n    app::{App, Tab},\n    layout,\n};"),
        ["app", "layout"]
    );
    assert!(named("*;").is_empty(), "a glob names no module");
}

#[test]
fn a_cycle_is_found_and_named() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("app", &["layout", "ui"][..]),
        ("ui", &["layout", "app"]),
        ("layout", &[]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(
        cycle(&edges),
        Some(vec!["app".into(), "ui".into(), "app".into()])
    );
    let mut acyclic = edges.clone();
    acyclic.get_mut("ui").expect("ui").remove("app");
    assert_eq!(cycle(&acyclic), None);
}
