//! The language corpus: every `tests/cases/ok/*.map` compiles and its plan is snapshotted; every
//! `tests/cases/err/*.map` fails and its rendered diagnostics are snapshotted under its source.
//! Adding a case is adding a file. A case with a folder `NAME.live/` beside it holds the live
//! schemas of some of its systems (`ALIAS.json`): the drift `syncmap doctor` would report against
//! them is rendered with the diagnostics (the `E06xx` and `W06xx` codes). Also checks that every diagnostic code has a case, and that
//! every example in `docs/language.md` behaves as the document says.

// Test helpers may panic on broken fixtures: that is a test failure with a clear message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use syncmap::diagnostics::{render, Code};
use syncmap::project::FsLoader;

fn compile(path: &Path) -> syncmap::Compilation {
    // The corpus shares files between cases through `..`: the repository is its project folder.
    match syncmap::compile_within(&[path.to_path_buf()], Path::new(""), &FsLoader) {
        Ok(c) => c,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn relative(path: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Diagnostics plus the failures of inline tests, rendered without colour at a fixed width.
fn rendered(c: &mut syncmap::Compilation) -> String {
    rendered_with_live(c, None)
}

/// [`rendered`], plus the drift against the live schemas in `live` (`ALIAS.json` files).
fn rendered_with_live(c: &mut syncmap::Compilation, live: Option<&Path>) -> String {
    if let (Some(model), Some(plan)) = (&c.model, &c.plan) {
        let results = syncmap::testing::run_all(model, plan);
        c.diagnostics
            .extend(syncmap::testing::diagnostics(&results));
        for (alias, loaded) in live.map(|_| &c.project.schemas).into_iter().flatten() {
            let Some(dir) = live else { continue };
            let Ok(text) = std::fs::read_to_string(dir.join(format!("{alias}.json"))) else {
                continue;
            };
            let live_schema = syncmap::schema::load(&text).unwrap();
            let used = syncmap::drift::used_by(plan, alias);
            let findings = syncmap::drift::compare(&loaded.schema, &live_schema, &used);
            let cx = syncmap::drift::diagnose::Context {
                system: alias,
                sources: &c.project.sources,
                snapshot: loaded.file,
                maps: &c.project.files,
                snapshot_is_plan: false,
            };
            c.diagnostics
                .extend(syncmap::drift::diagnose::diagnostics(&findings, &cx));
        }
        c.diagnostics.sort();
    }
    render::human(&c.diagnostics, &c.project.sources, false)
}

#[test]
fn ok_cases_compile_to_the_snapshotted_plan() {
    insta::glob!("cases/ok/*.map", |path| {
        let mut c = compile(&relative(path));
        let text = rendered(&mut c);
        assert!(
            !c.diagnostics.has_errors(),
            "{} should compile:\n{text}",
            path.display()
        );
        let plan = c
            .plan
            .as_ref()
            .map(syncmap::plan::to_json)
            .unwrap_or_default();
        let warnings = if c.diagnostics.is_empty() {
            String::new()
        } else {
            format!("{text}\n")
        };
        insta::assert_snapshot!(format!("{warnings}{plan}"));
    });
}

#[test]
fn err_cases_render_the_snapshotted_diagnostics() {
    insta::glob!("cases/err/*.map", |path| {
        let rel = relative(path);
        let source = std::fs::read_to_string(path).unwrap_or_default();
        let mut c = compile(&rel);
        let live = rel.with_extension("live");
        let text = rendered_with_live(&mut c, live.is_dir().then_some(live.as_path()));
        let code = rel
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.split('-').next())
            .unwrap_or("");
        assert!(
            text.contains(&format!("syncmap::{code}")),
            "{} should report {code}:\n{text}",
            rel.display()
        );
        insta::assert_snapshot!(format!("{source}\n--- diagnostics ---\n{text}"));
    });
}

#[test]
fn every_code_has_an_error_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/err");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !names.iter().any(|n| n.starts_with(c)))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a case in tests/cases/err: {missing:?}"
    );
}

/// A fenced block of `docs/language.md`.
struct DocBlock {
    /// The line of its opening fence, counting from 1.
    line: usize,
    /// The first word of the info string (`map`, `json`, `text`…).
    lang: String,
    /// The other words of the info string (`error=E0304`, `fragment`, `plan`…).
    tags: Vec<String>,
    /// The text between the fences, with a final line break.
    text: String,
}

fn doc_blocks(doc: &str) -> Vec<DocBlock> {
    let mut out = Vec::new();
    let mut open: Option<DocBlock> = None;
    for (n, line) in doc.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut words = info.split_whitespace().map(str::to_string);
                    open = Some(DocBlock {
                        line: n + 1,
                        lang: words.next().unwrap_or_default(),
                        tags: words.collect(),
                        text: String::new(),
                    });
                }
            }
            Some(mut block) => {
                if trimmed == "```" {
                    out.push(block);
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                    open = Some(block);
                }
            }
        }
    }
    if let Some(block) = open {
        out.push(DocBlock {
            lang: "unclosed".into(),
            ..block
        });
    }
    out
}

/// Copies the files of `from` and of its sub-folders into `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let target = to.join(name);
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// `Ok` when every key of `want` is in `have` with the same value; arrays in `want` must be an
/// ordered subsequence of the arrays in `have` (element by element, by the same rule).
fn json_subset(want: &serde_json::Value, have: &serde_json::Value, at: &str) -> Result<(), String> {
    use serde_json::Value;
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, v) in w {
                let here = format!("{at}.{k}");
                match h.get(k) {
                    Some(hv) => json_subset(v, hv, &here)?,
                    None => return Err(format!("`{here}` is not in the plan")),
                }
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(h)) => {
            let mut next = 0;
            for (i, wv) in w.iter().enumerate() {
                let here = format!("{at}[{i}]");
                let found = (next..h.len()).find(|&j| json_subset(wv, &h[j], &here).is_ok());
                match found {
                    Some(j) => next = j + 1,
                    None => {
                        let why = h
                            .get(next.min(h.len().saturating_sub(1)))
                            .map(|hv| json_subset(wv, hv, &here))
                            .and_then(Result::err)
                            .unwrap_or_else(|| format!("`{here}` has no match in the plan"));
                        return Err(why);
                    }
                }
            }
            Ok(())
        }
        _ if want == have => Ok(()),
        _ => Err(format!(
            "`{at}`: the document says {want}, the plan has {have}"
        )),
    }
}

/// Whether `text` parses on its own and is already in `syncmap fmt` form; the problem if not.
fn parses_formatted(name: &str, text: &str) -> Result<(), String> {
    let mut sources = syncmap::source::SourceMap::new();
    let id = sources.add(name, text);
    match syncmap::syntax::parse(id, text) {
        Err(d) => Err(format!(
            "does not parse:\n{}",
            render::human(&d, &sources, false)
        )),
        Ok(ast) => {
            let formatted = syncmap::syntax::format::format(text, &ast);
            if formatted == text {
                Ok(())
            } else {
                Err(format!(
                    "is not in `syncmap fmt` form; formatted it reads:\n{formatted}"
                ))
            }
        }
    }
}

/// Every example in `docs/language.md` holds. Fenced blocks are checked by their info string:
///
/// * ```` ```map ```` — a complete file. It is written to a temporary folder that holds a copy of
///   `mappings/` (so `import "systems.map"`, or any standard mapping, resolves next to it),
///   compiled on its own, and must report no diagnostic at all; every inline `test` in it must
///   pass, and it must already be in `syncmap fmt` form.
/// * ```` ```map warning=W0002 ```` — the same, but it must report that warning (and no error).
/// * ```` ```map error=E0304 ```` — compiling it and running its inline tests must report that code.
/// * ```` ```map fragment ```` — must parse on its own and be in `syncmap fmt` form (not compiled).
/// * ```` ```json plan ```` — must be a subset of the plan compiled from the nearest complete
///   ```` ```map ```` block above it (see [`json_subset`]).
/// * Every other block (```` ```text ````, ```` ```sh ````) is not checked.
///
/// The catalogue tables are checked too: every built-in function and every diagnostic code has
/// its row. A failure names the line of the block's opening fence in `docs/language.md`.
#[test]
fn language_reference_examples_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc =
        std::fs::read_to_string(root.join("docs/language.md")).expect("read docs/language.md");
    let dir = tempfile::tempdir().expect("create a temporary folder");
    copy_tree(&root.join("mappings"), dir.path()).expect("copy mappings/ to the temporary folder");

    let blocks = doc_blocks(&doc);
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |b: &DocBlock, what: String| {
        let info = std::iter::once(b.lang.clone())
            .chain(b.tags.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        failures.push(format!("docs/language.md:{} (```{info}): {what}", b.line));
    };
    let mut checked = 0;
    let mut last_plan: Option<serde_json::Value> = None;
    for b in &blocks {
        match (b.lang.as_str(), b.tags.as_slice()) {
            ("unclosed", _) => fail(b, "the block is never closed".into()),
            ("map", [tag]) if tag == "fragment" => {
                checked += 1;
                last_plan = None;
                if let Err(e) = parses_formatted("fragment", &b.text) {
                    fail(b, e);
                }
            }
            ("map", tags) => {
                checked += 1;
                last_plan = None;
                let (mut error, mut warning) = (None, None);
                for tag in tags {
                    match tag.split_once('=') {
                        Some(("error", c)) if Code::parse(c).is_some() => error = Some(c),
                        Some(("warning", c)) if Code::parse(c).is_some() => warning = Some(c),
                        _ => fail(b, format!("unknown tag `{tag}`")),
                    }
                }
                let path = dir.path().join(format!("language-md-line-{}.map", b.line));
                std::fs::write(&path, &b.text).expect("write the example");
                let mut c = match syncmap::compile(std::slice::from_ref(&path), &FsLoader) {
                    Ok(c) => c,
                    Err(e) => {
                        fail(b, format!("cannot be compiled: {e}"));
                        continue;
                    }
                };
                let text = rendered(&mut c);
                let has = |code: &str| c.diagnostics.iter().any(|d| d.code.as_str() == code);
                match (error, warning) {
                    (Some(code), _) => {
                        if !has(code) {
                            fail(b, format!("should report {code}, but reports:\n{text}"));
                        }
                        continue;
                    }
                    (None, Some(code)) => {
                        if c.diagnostics.has_errors() || !has(code) {
                            fail(
                                b,
                                format!("should compile with warning {code}, but reports:\n{text}"),
                            );
                        }
                    }
                    (None, None) => {
                        if !c.diagnostics.is_empty() {
                            fail(b, format!("should compile cleanly, but reports:\n{text}"));
                        }
                    }
                }
                if let Err(e) = parses_formatted("example", &b.text) {
                    fail(b, e);
                }
                last_plan = c.plan.as_ref().and_then(|p| serde_json::to_value(p).ok());
            }
            ("json", [tag]) if tag == "plan" => {
                checked += 1;
                let want: serde_json::Value = match serde_json::from_str(&b.text) {
                    Ok(v) => v,
                    Err(e) => {
                        fail(b, format!("is not JSON: {e}"));
                        continue;
                    }
                };
                match &last_plan {
                    None => fail(
                        b,
                        "follows no ```map block that compiles cleanly; a plan excerpt needs one"
                            .into(),
                    ),
                    Some(plan) => {
                        if let Err(e) = json_subset(&want, plan, "plan") {
                            fail(b, e);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    assert!(checked > 0, "docs/language.md has no checked example");

    for f in syncmap::functions::BUILTINS {
        let row = doc
            .lines()
            .any(|l| l.starts_with(&format!("| `{}(", f.name)) && l.contains(f.doc));
        if !row {
            failures.push(format!(
                "docs/language.md: the function table has no row for `{}` with its doc text",
                f.name
            ));
        }
    }
    for code in Code::ALL {
        let c = code.as_str();
        let row = format!("| [{c}](diagnostics/{c}.md) | {} |", code.title());
        if !doc.lines().any(|l| l.starts_with(&row)) {
            failures.push(format!(
                "docs/language.md: the diagnostics table has no row `{row}`"
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "{} example(s) in docs/language.md do not hold:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The deepest expressions the language accepts compile, run in an inline test, and give a plan
/// `syncmap run` reads back (serde_json stops at 128 levels); one level more is E0106.
#[test]
fn deepest_accepted_expressions_compile_run_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let table = |name: &str, cols: &[(&str, &str)]| {
        let columns: Vec<serde_json::Value> = std::iter::once(("id", "int"))
            .chain(cols.iter().copied())
            .map(|(n, t)| serde_json::json!({"name": n, "type": t}))
            .collect();
        serde_json::json!({"format_version": 1, "tables": [{"name": name, "key": "id", "columns": columns}]})
            .to_string()
    };
    let a = table("people", &[("name", "string"), ("flag", "bool")]);
    let b = table(
        "contacts",
        &[
            ("o1", "string"),
            ("o2", "string"),
            ("o3", "string"),
            ("o4", "bool"),
        ],
    );
    std::fs::write(dir.path().join("a.json"), a).unwrap();
    std::fs::write(dir.path().join("b.json"), b).unwrap();
    // The table body is one level: MAX_DEPTH - 1 more fit inside it.
    let n = syncmap::syntax::MAX_DEPTH - 1;
    let source = |extra: usize| {
        let n = n + extra;
        format!(
            "system a: sqlite {{ schema = \"a.json\" }}\nsystem b: sqlite {{ schema = \"b.json\" }}\n\
             table t: a.people -> b.contacts {{\n    {}name{} -> o1\n    name{} -> o2\n    {}name{} -> o3\n    {}flag -> o4\n}}\n\
             test t {{\n    given a {{ name: \"x\", flag: true }}\n    expect b {{ o1: \"X\", o2: \"{}\", o3: \"x\", o4: {} }}\n}}\n",
            "upper(".repeat(n),
            ")".repeat(n),
            " + name".repeat(n),
            "if false then \"y\" else ".repeat(n),
            "",
            "not ".repeat(n),
            "x".repeat(n + 1),
            n.is_multiple_of(2),
        )
    };
    let path = dir.path().join("deep.map");
    std::fs::write(&path, source(0)).unwrap();
    let mut c =
        syncmap::compile_within(std::slice::from_ref(&path), dir.path(), &FsLoader).unwrap();
    let text = rendered(&mut c);
    assert!(c.diagnostics.is_empty(), "{text}");
    let json = syncmap::plan::to_json(c.plan.as_ref().unwrap());
    let back: syncmap::plan::Plan = serde_json::from_str(&json).expect("run reads the plan");
    assert_eq!(Some(&back), c.plan.as_ref());

    std::fs::write(&path, source(1)).unwrap();
    let c = syncmap::compile_within(std::slice::from_ref(&path), dir.path(), &FsLoader).unwrap();
    let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
    // The first place too deep takes its whole item out.
    assert_eq!(codes, ["E0106"]);
}

/// `tests/cases/err/CODE-*.json` are plan files the runtime must refuse with `CODE`; the
/// unedited plan of the same project reads back.
#[test]
fn plan_cases_are_refused_with_their_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/err");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        seen += 1;
        let code = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let err = syncmap::plan::from_json(&text).expect_err("the plan is refused");
        assert!(
            err.to_string().contains(&format!("syncmap::{code}")),
            "{err}"
        );
    }
    assert!(seen > 0);
}

#[test]
fn a_compiled_plan_reads_back_and_any_edit_is_noticed() {
    let mut c = compile(Path::new("tests/cases/ok/lookups.map"));
    assert!(!c.diagnostics.has_errors(), "{}", rendered(&mut c));
    let json = syncmap::plan::to_json(c.plan.as_ref().unwrap());
    assert_eq!(syncmap::plan::from_json(&json).ok(), c.plan);
    let edited = json
        .replacen("\"create\"", "\"update\"", 1)
        .replacen(": true", ": false", 1);
    assert_ne!(edited, json);
    assert!(syncmap::plan::from_json(&edited).is_err());
}

/// Serves one case's text as fixed, the shared files from disk.
struct Overlay {
    path: PathBuf,
    text: String,
}

impl syncmap::project::Loader for Overlay {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        if path == self.path {
            Ok(self.text.clone())
        } else {
            syncmap::project::Loader::load(&FsLoader, path)
        }
    }
}

/// Applies the safe fixes of one error case, round after round, when every error has one;
/// its text fixed, or `None` when some error has no safe fix.
fn fixed_case(case: &Path) -> Option<Overlay> {
    let mut overlay = Overlay {
        text: std::fs::read_to_string(case).unwrap(),
        path: case.to_path_buf(),
    };
    let mut applied_any = false;
    for _ in 0..8 {
        let c =
            syncmap::compile_within(std::slice::from_ref(&overlay.path), Path::new(""), &overlay)
                .unwrap();
        let errors: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.severity() == syncmap::diagnostics::Severity::Error)
            .collect();
        if errors.is_empty() {
            break;
        }
        let fixable = |d: &&syncmap::diagnostics::Diagnostic| {
            d.fix
                .as_deref()
                .is_some_and(|f| f.safe && c.project.path(f.file) == Some(case))
        };
        if !errors.iter().all(fixable) {
            let shown = render::human(&c.diagnostics, &c.project.sources, false);
            assert!(
                !applied_any,
                "{}: fixed, errors without a fix are left:\n{shown}",
                case.display()
            );
            return None;
        }
        let fixes = errors.iter().filter_map(|d| d.fix.as_deref());
        let (text, n) = syncmap::diagnostics::apply_fixes(&overlay.text, fixes);
        assert!(n > 0, "{}", case.display());
        overlay.text = text;
        applied_any = true;
    }
    applied_any.then_some(overlay)
}

/// Every error case whose errors all carry a safe fix (the ones `check --fix` applies) checks
/// clean once they are applied, round after round as a fix brings others to light.
#[test]
fn safe_fixes_of_the_corpus_leave_it_checking_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/err");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| relative(&e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|x| x == "map"))
        .collect();
    cases.sort();
    let mut fixed = Vec::new();
    for case in cases {
        let Some(overlay) = fixed_case(&case) else {
            continue;
        };
        let c =
            syncmap::compile_within(std::slice::from_ref(&case), Path::new(""), &overlay).unwrap();
        assert!(
            !c.diagnostics.has_errors(),
            "{} still has errors once fixed:\n{}\n{}",
            case.display(),
            overlay.text,
            render::human(&c.diagnostics, &c.project.sources, false)
        );
        fixed.push(case.display().to_string());
    }
    assert!(
        fixed.len() >= 8,
        "only {fixed:?} are fixed: fixes went missing"
    );
}
