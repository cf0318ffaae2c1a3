//! The layer rule of `docs/architecture.md`, read from the code: every `crate::…`, `super::…`
//! and `self::…` path outside tests is an arrow from the file it is written in to the module it
//! names. An arrow may point down (to a lower layer) or stay in its module, never up; and the
//! files of the library hold no import cycle. A change that breaks either fails here, naming
//! the arrow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest layer first; a module may use those of lower
/// layers only. Keep in step with the diagram in `docs/architecture.md`.
const LAYERS: &[&[&str]] = &[
    // Shared data and words: they import nothing of the pipeline.
    &["value", "cursor", "source", "redact", "functions"],
    &["diagnostics"],
    // The compiler's front (text, schemas), and the profile's settings.
    &["syntax", "schema", "profile"],
    &["project", "model"],
    // The compiler's core, and its entry points in the crate root.
    &["check"],
    &["plan"],
    &["lib"],
    // Protocols and storage: what the runtime talks to.
    &["odata"],
    &["connectors", "state"],
    &["runtime"],
    // What is built on the runtime and the compiler.
    &["testing", "schedule", "report", "drift"],
    &["lsp", "sandbox"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// One library file: its path, its module path and its text without tests and comments.
struct File {
    path: PathBuf,
    module: Vec<String>,
    code: String,
}

fn library_files() -> Vec<File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    collect(&src, &mut paths);
    paths
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&src).ok()?.to_path_buf();
            let text = std::fs::read_to_string(&path).ok()?;
            Some(File {
                module: module_path(&relative),
                code: code_of(&text),
                path: relative,
            })
        })
        .collect()
}

/// The `.rs` files under `dir`, without the binary's (`main.rs`, `cli/`) and test files.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "cli" {
                collect(&path, out);
            }
        } else if name.ends_with(".rs")
            && name != "main.rs"
            && name != "tests.rs"
            && !name.ends_with("_tests.rs")
        {
            out.push(path);
        }
    }
}

/// `a/b.rs` → `[a, b]`, `a/mod.rs` → `[a]`, `lib.rs` → `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text before the first `#[cfg(test)]`, without line comments (doc links are not
/// arrows).
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string (a URL) would cut real code; such lines name no module.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a file names through `crate::`, `super::` or `self::`, as absolute module paths
/// (groups such as `crate::{a, b::c}` give one path per member).
fn paths_named(file: &File) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = file.code.as_bytes();
    for (i, _) in file.code.match_indices("::") {
        let start = file.code[..i]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |p| p + 1);
        if start > 0 && bytes[start - 1] == b':' {
            continue;
        }
        let head = &file.code[start..i];
        let base: Vec<String> = match head {
            "crate" => Vec::new(),
            "self" => own_module(file),
            "super" => parent(&own_module(file)),
            _ => continue,
        };
        expand(&file.code[i + 2..], base, &mut out);
    }
    out
}

/// The module a file's `self` means: its own path (a `mod.rs` is its folder's module).
fn own_module(file: &File) -> Vec<String> {
    file.module.clone()
}

fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// Reads the rest of a path after `prefix::` into `out`: `a::b::C`, `super::x`, `{a, b::c}`.
fn expand(rest: &str, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut rest = rest;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..matching_brace(group)];
            for member in split_top_level(inner) {
                expand(member.trim(), prefix.clone(), out);
            }
            return;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let segment = &rest[..end];
        match segment {
            "" | "self" => break,
            "super" => prefix = parent(&prefix),
            s => prefix.push(s.to_string()),
        }
        match rest[end..].strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    out.push(prefix);
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[from..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The top-level module of a module path (`lib` for the crate root's own items).
fn top(module: &[String], modules: &BTreeSet<Vec<String>>) -> String {
    match module.first() {
        Some(m) if modules.contains(&vec![m.clone()]) => m.clone(),
        _ => "lib".to_string(),
    }
}

#[test]
fn arrows_between_layers_point_down() {
    let files = library_files();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut upward = BTreeSet::new();
    for file in &files {
        let from = top(&file.module, &modules);
        let Some(from_layer) = layer_of(&from) else {
            panic!("`{from}` ({}) has no layer in LAYERS", file.path.display());
        };
        for path in paths_named(file) {
            let to = top(&path, &modules);
            let Some(to_layer) = layer_of(&to) else {
                panic!("`{to}` (named in {}) has no layer", file.path.display());
            };
            if to != from && to_layer >= from_layer {
                upward.insert(format!(
                    "{} → {} ({} names `{}`)",
                    from,
                    to,
                    file.path.display(),
                    path.join("::")
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "arrows that do not point to a lower layer:\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The file a module path lives in: the longest prefix that is a file's module.
fn file_of<'a>(path: &[String], by_module: &BTreeMap<Vec<String>, &'a File>) -> Option<&'a File> {
    (1..=path.len())
        .rev()
        .find_map(|n| by_module.get(&path[..n]).copied())
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let files = library_files();
    let by_module: BTreeMap<Vec<String>, &File> =
        files.iter().map(|f| (f.module.clone(), f)).collect();
    let mut arrows: BTreeMap<&Path, BTreeSet<&Path>> = BTreeMap::new();
    for file in &files {
        for path in paths_named(file) {
            if let Some(to) = file_of(&path, &by_module).filter(|t| t.path != file.path) {
                // A child naming its parent's items is how a module shares them with its
                // files; only arrows between files that are not parent and child count.
                if !file.module.starts_with(&to.module) {
                    arrows
                        .entry(file.path.as_path())
                        .or_default()
                        .insert(to.path.as_path());
                }
            }
        }
    }
    let cycles = cycles(&arrows);
    assert!(
        cycles.is_empty(),
        "files that import each other:\n{}",
        cycles
            .iter()
            .map(|c| c
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ↔ "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The strongly connected groups of more than one file (Tarjan's algorithm, without recursion
/// being deep: the graph has a few hundred files).
fn cycles<'a>(arrows: &BTreeMap<&'a Path, BTreeSet<&'a Path>>) -> Vec<Vec<&'a Path>> {
    struct Walk<'a, 'g> {
        arrows: &'g BTreeMap<&'a Path, BTreeSet<&'a Path>>,
        index: BTreeMap<&'a Path, usize>,
        low: BTreeMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        on_stack: BTreeSet<&'a Path>,
        found: Vec<Vec<&'a Path>>,
    }
    impl<'a> Walk<'a, '_> {
        fn visit(&mut self, v: &'a Path) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for &w in self.arrows.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        arrows,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for &v in arrows.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn the_reader_sees_groups_and_relative_paths() {
    let file = File {
        path: PathBuf::from("runtime/engine/batch.rs"),
        module: vec!["runtime".into(), "engine".into(), "batch".into()],
        code: "use crate::{value::Value, plan::{self, Side}};\nuse super::labels;\nfn f() { crate::redact::redact(x); }".into(),
    };
    let named: Vec<String> = paths_named(&file).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        named,
        [
            "value::Value",
            "plan",
            "plan::Side",
            "runtime::engine::labels",
            "redact::redact"
        ]
    );
    let mut arrows: BTreeMap<&Path, BTreeSet<&Path>> = BTreeMap::new();
    let (a, b, c) = (Path::new("a.rs"), Path::new("b.rs"), Path::new("c.rs"));
    arrows.entry(a).or_default().insert(b);
    arrows.entry(b).or_default().insert(c);
    assert!(cycles(&arrows).is_empty());
    arrows.entry(c).or_default().insert(a);
    assert_eq!(cycles(&arrows), vec![vec![a, b, c]]);
}
