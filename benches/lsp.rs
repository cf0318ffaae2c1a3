//! Language server latency: how long after a keystroke in a 2,000-line `.map` file the server
//! has re-checked the project and has the diagnostics ready to send, and how long a completion
//! request right after a keystroke takes. The project is a copy of the standard mappings plus
//! the big file, in a temporary folder, driven through `syncmap::lsp::Server` with the same
//! messages an editor sends (JSON framing aside). The figures go in docs/benchmarks.md.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lsp_server::{Message, Notification, Request, RequestId};
use lsp_types::{
    CompletionParams, DidChangeTextDocumentParams, DidOpenTextDocumentParams, InitializeParams,
    Position, Range, TextDocumentContentChangeEvent, TextDocumentIdentifier, TextDocumentItem,
    TextDocumentPositionParams, Uri, VersionedTextDocumentIdentifier,
};
use syncmap::lsp::Server;
use syncmap::project::FsLoader;
use syncmap::source::FileId;

/// The allocator the `syncmap` binary uses (see `src/main.rs`), so the figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "shared/mapping.rs"]
mod shared;

/// About 2,000 lines of two-way table mappings over the standard systems: the shape of real
/// mappings, repeated. Returns the text and the line of one `displayName` field to type in.
fn big_file() -> (String, u32) {
    let mut text = String::from("// A big project file for the language server benchmark.\n\n");
    let mut i = 0;
    let mut edit_line = 0;
    while text.lines().count() < 2_000 {
        if i == 55 {
            edit_line = text.lines().count() as u32 + 6;
        }
        text.push_str(&shared::table(i));
        i += 1;
    }
    (text, edit_line)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn notification<P: serde::Serialize>(method: &str, params: P) -> Message {
    Notification::new(method.to_string(), params).into()
}

/// A keystroke on the `displayName` line: `version` odd deletes the `e` of `displayName` (an
/// unknown column), even types it back.
fn keystroke(uri: &Uri, line: u32, version: i32) -> Message {
    let (range, text) = if version % 2 == 1 {
        (
            Range::new(Position::new(line, 14), Position::new(line, 15)),
            "",
        )
    } else {
        (
            Range::new(Position::new(line, 14), Position::new(line, 14)),
            "e",
        )
    };
    notification(
        "textDocument/didChange",
        DidChangeTextDocumentParams {
            text_document: VersionedTextDocumentIdentifier::new(uri.clone(), version),
            content_changes: vec![TextDocumentContentChangeEvent {
                range: Some(range),
                range_length: None,
                text: text.to_string(),
            }],
        },
    )
}

fn lsp(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"),
        dir.path(),
    );
    let (text, line) = big_file();
    assert!(text
        .lines()
        .nth(line as usize)
        .unwrap()
        .starts_with("    displayName <->"));
    let path = dir.path().join("big.map");
    std::fs::write(&path, &text).unwrap();
    let uri = Uri::from_str(&format!("file://{}", path.display())).unwrap();

    let mut server = Server::new(&InitializeParams::default());
    server.handle(notification(
        "textDocument/didOpen",
        DidOpenTextDocumentParams {
            text_document: TextDocumentItem::new(uri.clone(), "syncmap".into(), 0, text.clone()),
        },
    ));
    server.flush();
    let opened = server.take_messages();
    assert!(!opened.is_empty(), "diagnostics are published on open");

    let mut group = c.benchmark_group("language server");
    group.sample_size(30);
    // A keystroke either breaks the column name (the project then has an error: no plan, no
    // inline tests) or types it back (the whole of `check`: plan built, inline tests run). Each
    // measured keystroke starts from the other state, reached outside the measurement.
    let mut version = 0;
    for (name, breaks) in [
        ("keystroke that breaks a name, to diagnostics", true),
        ("keystroke that fixes it, to diagnostics", false),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Odd versions delete the `e`, even ones type it back.
                    version += 1;
                    if (version % 2 == 1) != breaks {
                        server.handle(keystroke(&uri, line, version));
                        server.flush();
                        server.take_messages();
                        version += 1;
                    }
                    let start = Instant::now();
                    server.handle(keystroke(&uri, line, version));
                    server.flush();
                    let sent = server.take_messages();
                    total += start.elapsed();
                    assert_eq!(sent.len(), 1, "one publishDiagnostics per keystroke");
                }
                total
            })
        });
    }
    let completion = |id: i32| -> Message {
        Request::new(
            RequestId::from(id),
            "textDocument/completion".to_string(),
            CompletionParams {
                text_document_position: TextDocumentPositionParams::new(
                    TextDocumentIdentifier::new(uri.clone()),
                    Position::new(line, 8),
                ),
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
                context: None,
            },
        )
        .into()
    };
    group.bench_function("completion (no keystroke before it)", |b| {
        b.iter(|| {
            server.handle(completion(0));
            server.take_messages()
        })
    });
    // For comparison: the parse of the big buffer alone, and a check of the same project with
    // nothing kept between runs (every file and snapshot read and parsed again).
    group.bench_function("parse the 2,000-line file alone", |b| {
        b.iter(|| {
            syncmap::syntax::parse_recovering(FileId(0), &text)
                .file
                .items
                .len()
        })
    });
    let inputs: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    group.bench_function("check from scratch, nothing cached", |b| {
        b.iter(|| {
            syncmap::compile(&inputs, &FsLoader)
                .map(|c| c.diagnostics.error_count())
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, lsp);
criterion_main!(benches);
