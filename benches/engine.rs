//! Runtime throughput; the figures go in docs/benchmarks.md.
//!
//! * **interpreter** (criterion): a 30-field mapping with transforms, evaluated with the real
//!   evaluator over rows held in memory: no I/O, no state store.
//! * **sync** (timed by hand, each run a separate `syncmap run` process): two SQLite systems
//!   shaped like the standard Business Central and Dataverse tables, a two-way customers ↔
//!   accounts mapping of 13 fields; a full sync, a repeated full sync, modified-only runs with
//!   10 changed rows, and each run's peak memory (max RSS, from `/usr/bin/time` when installed,
//!   else from `/proc/PID/status` polled while it runs). After the runs, the accounts are
//!   checked complete and exact against the customers (a multiset of their mapped values, read
//!   straight from both files), so speed never hides a loss.
//!
//! `cargo bench --bench engine` runs both and prints markdown tables for docs/benchmarks.md.
//! `cargo bench --bench engine -- interpreter` or `-- sync` runs one part. Environment:
//! `SYNCMAP_BENCH_ROWS` — source rows per sync scenario, comma-separated (default
//! `10000,100000,1000000`); `SYNCMAP_BENCH_KEEP=1` keeps the databases and prints where;
//! `SYNCMAP_BENCH_POSTGRES=URL` (a server, as `.ci/postgres` prints) measures the full syncs again
//! with the state store in a PostgreSQL database of their own, beside SQLite.
//! Without `--bench` (`cargo test --benches`) every part runs once, small, as a smoke test.

#[path = "shared/database.rs"]
mod database;
#[path = "shared/engine_postgres.rs"]
mod postgres;

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use syncmap::connectors::sqlite::SqliteConnector;
use syncmap::connectors::{Connector, Row, TableRef, WriteOp};
use syncmap::plan::{Plan, Side};
use syncmap::project::{FsLoader, Loader};
use syncmap::runtime::eval::{Compiled, Context, NoLookups, UserFunctions};
use syncmap::value::Value;

/// The allocator the `syncmap` binary uses (see `src/main.rs`), so the figures are the tool's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let args = Args::parse();
    if args.wants("interpreter") {
        let mut c = Criterion::default().configure_from_args();
        interpreter_criterion(&mut c)?;
        c.final_summary();
    }
    let mut tables = Vec::new();
    if args.wants("interpreter") && args.bench {
        tables.push(interpreter_table()?);
    }
    if args.wants("sync") {
        let sizes = if args.bench {
            rows_from_env()?
        } else {
            vec![300]
        };
        tables.push(sync_tables(&sizes, args.bench)?);
    }
    if !tables.is_empty() {
        println!("\n{}", machine_line());
        for t in tables {
            println!("\n{t}");
        }
    }
    Ok(())
}

/// The little of the command line this harness reads; criterion reads the rest.
struct Args {
    /// `cargo bench` passes `--bench`; without it (`cargo test --benches`) runs are smoke tests.
    bench: bool,
    /// The first free argument: only benchmarks whose name contains it run.
    filter: Option<String>,
}

impl Args {
    fn parse() -> Args {
        // Criterion options that take a value, so their value is not taken for the filter.
        const VALUED: &[&str] = &[
            "--save-baseline",
            "-s",
            "--baseline",
            "-b",
            "--baseline-lenient",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--profile-time",
            "--plotting-backend",
            "--output-format",
            "--color",
            "-c",
            "--format",
        ];
        let mut bench = false;
        let mut filter = None;
        let mut skip = false;
        for a in std::env::args().skip(1) {
            if skip {
                skip = false;
            } else if a == "--bench" {
                bench = true;
            } else if VALUED.contains(&a.as_str()) {
                skip = true;
            } else if !a.starts_with('-') && filter.is_none() {
                filter = Some(a);
            }
        }
        Args { bench, filter }
    }

    /// Whether benchmarks named `name …` run.
    fn wants(&self, name: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| name.contains(f) || f.contains(name))
    }
}

fn rows_from_env() -> Result<Vec<u64>> {
    let text =
        std::env::var("SYNCMAP_BENCH_ROWS").unwrap_or_else(|_| "10000,100000,1000000".to_string());
    let mut sizes = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n: u64 = part
            .replace('_', "")
            .parse()
            .map_err(|e| format!("SYNCMAP_BENCH_ROWS: `{part}` is not a row count: {e}"))?;
        sizes.push(n.max(20));
    }
    Ok(sizes)
}

fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or_else(
            || "?".to_string(),
            |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0),
        );
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!("Measured on {cores} cores, {mem}, {build} build (`cargo bench --bench engine`).")
}

// ───────────── the interpreter ─────────────

/// Files served from memory, as in the compiler benchmark.
struct Memory(BTreeMap<PathBuf, String>);

impl Loader for Memory {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }
}

/// Source columns of the wide table, with their types.
const WIDE_SOURCE: &[(&str, &str)] = &[
    ("name", "string"),
    ("code", "string"),
    ("address", "string"),
    ("address2", "string"),
    ("city", "string"),
    ("country", "string"),
    ("phone", "string"),
    ("fax", "string"),
    ("email", "string"),
    ("website", "string"),
    ("contact", "string"),
    ("first_name", "string"),
    ("last_name", "string"),
    ("vat", "string"),
    ("currency", "string"),
    ("language", "string"),
    ("notes", "string"),
    ("blocked", "string"),
    ("credit_limit", "decimal"),
    ("balance", "decimal"),
    ("discount_pct", "decimal"),
    ("payment_days", "int"),
    ("employees", "int"),
    ("priority", "int"),
    ("rating", "int"),
    ("tax_liable", "bool"),
    ("vip", "bool"),
    ("created", "date"),
    ("last_order", "date"),
];

/// The 30 field mappings: destination column, its type, and the source expression (`SOURCE |
/// using {…}` for a value map).
const WIDE_FIELDS: &[(&str, &str, &str)] = &[
    ("name", "string", "trim(name)"),
    ("accountnumber", "string", "upper(trim(code))"),
    ("line1", "string", "concat(address, \", \", address2)"),
    ("city", "string", "upper(city)"),
    ("email", "string", "lower(trim(email))"),
    ("phone", "string", "left(phone, 20)"),
    ("fax", "string", "replace(fax, \" \", \"\")"),
    (
        "website",
        "string",
        "if starts_with(website, \"http\") then website else \"https://\" + website",
    ),
    (
        "primary_contact",
        "string",
        "contact ?? (first_name + \" \" + last_name)",
    ),
    (
        "country_name",
        "string",
        "country | using { \"FR\" => \"France\", \"DE\" => \"Germany\", \"GB\" => \"United Kingdom\", \"US\" => \"United States\", _ => \"Other\" }",
    ),
    ("credit_limit_ext", "decimal", "credit_limit * 1.2"),
    ("balance_share", "decimal", "round(balance / 3, 2)"),
    (
        "creditlimit",
        "decimal",
        "if credit_limit > 0 then credit_limit else null",
    ),
    ("payment_days", "int", "payment_days + 15"),
    (
        "size",
        "string",
        "if employees >= 250 then \"Enterprise\" else if employees >= 50 then \"Mid-market\" else \"Small\"",
    ),
    ("tax_liable", "bool", "tax_liable"),
    ("standard", "bool", "not vip"),
    ("created", "date", "created"),
    ("follow_up", "date", "add_days(last_order, 30)"),
    ("since_year", "int", "year(created)"),
    (
        "last_order_text",
        "string",
        "format_date(last_order, \"%d.%m.%Y\")",
    ),
    ("rating_text", "string", "to_string(rating) + \"/5\""),
    ("currency", "string", "currency ?? \"EUR\""),
    (
        "language",
        "string",
        "language | using { \"ENU\" => \"English\", \"FRA\" => \"French\", \"DEU\" => \"German\", _ => \"English\" }",
    ),
    ("email_domain", "string", "split_part(email, \"@\", 2)"),
    (
        "priority_code",
        "string",
        "pad_left(to_string(priority), 3, \"0\")",
    ),
    (
        "has_notes",
        "bool",
        "len(trim(notes)) > 0 and not is_null(notes)",
    ),
    ("vat_number", "string", "substring(vat, 3, 10)"),
    ("display_name", "string", "display(name, code)"),
    (
        "discount",
        "decimal",
        "if blocked == \"\" then abs(discount_pct) / 100 else 0",
    ),
];

fn column_json(name: &str, ty: &str) -> String {
    format!("{{\"name\": \"{name}\", \"type\": \"{ty}\"}}")
}

fn wide_schema(table: &str, columns: &[(&str, &str)]) -> String {
    let mut cols = vec![
        "{\"name\": \"id\", \"type\": \"guid\", \"nullable\": false, \"read_only\": true}"
            .to_string(),
        "{\"name\": \"modified\", \"type\": \"datetime\", \"read_only\": true}".to_string(),
    ];
    cols.extend(columns.iter().map(|(n, t)| column_json(n, t)));
    format!(
        "{{\"format_version\": 1, \"source\": \"benchmark\", \"tables\": [{{\"name\": \"{table}\", \
         \"key\": \"id\", \"modified_on\": \"modified\", \"columns\": [{}]}}]}}",
        cols.join(", ")
    )
}

/// The 30-field one-way mapping, compiled, and its destination pass's operations prepared.
fn wide_mapping() -> Result<(Plan, Vec<Compiled>)> {
    let mut text = String::from(
        "system erp: sqlite { schema = \"erp.json\" }\n\
         system crm: sqlite { schema = \"crm.json\" }\n\n\
         fn display(n: string, c: string) -> string { trim(n) + \" (\" + upper(c) + \")\" }\n\n\
         table customers: erp.customers -> crm.accounts {\n\
         \x20   filter erp: blocked == \"\"\n",
    );
    for (target, _, expr) in WIDE_FIELDS {
        // `SOURCE | using {…}` stands for a value map, which goes after the destination.
        let (source, map) = expr.split_once(" | ").unwrap_or((expr, ""));
        text.push_str(&format!("    {source} -> {target} {map}\n"));
    }
    text.push_str("}\n");
    let dest: Vec<(&str, &str)> = WIDE_FIELDS.iter().map(|(n, t, _)| (*n, *t)).collect();
    let memory = Memory(BTreeMap::from([
        (PathBuf::from("wide.map"), text),
        (
            PathBuf::from("erp.json"),
            wide_schema("customers", WIDE_SOURCE),
        ),
        (PathBuf::from("crm.json"), wide_schema("accounts", &dest)),
    ]));
    let c = syncmap::compile(&[PathBuf::from("wide.map")], &memory)?;
    let plan = c.plan.ok_or_else(|| {
        let text = syncmap::diagnostics::render::human(&c.diagnostics, &c.project.sources, false);
        format!("the interpreter benchmark's mapping does not compile:\n{text}")
    })?;
    let ops = plan.tables[0]
        .pass_to(Side::Right)
        .ok_or("no left-to-right pass")?
        .ops
        .iter()
        .map(|op| Compiled::new(&op.value))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if ops.len() != 30 {
        return Err(format!("expected 30 field operations, got {}", ops.len()).into());
    }
    Ok((plan, ops))
}

/// `n` varied source rows, some with nulls, as the connectors return them.
fn wide_rows(n: usize) -> Result<Vec<Row>> {
    let text = |s: String| Value::String(s);
    let countries = ["FR", "DE", "GB", "US", "IT", "ES"];
    let languages = ["ENU", "FRA", "DEU", "ITA"];
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut f: BTreeMap<String, Value> = BTreeMap::new();
        let mut put = |k: &str, v: Value| {
            f.insert(k.to_string(), v);
        };
        put("id", text(format!("00000000-0000-4000-8000-{i:012}")));
        put("name", text(format!("  Customer {i} Holding Ltd. ")));
        put("code", text(format!("c{i:06}")));
        put("address", text(format!("{} Main Street", i % 999 + 1)));
        put("address2", text(format!("Building {}", i % 7)));
        put(
            "city",
            text(["Paris", "Berlin", "London", "Boston"][i % 4].into()),
        );
        put("country", text(countries[i % countries.len()].into()));
        put(
            "phone",
            text(format!(
                "+33 1 {:02} {:02} {:02} {:02}",
                i % 97,
                i % 89,
                i % 83,
                i % 79
            )),
        );
        put(
            "fax",
            text(format!("+33 1 {:02} {:02} 00 00", i % 97, i % 89)),
        );
        put("email", text(format!(" Sales.{i}@Example.COM ")));
        put(
            "website",
            text(if i % 2 == 0 {
                format!("https://c{i}.example")
            } else {
                format!("c{i}.example")
            }),
        );
        put(
            "contact",
            if i % 3 == 0 {
                Value::Null
            } else {
                text(format!("Contact {i}"))
            },
        );
        put("first_name", text("Maria".into()));
        put("last_name", text(format!("Garcia{}", i % 13)));
        put("vat", text(format!("FR{:011}", i * 7)));
        put(
            "currency",
            if i % 5 == 0 {
                Value::Null
            } else {
                text("USD".into())
            },
        );
        put("language", text(languages[i % languages.len()].into()));
        put(
            "notes",
            if i % 4 == 0 {
                Value::Null
            } else {
                text(format!("  note {i} "))
            },
        );
        put("blocked", text(String::new()));
        put(
            "credit_limit",
            Value::Decimal(rust_decimal::Decimal::new((i as i64 % 50) * 1000, 2)),
        );
        put(
            "balance",
            Value::Decimal(rust_decimal::Decimal::new(i as i64 * 37 + 11, 2)),
        );
        put(
            "discount_pct",
            Value::Decimal(rust_decimal::Decimal::new(-(i as i64 % 15), 0)),
        );
        put("payment_days", Value::Int((i % 60) as i64));
        put("employees", Value::Int((i * 7 % 500) as i64));
        put("priority", Value::Int((i % 10) as i64));
        put("rating", Value::Int((i % 5) as i64 + 1));
        put("tax_liable", Value::Bool(i % 2 == 0));
        put("vip", Value::Bool(i % 10 == 0));
        let day =
            jiff::civil::date(2020, 1, 1).checked_add(jiff::Span::new().days((i % 1500) as i64))?;
        put("created", Value::Date(day));
        put(
            "last_order",
            Value::Date(day.checked_add(jiff::Span::new().days(100))?),
        );
        rows.push(Row {
            key: format!("00000000-0000-4000-8000-{i:012}"),
            modified_on: None,
            etag: None,
            fields: f,
            invalid: None,
        });
    }
    Ok(rows)
}

/// Evaluates every field of every row; returns how many values came out (so nothing is
/// optimised away) or the first error.
fn evaluate_all(ops: &[Compiled], rows: &[Row], ctx: &Context<'_>) -> Result<usize> {
    let mut n = 0;
    for row in rows {
        for op in ops {
            let v = op.eval(row, ctx)?;
            n += usize::from(!v.is_missing());
        }
    }
    Ok(n)
}

const INTERPRETER_ROWS: usize = 1000;

fn interpreter_criterion(c: &mut Criterion) -> Result<()> {
    let (plan, ops) = wide_mapping()?;
    let rows = wide_rows(INTERPRETER_ROWS)?;
    let functions = UserFunctions::new(&plan.functions)?;
    let ctx = Context {
        functions: &functions,
        lookups: &NoLookups,
        now: jiff::Timestamp::now(),
        zone: jiff::tz::TimeZone::UTC,
    };
    // Every field of every row evaluates without error.
    evaluate_all(&ops, &rows, &ctx)?;
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(INTERPRETER_ROWS as u64));
    group.bench_function("30-field mapping, 1000 records", |b| {
        b.iter(|| evaluate_all(&ops, &rows, &ctx).unwrap_or(0))
    });
    group.finish();
    Ok(())
}

/// Records per second of the interpreter, for the markdown table: the median of 7 samples of
/// at least half a second each.
fn interpreter_table() -> Result<String> {
    let (plan, ops) = wide_mapping()?;
    let rows = wide_rows(INTERPRETER_ROWS)?;
    let functions = UserFunctions::new(&plan.functions)?;
    let ctx = Context {
        functions: &functions,
        lookups: &NoLookups,
        now: jiff::Timestamp::now(),
        zone: jiff::tz::TimeZone::UTC,
    };
    let mut rates = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let mut records = 0usize;
        while start.elapsed() < Duration::from_millis(500) {
            evaluate_all(&ops, &rows, &ctx)?;
            records += rows.len();
        }
        rates.push(records as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let rate = rates[rates.len() / 2];
    Ok(format!(
        "| what | records/s | per record | per field |\n|---|---|---|---|\n\
         | interpreter: 30-field mapping with transforms, rows in memory | {} | {:.1} µs | {:.0} ns |",
        thousands(rate as u64),
        1e6 / rate,
        1e9 / rate / 30.0
    ))
}

// ───────────── sync runs ─────────────

/// The two-way customers ↔ accounts mapping of the sync benchmark: 13 fields, the standard
/// filters, no lookups (so no other table needs syncing first) and no match rule (so uncoupled
/// rows are created without a search).
const SYNC_MAPPING: &str = r#"
system bc: business_central { schema = "schemas/business-central.json" }
system dv: dataverse { schema = "schemas/dataverse.json" }

table customers: bc.customers <-> dv.accounts {
    filter bc: blocked == " "
    filter dv: statecode == "Active" and customertypecode == "Customer"
    on conflict: prefer bc

    displayName     <-> name [truncate]
    addressLine1    <-> address1_line1 [truncate]
    addressLine2    <-> address1_line2 [truncate]
    postalCode      <-> address1_postalcode
    city            <-> address1_city [truncate]
    country         <-> address1_country [truncate]
    state           <-> address1_stateorprovince [truncate]
    email           <-> emailaddress1 [truncate]
    website         <-> websiteurl [truncate]
    phoneNumber     <-> telephone1 [truncate]
    creditLimit      -> creditlimit
    upper(number)    -> accountnumber
    "Customer"       -> customertypecode [create only]
}
"#;

/// Two SQLite systems, a plan file and a profile in a temporary folder.
struct SyncWorld {
    dir: tempfile::TempDir,
    plan: Plan,
    bc: SqliteConnector,
    rt: tokio::runtime::Runtime,
    /// Keys of the rows the modified-only runs change, spread over the table.
    probes: Vec<String>,
}

/// What one `syncmap run` process did.
struct RunOutcome {
    wall: Duration,
    /// The engine's own `duration_ms`.
    engine_ms: u64,
    /// Peak resident memory in KiB.
    max_rss_kib: u64,
    /// User plus system CPU time, when `/usr/bin/time` measured it.
    cpu: Option<Duration>,
    /// Counts summed over both directions.
    totals: BTreeMap<String, u64>,
}

impl SyncWorld {
    /// Keeps the state store at `url` instead of `state.db`.
    fn use_state(&self, url: &str) -> Result<()> {
        std::fs::write(
            self.dir.path().join("syncmap.toml"),
            format!(
                "[state]\nurl = \"{url}\"\n\n[systems.bc]\nurl = \"sqlite://bc.db\"\n\n\
                 [systems.dv]\nurl = \"sqlite://dv.db\"\n"
            ),
        )?;
        Ok(())
    }

    fn new() -> Result<SyncWorld> {
        let dir = tempfile::Builder::new()
            .prefix("syncmap-bench-")
            .tempdir()?;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/schemas");
        let schemas = dir.path().join("schemas");
        std::fs::create_dir_all(&schemas)?;
        for f in ["business-central.json", "dataverse.json"] {
            std::fs::copy(root.join(f), schemas.join(f))?;
        }
        let map = dir.path().join("bench.map");
        std::fs::write(&map, SYNC_MAPPING)?;
        let c = syncmap::compile(&[map], &FsLoader)?;
        let plan = c.plan.ok_or_else(|| {
            let text =
                syncmap::diagnostics::render::human(&c.diagnostics, &c.project.sources, false);
            format!("the sync benchmark's mapping does not compile:\n{text}")
        })?;
        std::fs::write(dir.path().join("plan.json"), serde_json::to_string(&plan)?)?;
        std::fs::write(
            dir.path().join("syncmap.toml"),
            "[state]\nurl = \"sqlite://state.db\"\n\n[systems.bc]\nurl = \"sqlite://bc.db\"\n\n\
             [systems.dv]\nurl = \"sqlite://dv.db\"\n",
        )?;
        let mut bc = None;
        for (alias, file) in [("bc", "business-central.json"), ("dv", "dataverse.json")] {
            let snapshot = syncmap::schema::load(&std::fs::read_to_string(schemas.join(file))?)?;
            let conn = SqliteConnector::open(&dir.path().join(format!("{alias}.db")))?;
            conn.create_tables(&snapshot)?;
            if alias == "bc" {
                bc = Some(conn);
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(SyncWorld {
            dir,
            plan,
            bc: bc.ok_or("no bc connector")?,
            rt,
            probes: Vec::new(),
        })
    }

    fn customers(&self) -> Result<TableRef<'_>> {
        let info = self
            .plan
            .systems
            .get("bc")
            .and_then(|s| s.tables.get("customers"))
            .ok_or("the plan does not describe bc.customers")?;
        Ok(TableRef {
            name: "customers",
            info,
        })
    }

    /// Inserts `n` customers through the connector, 500 per transaction; keeps 20 keys spread
    /// over the table for the modified-only runs.
    fn fill(&mut self, n: u64) -> Result<()> {
        let table = self.customers()?;
        let every = (n / 20).max(1);
        let mut probes = Vec::new();
        let mut i = 0u64;
        while i < n {
            let end = (i + 500).min(n);
            let ops: Vec<WriteOp> = (i..end)
                .map(|i| WriteOp::Create {
                    key: None,
                    fields: customer(i),
                })
                .collect();
            let outcomes = self.rt.block_on(self.bc.write(table, &ops));
            for (j, o) in (i..end).zip(outcomes) {
                let o = o?;
                if j % every == 0 && probes.len() < 20 {
                    probes.push(o.key);
                }
            }
            i = end;
        }
        self.probes = probes;
        Ok(())
    }

    /// Changes the city of ten customers (`round` picks which ten and the new value).
    fn change_ten(&self, round: usize) -> Result<()> {
        let table = self.customers()?;
        let ops: Vec<WriteOp> = self
            .probes
            .iter()
            .skip(round % 2)
            .step_by(2)
            .take(10)
            .map(|key| WriteOp::Update {
                key: key.clone(),
                etag: None,
                fields: BTreeMap::from([(
                    "city".to_string(),
                    Value::String(format!("Changed {round}")),
                )]),
            })
            .collect();
        for o in self.rt.block_on(self.bc.write(table, &ops)) {
            o?;
        }
        Ok(())
    }

    /// Checks the synced data complete and exact, so speed never hides a loss: every customer
    /// has exactly one account holding its values, read straight from both files (not through
    /// the connector), compared as multisets; decimals compared as decimals, never as floats.
    fn check_exact(&self) -> Result<()> {
        const CUSTOMERS: &str = "SELECT upper(number), displayName, addressLine1, addressLine2, postalCode, city, country, state, email, website, phoneNumber, creditLimit FROM customers";
        const ACCOUNTS: &str = "SELECT accountnumber, name, address1_line1, address1_line2, address1_postalcode, address1_city, address1_country, address1_stateorprovince, emailaddress1, websiteurl, telephone1, creditlimit FROM accounts";
        let customers = rows_of(&self.dir.path().join("bc.db"), CUSTOMERS)?;
        let accounts = rows_of(&self.dir.path().join("dv.db"), ACCOUNTS)?;
        if customers != accounts {
            let missing = customers.iter().filter(|c| !accounts.contains(c)).count();
            return Err(format!(
                "the accounts are not the customers: {} customers, {} accounts, {missing} customers without their account",
                customers.len(),
                accounts.len()
            )
            .into());
        }
        Ok(())
    }

    /// Runs `syncmap run --mode MODE` in its own process and measures it.
    fn run(&self, mode: &str) -> Result<RunOutcome> {
        self.run_as(mode, false)
    }

    /// Runs as [`SyncWorld::run`]; `relaxed` with the state store's commits durable against a
    /// crash of the process only (`synchronous=NORMAL`), the baseline of what power-loss
    /// durability costs.
    fn run_as(&self, mode: &str, relaxed: bool) -> Result<RunOutcome> {
        let exe = env!("CARGO_BIN_EXE_syncmap");
        let dir = self.dir.path();
        let args = [
            "run",
            "--plan",
            "plan.json",
            "--profile",
            "syncmap.toml",
            "--mode",
            mode,
            "--json",
        ];
        let time = Path::new("/usr/bin/time");
        let rss_file = dir.join("rss.txt");
        let mut cmd = if time.exists() {
            let mut c = Command::new(time);
            c.arg("-f")
                .arg("%M %U %S")
                .arg("-o")
                .arg(&rss_file)
                .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if relaxed {
            cmd.env(syncmap::state::RELAXED_FOR_BENCHMARKS, "1");
        }
        let start = Instant::now();
        let mut child = cmd.spawn()?;
        // Without /usr/bin/time, the high-water mark is read while the process runs.
        let mut hwm = 0u64;
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
            let mut out = Vec::new();
            if let Some(mut s) = stdout {
                std::io::Read::read_to_end(&mut s, &mut out)?;
            }
            Ok(out)
        });
        // With /usr/bin/time the process is waited for, not polled: a poll's interval would
        // add up to its length to every wall time (a tenth of a modified-only run).
        let status = if time.exists() {
            child.wait()?
        } else {
            loop {
                hwm = hwm.max(vm_hwm(child.id()).unwrap_or(0));
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        let wall = start.elapsed();
        let stdout = reader.join().map_err(|_| "the output reader panicked")??;
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut stderr)?;
        }
        if !status.success() {
            return Err(format!("syncmap run --mode {mode} failed ({status}): {stderr}").into());
        }
        let (max_rss_kib, cpu) = if time.exists() {
            // The last line is ours: "KiB user-seconds system-seconds".
            let text = std::fs::read_to_string(&rss_file)?;
            let fields: Vec<&str> = text
                .lines()
                .next_back()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            let kib = fields.first().and_then(|k| k.parse::<u64>().ok());
            let cpu = fields
                .get(1..)
                .unwrap_or_default()
                .iter()
                .map(|s| s.parse::<f64>().ok())
                .sum::<Option<f64>>()
                .map(Duration::from_secs_f64);
            (kib.ok_or("no max RSS from /usr/bin/time")?, cpu)
        } else {
            (hwm, None)
        };
        let report: serde_json::Value = serde_json::from_slice(&stdout)?;
        let mut totals = BTreeMap::new();
        for pass in report["tables"].as_array().into_iter().flatten() {
            for k in [
                "inserted",
                "modified",
                "unchanged",
                "skipped",
                "failed",
                "conflicts",
            ] {
                *totals.entry(k.to_string()).or_insert(0) += pass[k].as_u64().unwrap_or(0);
            }
        }
        if totals.get("failed").copied().unwrap_or(0) > 0 {
            return Err(format!("records failed: {report}").into());
        }
        Ok(RunOutcome {
            wall,
            engine_ms: report["duration_ms"].as_u64().unwrap_or(0),
            max_rss_kib,
            cpu,
            totals,
        })
    }
}

/// Peak resident memory of a running process, from `/proc/PID/status`.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The rows a query gives, each as text (an empty text and NULL alike, decimals normalised),
/// sorted: a multiset to compare.
fn rows_of(db: &Path, sql: &str) -> Result<Vec<Vec<String>>> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(sql)?;
    let width = stmt.column_count();
    let mut rows = Vec::new();
    let mut query = stmt.query([])?;
    while let Some(r) = query.next()? {
        let mut row = Vec::with_capacity(width);
        for i in 0..width {
            row.push(match r.get_ref(i)? {
                ValueRef::Null => String::new(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Text(t) => {
                    let t = String::from_utf8_lossy(t).into_owned();
                    match t.parse::<rust_decimal::Decimal>() {
                        Ok(d) => d.normalize().to_string(),
                        Err(_) => t,
                    }
                }
                other => return Err(format!("{}: unexpected {other:?}", db.display()).into()),
            });
        }
        rows.push(row);
    }
    rows.sort();
    Ok(rows)
}

/// The fields of customer `i`.
fn customer(i: u64) -> BTreeMap<String, Value> {
    let s = |v: String| Value::String(v);
    let cities = ["Paris", "Berlin", "London", "Boston", "Madrid", "Rome"];
    BTreeMap::from([
        ("number".to_string(), s(format!("c{i:08}"))),
        ("displayName".to_string(), s(format!("Customer {i} Ltd."))),
        (
            "addressLine1".to_string(),
            s(format!("{} Main Street", i % 999 + 1)),
        ),
        ("addressLine2".to_string(), s(format!("Building {}", i % 7))),
        ("city".to_string(), s(cities[(i % 6) as usize].to_string())),
        ("postalCode".to_string(), s(format!("{:05}", i % 100_000))),
        (
            "country".to_string(),
            s(["FR", "DE", "GB", "US"][(i % 4) as usize].to_string()),
        ),
        ("state".to_string(), s(String::new())),
        ("email".to_string(), s(format!("sales.{i}@example.com"))),
        ("website".to_string(), s(format!("https://c{i}.example"))),
        ("phoneNumber".to_string(), s(format!("+33 1 {:08}", i))),
        (
            "creditLimit".to_string(),
            Value::Decimal(rust_decimal::Decimal::new((i % 50) as i64 * 1000, 0)),
        ),
        ("blocked".to_string(), s(" ".to_string())),
    ])
}

/// What one row count measured.
struct SizeResult {
    rows: u64,
    fill: Duration,
    full: RunOutcome,
    full_again: RunOutcome,
    first_modified: RunOutcome,
    /// Modified-only runs with 10 changed rows, in steady state.
    modified_ten: Vec<RunOutcome>,
    modified_none: RunOutcome,
    disk_mib: f64,
    /// The first full sync again, into a fresh world, with the store's commits durable against
    /// a crash of the process only: the baseline of `full`.
    full_relaxed: RunOutcome,
    /// The full syncs with the store in PostgreSQL, when a server is named.
    postgres: Option<postgres::PostgresRuns>,
}

fn expect_count(run: &RunOutcome, what: &str, count: &str, n: u64) -> Result<()> {
    let got = run.totals.get(count).copied().unwrap_or(0);
    if got != n {
        return Err(format!("{what}: expected {n} {count}, got {got} ({:?})", run.totals).into());
    }
    Ok(())
}

/// How many steady-state modified-only runs with 10 changed rows are measured per row count.
const MODIFIED_ROUNDS: usize = 9;

/// Has the kernel write out every file's changes (`sync`): the modified-only runs are measured
/// as a scheduled run meets the store, not while the kernel writes out a gigabyte the full
/// syncs just left in its cache, which slows every `fsync` for seconds.
fn written_out() -> Result<()> {
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed ({status})").into());
    }
    Ok(())
}

fn measure_size(n: u64, bench: bool) -> Result<SizeResult> {
    eprintln!("sync: preparing {n} customers …");
    let mut w = SyncWorld::new()?;
    let start = Instant::now();
    w.fill(n)?;
    let fill = start.elapsed();
    eprintln!("sync: {n} rows: full sync …");
    let full = w.run("full")?;
    expect_count(&full, "full sync", "inserted", n)?;
    eprintln!("sync: {n} rows: full sync again …");
    let full_again = w.run("full")?;
    expect_count(&full_again, "second full sync", "inserted", 0)?;
    expect_count(&full_again, "second full sync", "modified", 0)?;
    // Each batch of changes is made more than a second after the one before, out of the
    // overlap (999 ms) that modified-only runs read again below their watermark.
    let pause = Duration::from_millis(1100);
    written_out()?;
    std::thread::sleep(pause);
    w.change_ten(0)?;
    eprintln!("sync: {n} rows: modified-only runs …");
    let first_modified = w.run("modified")?;
    expect_count(&first_modified, "first modified-only run", "modified", 10)?;
    let rounds = if bench { MODIFIED_ROUNDS } else { 1 };
    let mut modified_ten = Vec::new();
    for round in 1..=rounds {
        std::thread::sleep(pause);
        w.change_ten(round)?;
        let run = w.run("modified")?;
        expect_count(&run, "modified-only run", "modified", 10)?;
        modified_ten.push(run);
    }
    let modified_none = w.run("modified")?;
    expect_count(&modified_none, "idle modified-only run", "modified", 0)?;
    w.check_exact()?;
    let mut disk = 0u64;
    for f in std::fs::read_dir(w.dir.path())? {
        disk += f?.metadata()?.len();
    }
    if std::env::var_os("SYNCMAP_BENCH_KEEP").is_some() {
        let kept = w.dir.keep();
        eprintln!("sync: {n} rows: kept in {}", kept.display());
    }
    eprintln!("sync: {n} rows: full sync with synchronous=NORMAL (the baseline) …");
    let mut relaxed = SyncWorld::new()?;
    relaxed.fill(n)?;
    let full_relaxed = relaxed.run_as("full", true)?;
    expect_count(&full_relaxed, "full sync (NORMAL)", "inserted", n)?;
    let postgres = postgres::measure(n)?;
    Ok(SizeResult {
        rows: n,
        fill,
        full,
        full_again,
        first_modified,
        modified_ten,
        modified_none,
        disk_mib: disk as f64 / 1024.0 / 1024.0,
        full_relaxed,
        postgres,
    })
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// CPU time; `/usr/bin/time` counts in hundredths of a second.
fn cpu(run: &RunOutcome) -> String {
    match run.cpu {
        None => "–".to_string(),
        Some(d) if d < Duration::from_millis(10) => "< 10 ms".to_string(),
        Some(d) => secs(d),
    }
}

/// Source rows a run read: written, unchanged or skipped.
fn rows_read(run: &RunOutcome) -> u64 {
    ["inserted", "modified", "unchanged", "skipped", "failed"]
        .iter()
        .map(|k| run.totals.get(*k).copied().unwrap_or(0))
        .sum()
}

fn sync_tables(sizes: &[u64], bench: bool) -> Result<String> {
    let mut results = Vec::new();
    for &n in sizes {
        results.push(measure_size(n, bench)?);
    }
    let rate = |n: u64, d: Duration| thousands((n as f64 / d.as_secs_f64()) as u64);
    let mut out = String::from(
        "| source rows | bulk insert (connector) | full sync: wall | rows/s | CPU | peak RSS \
         | full sync again: wall | rows/s | CPU | peak RSS | files on disk |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &results {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} MiB |\n",
            thousands(r.rows),
            secs(r.fill),
            secs(r.full.wall),
            rate(r.rows, r.full.wall),
            cpu(&r.full),
            mib(r.full.max_rss_kib),
            secs(r.full_again.wall),
            rate(r.rows, r.full_again.wall),
            cpu(&r.full_again),
            mib(r.full_again.max_rss_kib),
            r.disk_mib,
        ));
    }
    out.push_str(&format!(
        "\n| source rows | modified-only, 10 changed: wall (median of {}) | engine | CPU | peak RSS \
         | rows read | ÷ full sync | nothing changed: wall | first modified-only run after the \
         full syncs: wall | rows read |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        results.first().map_or(0, |r| r.modified_ten.len())
    ));
    for r in &results {
        let mut runs: Vec<&RunOutcome> = r.modified_ten.iter().collect();
        runs.sort_by_key(|run| run.wall);
        let Some(median) = runs.get(runs.len() / 2) else {
            continue;
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.2} % | {} | {} | {} |\n",
            thousands(r.rows),
            secs(median.wall),
            secs(Duration::from_millis(median.engine_ms)),
            cpu(median),
            mib(median.max_rss_kib),
            thousands(rows_read(median)),
            100.0 * median.wall.as_secs_f64() / r.full.wall.as_secs_f64(),
            secs(r.modified_none.wall),
            secs(r.first_modified.wall),
            thousands(rows_read(&r.first_modified)),
        ));
    }
    out.push_str(
        "\n| source rows | full sync, store `synchronous=FULL` (the default): wall | CPU \
         | same with `synchronous=NORMAL` (baseline): wall | CPU | FULL ÷ NORMAL |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in &results {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} |\n",
            thousands(r.rows),
            secs(r.full.wall),
            cpu(&r.full),
            secs(r.full_relaxed.wall),
            cpu(&r.full_relaxed),
            r.full.wall.as_secs_f64() / r.full_relaxed.wall.as_secs_f64(),
        ));
    }
    let both: Vec<_> = results
        .iter()
        .filter_map(|r| Some((r.rows, &r.full, &r.full_again, r.postgres.as_ref()?)))
        .collect();
    out.push_str(&postgres::table(&both));
    Ok(out)
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
