//! Compiler throughput: parsing, and parsing plus checking plus planning, a project of 1,000
//! table mappings over the standard schema snapshots. The figures go in docs/benchmarks.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use syncmap::project::Loader;
use syncmap::source::FileId;

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

/// A project of `n` two-way customer ↔ account mappings with filters, lookups, value maps and
/// computed fields: the shape of real mappings, repeated.
fn project(n: usize) -> (Memory, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
    let mut text = String::from(
        "system bc: business_central { schema = \"schemas/business-central.json\" }\n\
         system dv: dataverse { schema = \"schemas/dataverse.json\" }\n\n\
         table currencies: bc.currencies -> dv.transactioncurrencies {\n\
             match code == isocurrencycode\n\
             code -> isocurrencycode [truncate]\n\
             displayName -> currencyname\n\
             symbol -> currencysymbol\n\
             1 -> exchangerate [create only]\n\
         }\n\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "table customers_{i}: bc.customers <-> dv.accounts {{\n\
             \x20   filter bc: blocked == \" \" and len(displayName) > 0\n\
             \x20   filter dv: statecode == \"Active\" and customertypecode == \"Customer\"\n\
             \x20   after currencies\n\
             \x20   on conflict: prefer dv\n\
             \x20   match displayName == name [case sensitive]\n\
             \x20   displayName <-> name [truncate]\n\
             \x20   addressLine1 <-> address1_line1 [truncate]\n\
             \x20   city <-> address1_city [truncate]\n\
             \x20   postalCode <-> address1_postalcode\n\
             \x20   email <-> emailaddress1 [truncate]\n\
             \x20   phoneNumber <-> telephone1 [truncate]\n\
             \x20   currencyCode <-> transactioncurrencyid via currencies.code [clear on failure]\n\
             \x20   upper(left(number, 20)) -> accountnumber\n\
             \x20   if creditLimit > 0 then creditLimit else null -> creditlimit [not null]\n\
             \x20   \"Customer\" -> customertypecode [create only]\n\
             }}\n\n"
        ));
    }
    let files = BTreeMap::from([
        (PathBuf::from("bench.map"), text.clone()),
        (
            PathBuf::from("schemas/business-central.json"),
            read("schemas/business-central.json"),
        ),
        (
            PathBuf::from("schemas/dataverse.json"),
            read("schemas/dataverse.json"),
        ),
    ]);
    (Memory(files), text)
}

fn compile(c: &mut Criterion) {
    let n = 1_000;
    let (memory, text) = project(n);
    let check = syncmap::compile(&[PathBuf::from("bench.map")], &memory).ok();
    let errors = check.map_or(usize::MAX, |c| c.diagnostics.error_count());
    assert_eq!(errors, 0, "the benchmark project must compile cleanly");
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
