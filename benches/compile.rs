//! Compiler throughput: parsing, and parsing plus checking plus planning, a project of 1,000
//! table mappings over the standard schema snapshots, in one file and in 1,002 files (each
//! table mapping in a file of its own). The figures go in docs/benchmarks.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::table;
use syncmap::project::Loader;
use syncmap::source::FileId;

#[path = "shared/mapping.rs"]
mod shared;

/// The allocator the `syncmap` binary uses (see `src/main.rs`), so the figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Files served from memory, so the benchmark measures the compiler and not the disk.
struct Memory(BTreeMap<PathBuf, String>);

impl Loader for Memory {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }
}

const SYSTEMS: &str =
    "system bc: business_central { schema = \"schemas/business-central.json\" }\n\
    system dv: dataverse { schema = \"schemas/dataverse.json\" }\n\n\
    table currencies: bc.currencies -> dv.transactioncurrencies {\n\
        match code == isocurrencycode\n\
        code -> isocurrencycode [truncate]\n\
        displayName -> currencyname\n\
        symbol -> currencysymbol\n\
        1 -> exchangerate [create only]\n\
    }\n\n";

/// The standard schema snapshots, under the paths the systems name.
fn schemas() -> BTreeMap<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
    ["schemas/business-central.json", "schemas/dataverse.json"]
        .into_iter()
        .map(|p| (PathBuf::from(p), read(p)))
        .collect()
}

/// A project of `n` table mappings in one file, `bench.map`.
fn project(n: usize) -> (Memory, String) {
    let mut text = String::from(SYSTEMS);
    for i in 0..n {
        text.push_str(&table(i));
    }
    let mut files = schemas();
    files.insert(PathBuf::from("bench.map"), text.clone());
    (Memory(files), text)
}

/// The same `n` table mappings, one file each under `tables/`, imported by `bench.map`, with
/// the systems in `systems.map`: `n + 2` files.
fn project_in_files(n: usize) -> Memory {
    let mut files = schemas();
    let mut main = String::from("import \"systems.map\"\n");
    for i in 0..n {
        main.push_str(&format!("import \"tables/customers_{i}.map\"\n"));
        let text = format!("import \"../systems.map\"\n\n{}", table(i));
        files.insert(PathBuf::from(format!("tables/customers_{i}.map")), text);
    }
    files.insert(PathBuf::from("systems.map"), SYSTEMS.to_string());
    files.insert(PathBuf::from("bench.map"), main);
    Memory(files)
}

/// Compiles `bench.map` of `memory`, which must compile cleanly.
fn compiles_cleanly(memory: &Memory, what: &str) {
    let c = syncmap::compile(&[PathBuf::from("bench.map")], memory).ok();
    let errors = c
        .as_ref()
        .map_or(usize::MAX, |c| c.diagnostics.error_count());
    assert_eq!(errors, 0, "{what} must compile cleanly");
    let tables = c.and_then(|c| c.plan).map_or(0, |p| p.tables.len());
    assert_eq!(tables, 1_001, "{what}: every table mapping planned");
}

fn compile(c: &mut Criterion) {
    let n = 1_000;
    let (memory, text) = project(n);
    let in_files = project_in_files(n);
    compiles_cleanly(&memory, "the one-file project");
    compiles_cleanly(&in_files, "the project in 1,002 files");
    let mut group = c.benchmark_group("compiler");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    group.bench_function("parse 1000 table mappings", |b| {
        b.iter(|| {
            syncmap::syntax::parse(FileId(0), &text)
                .map(|f| f.items.len())
                .unwrap_or(0)
        })
    });
    group.bench_function("parse + check + plan 1000 table mappings", |b| {
        b.iter(|| {
            syncmap::compile(&[PathBuf::from("bench.map")], &memory)
                .map(|c| c.plan.map(|p| p.tables.len()))
        })
    });
    group.bench_function(
        "parse + check + plan 1000 table mappings in 1002 files",
        |b| {
            b.iter(|| {
                syncmap::compile(&[PathBuf::from("bench.map")], &in_files)
                    .map(|c| c.plan.map(|p| p.tables.len()))
            })
        },
    );
    group.bench_function("format 1000 table mappings", |b| {
        let file = syncmap::syntax::parse(FileId(0), &text).ok();
        b.iter(|| {
            file.as_ref()
                .map(|f| syncmap::syntax::format::format(&text, f).len())
        })
    });
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
