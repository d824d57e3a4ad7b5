//! The layout ARCHITECTURE.md promises, checked on the source text:
//! - the mathematics never names the book's machinery (`crate::book`);
//! - the module graph has no circle, at the top level and inside every folder module;
//! - no file under `src/` is longer than [`MAX_LINES`] unless [`LONG_FILES`] says why.
//!
//! Edges are the module paths a file names outside comments and `#[cfg(test)]` code:
//! `crate::a::b`, `super::b`, `use crate::{a, b}`. Items re-exported by a parent (`super::Mlp`)
//! are not edges between siblings; name the sibling module to make the edge visible.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// The top-level modules in dependency order (ARCHITECTURE.md): each uses only modules before it.
const ORDER: &[&str] = &[
    "error",
    "rng",
    "progress",
    "quadrature",
    "sde",
    "mixture",
    "tape",
    "nn",
    "loss",
    "fast",
    "score",
    "divergence",
    "metrics",
    "train",
    "ode",
    "sampling",
    "likelihood",
    "ddpm",
    "digits",
    "book",
];

/// Files allowed past [`MAX_LINES`], with the reason.
const LONG_FILES: &[(&str, &str)] = &[];

/// A source file: its module path below `src/` and its code without comments or tests.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    code: String,
    lines: usize,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.starts_with(root.join("bin")))
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap();
            let mut module: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let lines = text.lines().count();
            let before_tests = text.split("#[cfg(test)]").next().unwrap();
            let code = before_tests
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            Source {
                path: p,
                module,
                code,
                lines,
            }
        })
        .collect()
}

/// The module paths named in `code`, resolved against the file's module `m`.
fn named_paths(code: &str, m: &[String]) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(m))] {
        for (i, _) in code.match_indices(prefix) {
            // `a::crate::x` or `super::super::` are not roots.
            if i > 0 && code[..i].ends_with("::") {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for part in group.split(',') {
                    let mut p = base.clone();
                    p.extend(ident(part.trim()));
                    out.push(p);
                }
            } else {
                let mut p = base.clone();
                p.extend(ident(rest));
                out.push(p);
            }
        }
    }
    out
}

/// The parent of a file's module: `super` in that file.
fn parent(m: &[String]) -> Vec<String> {
    m[..m.len().saturating_sub(1)].to_vec()
}

fn has_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search with colours; returns one circle.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The edges between the children of module `parent` (a folder module or the crate root).
fn graph_of(
    srcs: &[Source],
    modules: &BTreeSet<Vec<String>>,
    parent: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let depth = parent.len();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in srcs {
        if s.module.len() <= depth || s.module[..depth] != *parent {
            continue;
        }
        let from = &s.module[depth];
        for p in named_paths(&s.code, &s.module) {
            if p.len() > depth && p[..depth] == *parent && modules.contains(&p[..=depth].to_vec()) {
                let to = &p[depth];
                if to != from {
                    edges.entry(from.clone()).or_default().insert(to.clone());
                }
            }
        }
    }
    edges
}

#[test]
fn mathematics_does_not_depend_on_the_book() {
    let srcs = sources();
    let mut offenders = Vec::new();
    for s in srcs
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m != "book"))
    {
        for p in named_paths(&s.code, &s.module) {
            if p.first().is_some_and(|m| m == "book") {
                offenders.push(format!(
                    "{} names crate::{}",
                    s.path.display(),
                    p.join("::")
                ));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn module_graph_has_no_circle() {
    let srcs = sources();
    let modules: BTreeSet<Vec<String>> = srcs.iter().map(|s| s.module.clone()).collect();
    let parents: BTreeSet<Vec<String>> = modules.iter().map(|m| parent(m)).collect();
    let mut checked = 0;
    for p in &parents {
        let g = graph_of(&srcs, &modules, p);
        checked += g.values().map(BTreeSet::len).sum::<usize>();
        if let Some(c) = has_cycle(&g) {
            panic!("import circle under `{}`: {}", p.join("::"), c.join(" -> "));
        }
    }
    // The top level alone has dozens of edges: the parser sees them.
    assert!(
        checked > 40,
        "only {checked} edges found: the path parser is broken"
    );
}

#[test]
fn top_level_modules_follow_the_stated_order() {
    let srcs = sources();
    let modules: BTreeSet<Vec<String>> = srcs.iter().map(|s| s.module.clone()).collect();
    let top: BTreeSet<&str> = srcs
        .iter()
        .filter_map(|s| s.module.first().map(String::as_str))
        .collect();
    let listed: BTreeSet<&str> = ORDER.iter().copied().collect();
    assert_eq!(top, listed, "ORDER must list every top-level module");
    let rank = |m: &str| ORDER.iter().position(|o| *o == m).unwrap();
    let mut wrong = Vec::new();
    for (from, tos) in graph_of(&srcs, &modules, &[]) {
        for to in tos {
            if rank(&to) >= rank(&from) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "edges against ORDER: {wrong:?}");
}

#[test]
fn the_circle_finder_finds_circles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(has_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        has_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let m = vec!["fast".to_string(), "gemm".to_string()];
    let p = named_paths(
        "use super::simd::tile;\nuse crate::{error::Result, nn};\nx::crate::no",
        &m,
    );
    assert_eq!(
        p,
        vec![
            vec!["error".to_string(), "Result".into()],
            vec!["nn".to_string()],
            vec!["fast".to_string(), "simd".into(), "tile".into()],
        ]
    );
}

#[test]
fn no_source_file_is_too_long() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|s| s.lines > MAX_LINES)
        .filter(|s| !LONG_FILES.iter().any(|(f, _)| s.path.ends_with(f)))
        .map(|s| format!("{} ({} lines)", s.path.display(), s.lines))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines without a reason in LONG_FILES: {long:#?}"
    );
}
