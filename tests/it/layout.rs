//! The shape of the source: no two top-level modules of src/ import each other, directly or
//! through others (tests and comments aside), so each layer can be read and changed alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::support::root;

/// Top-level module -> the top-level modules its (non-test) code names as `crate::x`.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn no_import_cycles_between_top_level_modules() {
    let graph = module_graph(&root().join("src"));
    assert!(
        graph.get("apply").is_some_and(|uses| uses.contains("plan")),
        "the graph must see apply's use of plan: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn a_cycle_is_found_and_named() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .fold(Graph::new(), |mut graph, (from, to)| {
            graph.entry(from.into()).or_default().insert(to.into());
            graph
        });
    assert_eq!(find_cycle(&graph).expect("a cycle"), ["a", "b", "c", "a"]);
    let acyclic: Graph = Graph::from([("a".into(), BTreeSet::from(["b".into()]))]);
    assert_eq!(find_cycle(&acyclic), None);
    let text = "use crate::plan::x; // crate::lint\n#[cfg(test)]\nmod tests {\n    use crate::apply;\n}\nfn f() { crate::{sql, pg::ident}; }";
    assert_eq!(
        named_modules(text),
        BTreeSet::from(["pg".to_string(), "plan".into(), "sql".into()])
    );
}

fn module_graph(src: &Path) -> Graph {
    let mut tops = BTreeSet::new();
    for entry in fs::read_dir(src).expect("src/ reads").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.strip_suffix(".rs") {
            Some("lib" | "main") => {}
            Some(module) => drop(tops.insert(module.to_string())),
            None if entry.path().is_dir() => drop(tops.insert(name)),
            None => {}
        }
    }
    let mut graph = Graph::new();
    for top in &tops {
        let file = src.join(format!("{top}.rs"));
        let mut files = Vec::new();
        if file.exists() {
            files.push(file);
        }
        collect_rs(&src.join(top), &mut files);
        for file in files {
            let stem = file.file_stem().unwrap_or_default().to_string_lossy();
            if stem == "tests" || stem == "testing" || stem.ends_with("_tests") {
                continue;
            }
            let text = fs::read_to_string(&file).expect("a source file reads");
            let uses = named_modules(&text)
                .into_iter()
                .filter(|used| used != top && tops.contains(used));
            graph.entry(top.clone()).or_default().extend(uses);
        }
    }
    graph
}

fn collect_rs(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The first path segment after each `crate::` in code, leaving out comments and the items
/// under `#[cfg(test)]`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let code = without_test_items(&code);
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let group = match rest.strip_prefix('{') {
            Some(inner) => inner.split('}').next().unwrap_or_default(),
            None => rest,
        };
        for part in group.split(',') {
            let name: String = part
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
            if !rest.starts_with('{') {
                break;
            }
        }
    }
    names
}

/// `code` without each item that follows `#[cfg(test)]` (up to its `;` or its closing brace).
fn without_test_items(code: &str) -> String {
    let mut kept = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        let item = &rest[at..];
        let mut depth = 0;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    kept.push_str(rest);
    kept
}

/// A path `a -> b -> ... -> a` when the graph has a cycle.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}
