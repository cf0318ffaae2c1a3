//! Durability (issue 3, point 7): a real `syncmap run` process is killed with SIGKILL at random
//! moments, many times over — while it reads, between its create intents and its writes,
//! between its writes and the coupling commit, between passes — while both systems keep
//! changing between the kills. A final uninterrupted run must then leave both databases and the
//! state store exactly as if nothing had been interrupted: no record duplicated, none lost, the
//! latest value of every changed field on both sides, no intent left, the killed runs marked
//! interrupted, and a modified-only run afterwards that writes nothing.
//!
//! The random choices come from a seeded generator that is printed; set `SYNCMAP_KILL_SEED` to
//! replay a failure (kill timings still vary with the machine's speed, the choices do not).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use syncmap::connectors::{Row, WriteOp};
use syncmap::value::Value;

/// Business Central customers at the start (a few blocked ones stay out of the sync).
const CUSTOMERS: usize = 2000;
/// Records changed far more often than the others.
const HOT: usize = 100;
/// Kills that must land while a run is under way (after it has begun).
const MIN_LANDED: usize = 60;
/// Rounds (one process each) before the test gives up on landing enough kills.
const MAX_ROUNDS: usize = 250;

const CURRENCIES: [(&str, &str, &str); 3] = [
    ("EUR", "Euro", "€"),
    ("USD", "US Dollar", "$"),
    ("GBP", "Pound Sterling", "£"),
];

/// Licensed, enabled users: each becomes a salesperson whose code is the name in capitals.
const USERS: [&str; 4] = [
    "Alicia Thomber",
    "Bart Duncan",
    "Carole Poland",
    "Dan Bacon",
];

fn code_of(user: &str) -> String {
    user.replace(' ', "").to_uppercase()
}

/// Which side the test changes a record on. Every record is changed on one side only, so no
/// change can legitimately meet a change on the other side (a conflict, whose rule here is
/// `fail`): any conflict or failure is the sync's own doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    Bc,
    Dv,
}

/// What the test knows of one logical record (a customer and its account), by unique name.
#[derive(Debug, Clone)]
struct Rec {
    name: String,
    /// Where the test created it.
    from_bc: bool,
    /// Not blocked (from Business Central) or active (from Dataverse): it is synced.
    takes_part: bool,
    owner: Owner,
    number: Option<String>,
    city: String,
    phone: String,
    email: String,
    /// Business Central's credit limit (one way to Dataverse); none for records from Dataverse.
    credit: Option<i64>,
    currency: Option<String>,
    /// Business Central's salesperson code (one way to the account's owner).
    salesperson: Option<String>,
    /// How many times the test changed it.
    changes: u32,
}

/// The text of a column, `None` for null or absent.
fn text(row: &Row, col: &str) -> Option<String> {
    match row.fields.get(col) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null | Value::Absent) | None => None,
        Some(other) => other.to_text(),
    }
}

/// A whole number column, `None` for null.
fn whole(row: &Row, col: &str) -> Option<i64> {
    match row.fields.get(col) {
        Some(Value::Int(i)) => Some(*i),
        Some(Value::Decimal(d)) => Some(d.to_string().parse::<f64>().unwrap() as i64),
        _ => None,
    }
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |t| s(t))
}

/// Whether a row holds the values of an intent (a JSON object of column values).
fn holds(row: &Row, values: &serde_json::Map<String, serde_json::Value>) -> bool {
    values.iter().all(|(k, v)| {
        let want = Value::from_json(v, None).unwrap();
        row.fields.get(k).is_some_and(|have| want.same_as(have))
    })
}

/// The state store, opened read-only by SQL (the test never changes it).
pub(crate) fn state(w: &World) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(w.path().join("state.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

pub(crate) fn query_i64(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

fn has_state(w: &World) -> bool {
    w.path().join("state.db").exists()
}

/// What a kill interrupted, read from the state store right after it.
#[derive(Debug, Default)]
struct Stage {
    run: Option<i64>,
    /// Passes the run had finished (their counts are saved at the end of each pass).
    passes_done: i64,
    /// Intents of writes the killed run had recorded but not yet made.
    unwritten: usize,
    /// Intents of writes it had made, without committing their outcome (couplings).
    written: usize,
}

fn stage_after_kill(w: &World, before_max_run: i64) -> Stage {
    if !has_state(w) {
        return Stage::default();
    }
    let c = state(w);
    let run: Option<i64> = c
        .query_row(
            "SELECT max(id) FROM runs WHERE id > ?1",
            [before_max_run],
            |r| r.get(0),
        )
        .unwrap_or(None);
    let mut st = Stage {
        run,
        ..Stage::default()
    };
    if let Some(id) = run {
        st.passes_done = c
            .query_row(
                "SELECT count(*) FROM run_counts WHERE run = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
    }
    let mut stmt = c
        .prepare("SELECT mapping, direction, dest_key, fields FROM intents")
        .unwrap();
    let intents: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut tables: HashMap<(&str, &str), HashMap<String, Row>> = HashMap::new();
    for (mapping, dir, key, fields) in &intents {
        let (sys, table) = match (mapping.as_str(), dir.as_str()) {
            ("customers", "left_to_right") => ("dv", "accounts"),
            ("customers", "right_to_left") => ("bc", "customers"),
            ("currencies", _) => ("dv", "transactioncurrencies"),
            ("salespeople", _) => ("bc", "salespeoplePurchasers"),
            _ => continue,
        };
        let rows = tables.entry((sys, table)).or_insert_with(|| {
            w.rows(sys, table)
                .into_iter()
                .map(|r| (r.key.clone(), r))
                .collect()
        });
        // Written when the row exists and holds what the intent says was written.
        let written = rows.get(key).is_some_and(|row| {
            let fields = fields
                .as_deref()
                .and_then(|f| serde_json::from_str(f).ok())
                .unwrap_or_default();
            holds(row, &fields)
        });
        if written {
            st.written += 1;
        } else {
            st.unwritten += 1;
        }
    }
    st
}

/// Runs `syncmap run` to the end and returns its JSON report.
fn run_to_end(w: &World, mode: &str) -> serde_json::Value {
    let out = w.cli(&["run", "--mode", mode, "--json"]);
    assert_eq!(
        out.code, 0,
        "an uninterrupted {mode} run must succeed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out.json()
}

/// The counts of a JSON run report, added over its passes.
fn totals(report: &serde_json::Value) -> BTreeMap<String, u64> {
    let mut t = BTreeMap::new();
    for p in report["tables"].as_array().unwrap() {
        for k in [
            "inserted",
            "modified",
            "deleted",
            "coupled",
            "uncoupled",
            "failed",
            "conflicts",
            "skipped",
        ] {
            *t.entry(k.to_string()).or_insert(0) += p[k].as_u64().unwrap_or(0);
        }
    }
    t
}

/// Copies a world's folder. Databases are copied by SQLite itself (`VACUUM INTO`): opening and
/// closing a database file behind SQLite's back would drop the POSIX locks this process's own
/// connections hold on it, and the next `syncmap` process would then truncate a WAL they still use.
fn copy_world(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            std::fs::create_dir_all(to.join(&name)).unwrap();
            copy_world(&p, &to.join(&name));
        } else if name.ends_with(".db") {
            let c = rusqlite::Connection::open(&p).unwrap();
            c.busy_timeout(Duration::from_secs(10)).unwrap();
            c.execute("VACUUM INTO ?1", [to.join(&name).display().to_string()])
                .unwrap();
        } else if !name.ends_with("-wal") && !name.ends_with("-shm") {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
}

/// How long an uninterrupted full run and the modified-only run after it take on a copy of the
/// world, so the kill delays can be scaled to this machine.
fn measure(w: &World) -> (u64, u64) {
    let scratch = tempfile::tempdir().unwrap();
    copy_world(w.path(), scratch.path());
    let time = |mode: &str| {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_syncmap"))
            .args(["run", "--mode", mode])
            .current_dir(scratch.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(out.success(), "the measuring {mode} run failed");
        t.elapsed().as_millis() as u64
    };
    (time("full"), time("modified"))
}

/// Makes every write to the synced tables and every coupling saved cost a fraction of a
/// millisecond of CPU (SQLite triggers), as writes to remote systems cost far more than the
/// reads and comparisons around them. The windows between a batch's create intents, its writes
/// and its coupling commit are then wide enough for random kills to land in them often; the
/// engine does not know.
fn slow_down(w: &World) {
    let triggers = |tables: &[&str], bytes: u32| {
        tables
            .iter()
            .flat_map(|t| {
                ["INSERT", "UPDATE"].map(|op| {
                    format!("CREATE TRIGGER slow_{t}_{op} AFTER {op} ON \"{t}\" BEGIN SELECT length(hex(randomblob({bytes}))); END;")
                })
            })
            .collect::<String>()
    };
    w.sql(
        "bc",
        &triggers(&["customers", "salespeoplePurchasers"], 50_000),
    );
    w.sql(
        "dv",
        &triggers(&["accounts", "transactioncurrencies"], 50_000),
    );
    // The state store as the first run would create it; couplings cost more, so that kills land
    // between a batch's writes and the commit of its couplings, the window that matters most.
    drop(w.store());
    w.sql("state", &triggers(&["couplings"], 150_000));
}

struct Test {
    w: World,
    rng: Rng,
    recs: Vec<Rec>,
    round: usize,
    /// Changes aimed at rows a killed run had created, or updated, without committing it.
    aimed_at_creates: usize,
    aimed_at_updates: usize,
}

impl Test {
    fn new_customer(&mut self, i: usize, blocked: bool) -> (Rec, WriteOp) {
        let owner = if self.rng.chance(50) {
            Owner::Bc
        } else {
            Owner::Dv
        };
        let rec = Rec {
            name: format!("Customer {i:05}"),
            from_bc: true,
            takes_part: !blocked,
            owner,
            number: Some(format!("C{i:05}")),
            city: format!("City {}", self.rng.below(500)),
            phone: format!("+1 555 {:04}", self.rng.below(10_000)),
            email: format!("c{i}@example.com"),
            credit: Some(1000 * (1 + self.rng.below(50)) as i64),
            currency: Some(self.rng.pick(&CURRENCIES).0.to_string()),
            salesperson: Some(code_of(USERS[self.rng.below(USERS.len())])),
            changes: 0,
        };
        let fields = [
            ("number", opt(&rec.number)),
            ("displayName", s(&rec.name)),
            ("blocked", s(if blocked { "All" } else { " " })),
            ("city", s(&rec.city)),
            ("phoneNumber", s(&rec.phone)),
            ("email", s(&rec.email)),
            ("creditLimit", Value::Int(rec.credit.unwrap())),
            ("currencyCode", opt(&rec.currency)),
            ("salespersonCode", opt(&rec.salesperson)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        (rec, WriteOp::Create { key: None, fields })
    }

    fn new_account(&mut self, i: usize, active: bool) -> (Rec, WriteOp) {
        let currencies = self.dv_currencies();
        let currency = (!currencies.is_empty() && self.rng.chance(70)).then(|| {
            let codes: Vec<&String> = currencies.keys().collect();
            self.rng.pick(&codes).to_string()
        });
        let rec = Rec {
            name: format!("Account {i:05}"),
            from_bc: false,
            takes_part: active,
            owner: Owner::Dv,
            number: None,
            city: format!("Town {}", self.rng.below(500)),
            phone: format!("+44 20 {:04}", self.rng.below(10_000)),
            email: format!("a{i}@example.org"),
            credit: None,
            currency,
            salesperson: None,
            changes: 0,
        };
        let fields = [
            ("name", s(&rec.name)),
            ("customertypecode", Value::Int(3)),
            ("statecode", Value::Int(if active { 0 } else { 1 })),
            ("address1_city", s(&rec.city)),
            ("telephone1", s(&rec.phone)),
            ("emailaddress1", s(&rec.email)),
            (
                "transactioncurrencyid",
                rec.currency
                    .as_ref()
                    .map_or(Value::Null, |c| s(&currencies[c])),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        (rec, WriteOp::Create { key: None, fields })
    }

    /// A record to change: half the time one of a hundred "hot" records, so the same record is
    /// often changed again before the run that was to sync its last change could finish.
    fn pick_record(&mut self) -> usize {
        if self.rng.chance(50) {
            self.rng.below(HOT)
        } else {
            self.rng.below(self.recs.len())
        }
    }

    /// Dataverse currencies by ISO code.
    fn dv_currencies(&self) -> BTreeMap<String, String> {
        self.w
            .rows("dv", "transactioncurrencies")
            .into_iter()
            .filter_map(|r| text(&r, "isocurrencycode").map(|c| (c, r.key)))
            .collect()
    }

    fn seed(&mut self) {
        for (code, name, symbol) in CURRENCIES {
            self.w.insert(
                "bc",
                "currencies",
                &[
                    ("code", s(code)),
                    ("displayName", s(name)),
                    ("symbol", s(symbol)),
                ],
            );
        }
        for (name, disabled) in USERS
            .iter()
            .map(|u| (*u, false))
            .chain([("Eve Gone", true)])
        {
            self.w.insert(
                "dv",
                "systemusers",
                &[
                    ("fullname", s(name)),
                    (
                        "internalemailaddress",
                        s(&format!("{}@contoso.example", code_of(name).to_lowercase())),
                    ),
                    ("isdisabled", Value::Bool(disabled)),
                    ("islicensed", Value::Bool(true)),
                    ("isintegrationuser", Value::Bool(false)),
                ],
            );
        }
        let mut ops = Vec::new();
        for i in 0..CUSTOMERS {
            let (rec, op) = self.new_customer(i, i % 40 == 7);
            self.recs.push(rec);
            ops.push(op);
        }
        self.w.write_many("bc", "customers", ops);
    }

    /// Changes both systems the way users would between runs: updates on each record's own side,
    /// new customers in Business Central, new accounts in Dataverse.
    fn mutate(&mut self) {
        let round = self.round;
        let customers = self.w.rows("bc", "customers");
        let accounts = self.w.rows("dv", "accounts");
        let bc_by_name: HashMap<String, String> = customers
            .iter()
            .filter_map(|r| text(r, "displayName").map(|n| (n, r.key.clone())))
            .collect();
        let dv_by_name: HashMap<String, String> = accounts
            .iter()
            .filter_map(|r| text(r, "name").map(|n| (n, r.key.clone())))
            .collect();
        let by_name: HashMap<String, usize> = self
            .recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        // Writes a killed run made without committing their outcome (its intents), aimed at on
        // purpose: the narrowest windows of all. Accounts it created but did not couple yet get
        // changed like any account; rows it updated get a change to a column it did not write,
        // on the side it wrote to (the record changes hands: from then on it changes there).
        let mut fresh: Vec<usize> = Vec::new();
        let mut bc_ops = Vec::new();
        let mut dv_ops = Vec::new();
        let mut bc_seen = BTreeSet::new();
        let mut dv_seen = BTreeSet::new();
        if has_state(&self.w) {
            let c = state(&self.w);
            let mut stmt = c
                .prepare("SELECT direction, kind, dest_key, fields FROM intents WHERE mapping = 'customers'")
                .unwrap();
            let pending: Vec<(String, String, String, Option<String>)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let customers_by_key: HashMap<&str, &Row> =
                customers.iter().map(|r| (r.key.as_str(), r)).collect();
            let accounts_by_key: HashMap<&str, &Row> =
                accounts.iter().map(|r| (r.key.as_str(), r)).collect();
            for (dir, kind, key, fields) in pending {
                let ltr = dir == "left_to_right";
                let row = if ltr {
                    accounts_by_key.get(key.as_str())
                } else {
                    customers_by_key.get(key.as_str())
                };
                let Some(row) = row else { continue };
                let name = text(row, if ltr { "name" } else { "displayName" });
                let Some(&i) = name.and_then(|n| by_name.get(&n)) else {
                    continue;
                };
                if kind == "create" {
                    if ltr && self.recs[i].owner == Owner::Dv {
                        fresh.push(i);
                    }
                    continue;
                }
                let written: serde_json::Map<String, serde_json::Value> = fields
                    .as_deref()
                    .and_then(|f| serde_json::from_str(f).ok())
                    .unwrap_or_default();
                if !holds(row, &written) || bc_ops.len() + dv_ops.len() >= 3 {
                    continue;
                }
                let columns: [(&str, &str); 3] = if ltr {
                    [
                        ("email", "emailaddress1"),
                        ("phone", "telephone1"),
                        ("city", "address1_city"),
                    ]
                } else {
                    [
                        ("email", "email"),
                        ("phone", "phoneNumber"),
                        ("city", "city"),
                    ]
                };
                let Some((what, column)) =
                    columns.into_iter().find(|(_, c)| !written.contains_key(*c))
                else {
                    continue;
                };
                let r = &mut self.recs[i];
                let value = format!("{what} r{round} after a cut");
                match what {
                    "email" => r.email = value.clone(),
                    "phone" => r.phone = value.clone(),
                    _ => r.city = value.clone(),
                }
                r.changes += 1;
                r.owner = if ltr { Owner::Dv } else { Owner::Bc };
                self.aimed_at_updates += 1;
                let op = WriteOp::Update {
                    key: key.clone(),
                    etag: None,
                    fields: BTreeMap::from([(column.to_string(), s(&value))]),
                };
                if ltr {
                    dv_seen.insert(i);
                    dv_ops.push(op);
                } else {
                    bc_seen.insert(i);
                    bc_ops.push(op);
                }
            }
        }
        // Changes in Business Central.
        for _ in 0..10 + self.rng.below(20) {
            let i = self.pick_record();
            let key = match bc_by_name.get(&self.recs[i].name) {
                Some(k)
                    if self.recs[i].owner == Owner::Bc
                        && !dv_seen.contains(&i)
                        && bc_seen.insert(i) =>
                {
                    k.clone()
                }
                _ => continue,
            };
            let r = &mut self.recs[i];
            r.changes += 1;
            let mut fields = BTreeMap::new();
            r.city = format!("City r{round}");
            fields.insert("city".to_string(), s(&r.city));
            r.phone = format!("+1 {round} {i}");
            fields.insert("phoneNumber".to_string(), s(&r.phone));
            if self.rng.chance(40) {
                r.credit = Some(100 * (round as i64 + 1) + i as i64);
                fields.insert("creditLimit".into(), Value::Int(r.credit.unwrap()));
            }
            if self.rng.chance(30) {
                r.currency = Some(self.rng.pick(&CURRENCIES).0.to_string());
                fields.insert("currencyCode".into(), opt(&r.currency));
            }
            if self.rng.chance(20) {
                r.salesperson = Some(code_of(USERS[self.rng.below(USERS.len())]));
                fields.insert("salespersonCode".into(), opt(&r.salesperson));
            }
            bc_ops.push(WriteOp::Update {
                key,
                etag: None,
                fields,
            });
        }
        // Changes in Dataverse, first to accounts a killed run has just created.
        let currencies = self.dv_currencies();
        let mut candidates: Vec<usize> = fresh.into_iter().take(3).collect();
        self.aimed_at_creates += candidates.len();
        for _ in 0..10 + self.rng.below(20) {
            candidates.push(self.pick_record());
        }
        for i in candidates {
            let key = match dv_by_name.get(&self.recs[i].name) {
                Some(k)
                    if self.recs[i].owner == Owner::Dv
                        && !bc_seen.contains(&i)
                        && dv_seen.insert(i) =>
                {
                    k.clone()
                }
                _ => continue,
            };
            let r = &mut self.recs[i];
            r.changes += 1;
            let mut fields = BTreeMap::new();
            r.city = format!("Town r{round}");
            fields.insert("address1_city".to_string(), s(&r.city));
            r.email = format!("r{round}.{i}@example.net");
            fields.insert("emailaddress1".to_string(), s(&r.email));
            if self.rng.chance(50) {
                r.phone = format!("+44 {round} {i}");
                fields.insert("telephone1".into(), s(&r.phone));
            }
            if !currencies.is_empty() && self.rng.chance(30) {
                let codes: Vec<&String> = currencies.keys().collect();
                let code = self.rng.pick(&codes).to_string();
                fields.insert("transactioncurrencyid".into(), s(&currencies[&code]));
                r.currency = Some(code);
            }
            dv_ops.push(WriteOp::Update {
                key,
                etag: None,
                fields,
            });
        }
        // New records on both sides.
        let mut new_bc = Vec::new();
        for _ in 0..4 + self.rng.below(16) {
            let i = self.recs.len();
            let blocked = self.rng.chance(15);
            let (rec, op) = self.new_customer(i, blocked);
            self.recs.push(rec);
            new_bc.push(op);
        }
        let mut new_dv = Vec::new();
        for _ in 0..2 + self.rng.below(8) {
            let i = self.recs.len();
            let active = !self.rng.chance(15);
            let (rec, op) = self.new_account(i, active);
            self.recs.push(rec);
            new_dv.push(op);
        }
        bc_ops.extend(new_bc);
        dv_ops.extend(new_dv);
        self.w.write_many("bc", "customers", bc_ops);
        self.w.write_many("dv", "accounts", dv_ops);
    }
}

#[derive(Default)]
struct Tally {
    /// Kills that landed while the process ran, and those after its run had begun.
    landed: usize,
    in_run: usize,
    finished: usize,
    by_mode: BTreeMap<&'static str, usize>,
    before_run: usize,
    before_write: usize,
    after_write: usize,
    by_passes: BTreeMap<i64, usize>,
    killed_runs: Vec<i64>,
    finished_runs: Vec<i64>,
    early_failures: Vec<String>,
}

#[test]
fn runs_killed_at_random_moments_resume_without_duplicates_or_losses() {
    let started = Instant::now();
    let seed = kill_seed();
    println!("durability seed: {seed} (replay the choices with SYNCMAP_KILL_SEED={seed})");
    let w = World::standard();
    // Small pages and batches: many commit points, so kills fall between them.
    let profile = std::fs::read_to_string(w.path().join("syncmap.toml")).unwrap();
    assert!(
        !profile.contains("[run]"),
        "the world's profile tunes runs already"
    );
    std::fs::write(
        w.path().join("syncmap.toml"),
        format!("{profile}[run]\npage_size = 100\nbatch_size = 25\n"),
    )
    .unwrap();
    let mut t = Test {
        w,
        rng: Rng::new(seed),
        recs: Vec::new(),
        round: 0,
        aimed_at_creates: 0,
        aimed_at_updates: 0,
    };
    t.seed();
    slow_down(&t.w);
    let (full_ms, modified_ms) = measure(&t.w);
    println!(
        "an uninterrupted first full run of {CUSTOMERS} customers takes {full_ms} ms, the modified-only run after it {modified_ms} ms"
    );
    // Kill delays are drawn up to the time a run of that mode was last seen to take.
    let mut est: HashMap<&str, u64> =
        HashMap::from([("full", full_ms.max(20)), ("modified", modified_ms.max(20))]);
    let mut tally = Tally::default();
    // Kills that land before the run has begun (the process still compiles the mappings) test
    // little: delays start after the longest such kill seen so far, less a margin.
    let mut startup: u64 = 0;
    while tally.in_run < MIN_LANDED {
        t.round += 1;
        assert!(
            t.round <= MAX_ROUNDS,
            "only {} of {MAX_ROUNDS} runs were killed after they had begun (seed {seed})",
            tally.in_run
        );
        if t.round > 1 && t.rng.chance(60) {
            t.mutate();
        }
        let mode = if t.rng.chance(55) { "full" } else { "modified" };
        let before_max_run = if has_state(&t.w) {
            query_i64(&state(&t.w), "SELECT coalesce(max(id), 0) FROM runs")
        } else {
            0
        };
        let from = startup.min(est[mode] / 2);
        let delay_ms = from + t.rng.below((est[mode] - from) as usize + 1) as u64;
        let delay = Duration::from_millis(delay_ms);
        let err = t.w.path().join("killed-run.err");
        let mut child = Command::new(env!("CARGO_BIN_EXE_syncmap"))
            .args(["run", "--mode", mode])
            .current_dir(t.w.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let spawned = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                // It finished before the kill: next time, kill sooner.
                est.insert(mode, (spawned.elapsed().as_millis() as u64).max(20));
                break status;
            }
            if spawned.elapsed() >= delay {
                // SIGKILL: the process gets no chance to clean up.
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let stage = stage_after_kill(&t.w, before_max_run);
        if status.signal() == Some(9) {
            tally.landed += 1;
            *tally.by_mode.entry(mode).or_default() += 1;
            tally.killed_runs.extend(stage.run);
            match stage.run {
                None => {
                    tally.before_run += 1;
                    startup = startup.max(delay_ms * 3 / 4);
                }
                Some(_) => {
                    tally.in_run += 1;
                    *tally.by_passes.entry(stage.passes_done).or_default() += 1;
                }
            }
            if stage.unwritten > 0 {
                tally.before_write += 1;
            }
            if stage.written > 0 {
                tally.after_write += 1;
            }
        } else {
            tally.finished += 1;
            tally.finished_runs.extend(stage.run);
            if !status.success() {
                tally.early_failures.push(format!(
                    "round {} ({mode}) exited with {status}: {}",
                    t.round,
                    std::fs::read_to_string(&err).unwrap_or_default()
                ));
            }
        }
    }
    let kill_phase = started.elapsed();

    // The last runs go to the end: a full one (modified-only runs leave new uncoupled records
    // alone), then a modified-only one and another full one, which must find nothing to do.
    let last_full = run_to_end(&t.w, "full");
    let before = t.w.dump();
    let quiet = run_to_end(&t.w, "modified");
    let quiet_full = run_to_end(&t.w, "full");
    let after = t.w.dump();

    let mut problems: Vec<String> = tally.early_failures.clone();
    for (what, report) in [("modified-only", &quiet), ("full", &quiet_full)] {
        let tot = totals(report);
        let wrote: u64 = [
            "inserted",
            "modified",
            "deleted",
            "coupled",
            "uncoupled",
            "failed",
            "conflicts",
        ]
        .iter()
        .map(|k| tot[*k])
        .sum();
        if wrote > 0 {
            problems.push(format!(
                "a {what} run after the last full run still did something: {tot:?}"
            ));
        }
    }
    if before != after {
        problems.push("the runs after the last full run changed the databases".into());
    }
    check_final_state(&t, &mut problems);
    check_state_store(&t, &tally, &mut problems);

    println!(
        "{} rounds: {} kills landed while the process ran ({:?}), {} of them after its run had begun; {} runs finished first",
        t.round, tally.landed, tally.by_mode, tally.in_run, tally.finished
    );
    println!(
        "kills before the run began: {}; by passes already finished: {:?}",
        tally.before_run, tally.by_passes
    );
    println!(
        "kills between a batch's intents and its writes: {}; between its writes and the commit of their couplings: {}",
        tally.before_write, tally.after_write
    );
    println!(
        "records: {} ({} changed at least once; {} changes aimed at rows a killed run had created and {} at rows it had updated, before the next run), last full run: {:?}",
        t.recs.len(),
        t.recs.iter().filter(|r| r.changes > 0).count(),
        t.aimed_at_creates,
        t.aimed_at_updates,
        totals(&last_full)
    );
    println!(
        "time: {:.1} s of kills, {:.1} s in all",
        kill_phase.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "seed {seed}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(tally.in_run >= MIN_LANDED);
}

/// Both databases hold every record exactly once on each side it belongs to, coupled to its
/// partner, with the latest values.
fn check_final_state(t: &Test, problems: &mut Vec<String>) {
    let w = &t.w;
    let store = w.store();
    let customers = w.rows("bc", "customers");
    let accounts = w.rows("dv", "accounts");
    let mut bc_by_name: HashMap<String, Vec<&Row>> = HashMap::new();
    for r in &customers {
        bc_by_name
            .entry(text(r, "displayName").unwrap_or_default())
            .or_default()
            .push(r);
    }
    let mut dv_by_name: HashMap<String, Vec<&Row>> = HashMap::new();
    for r in &accounts {
        dv_by_name
            .entry(text(r, "name").unwrap_or_default())
            .or_default()
            .push(r);
    }
    let mut numbers: HashMap<String, usize> = HashMap::new();
    for r in &customers {
        if let Some(n) = text(r, "number") {
            *numbers.entry(n).or_default() += 1;
        }
    }
    for (n, k) in &numbers {
        if *k > 1 {
            problems.push(format!("{k} Business Central customers numbered {n}"));
        }
    }
    let currencies: BTreeMap<String, String> = w
        .rows("dv", "transactioncurrencies")
        .into_iter()
        .filter_map(|r| text(&r, "isocurrencycode").map(|c| (c, r.key)))
        .collect();
    let users: BTreeMap<String, String> = w
        .rows("dv", "systemusers")
        .into_iter()
        .filter_map(|r| text(&r, "fullname").map(|n| (code_of(&n), r.key)))
        .collect();
    let mut expect_bc = 0;
    let mut expect_dv = 0;
    for rec in &t.recs {
        let on_bc = rec.from_bc || rec.takes_part;
        let on_dv = !rec.from_bc || rec.takes_part;
        expect_bc += usize::from(on_bc);
        expect_dv += usize::from(on_dv);
        let bc = bc_by_name.get(&rec.name).map(Vec::as_slice).unwrap_or(&[]);
        let dv = dv_by_name.get(&rec.name).map(Vec::as_slice).unwrap_or(&[]);
        if bc.len() != usize::from(on_bc) || dv.len() != usize::from(on_dv) {
            problems.push(format!(
                "`{}` ({}, {}): {} Business Central customer(s) and {} account(s), expected {} and {}",
                rec.name,
                if rec.from_bc { "from bc" } else { "from dv" },
                if rec.takes_part { "synced" } else { "not synced" },
                bc.len(),
                dv.len(),
                usize::from(on_bc),
                usize::from(on_dv)
            ));
            continue;
        }
        if !rec.takes_part {
            let key = if rec.from_bc { &bc[0].key } else { &dv[0].key };
            let side = if rec.from_bc {
                syncmap::plan::Side::Left
            } else {
                syncmap::plan::Side::Right
            };
            if store.coupling("customers", side, key).unwrap().is_some() {
                problems.push(format!("`{}` takes no part but is coupled", rec.name));
            }
            continue;
        }
        let (c, a) = (bc[0], dv[0]);
        match store
            .coupling("customers", syncmap::plan::Side::Left, &c.key)
            .unwrap()
        {
            Some(k) if k.right_key == a.key => {}
            other => problems.push(format!(
                "`{}`: customer {} and account {} are not coupled to each other: {other:?}",
                rec.name, c.key, a.key
            )),
        }
        let mut differ = Vec::new();
        let mut same = |what: &str, got: Option<String>, want: Option<String>| {
            if got != want {
                differ.push(format!("{what} = {got:?}, expected {want:?}"));
            }
        };
        same("bc city", text(c, "city"), Some(rec.city.clone()));
        same("dv city", text(a, "address1_city"), Some(rec.city.clone()));
        same("bc phone", text(c, "phoneNumber"), Some(rec.phone.clone()));
        same("dv phone", text(a, "telephone1"), Some(rec.phone.clone()));
        same("bc email", text(c, "email"), Some(rec.email.clone()));
        same(
            "dv email",
            text(a, "emailaddress1"),
            Some(rec.email.clone()),
        );
        same("bc number", text(c, "number"), rec.number.clone());
        same("bc currency", text(c, "currencyCode"), rec.currency.clone());
        same(
            "dv currency",
            text(a, "transactioncurrencyid"),
            rec.currency.as_ref().map(|code| currencies[code].clone()),
        );
        if rec.from_bc {
            same(
                "dv credit limit",
                whole(a, "creditlimit").map(|v| v.to_string()),
                rec.credit.map(|v| v.to_string()),
            );
            same(
                "bc credit limit",
                whole(c, "creditLimit").map(|v| v.to_string()),
                rec.credit.map(|v| v.to_string()),
            );
            same(
                "dv owner",
                text(a, "ownerid"),
                rec.salesperson.as_ref().map(|code| users[code].clone()),
            );
            same(
                "dv owner type",
                text(a, "owneridtype"),
                Some("systemuser".into()),
            );
        }
        same(
            "dv account type",
            whole(a, "customertypecode").map(|v| v.to_string()),
            Some("3".into()),
        );
        if !differ.is_empty() {
            problems.push(format!(
                "`{}` (changed {} time(s) in {:?}): {}",
                rec.name,
                rec.changes,
                rec.owner,
                differ.join("; ")
            ));
        }
    }
    if customers.len() != expect_bc {
        problems.push(format!(
            "{} Business Central customers, expected {expect_bc}",
            customers.len()
        ));
    }
    if accounts.len() != expect_dv {
        problems.push(format!(
            "{} Dataverse accounts, expected {expect_dv}",
            accounts.len()
        ));
    }
    // Every coupling points at rows that exist on both sides.
    let bc_keys: BTreeSet<&str> = customers.iter().map(|r| r.key.as_str()).collect();
    let dv_keys: BTreeSet<&str> = accounts.iter().map(|r| r.key.as_str()).collect();
    let mut after: Option<String> = None;
    let mut coupled = 0;
    loop {
        let page = store
            .couplings_page("customers", after.as_deref(), 500)
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.left_key.clone());
        for c in &page {
            coupled += 1;
            if !bc_keys.contains(c.left_key.as_str()) || !dv_keys.contains(c.right_key.as_str()) {
                problems.push(format!("coupling to a missing row: {c:?}"));
            }
        }
    }
    let synced = t.recs.iter().filter(|r| r.takes_part).count();
    if coupled != synced {
        problems.push(format!("{coupled} customer couplings, expected {synced}"));
    }
    // The smaller tables: one partner each, nothing made twice.
    for (mapping, sys, table, n) in [
        (
            "currencies",
            "dv",
            "transactioncurrencies",
            CURRENCIES.len(),
        ),
        ("salespeople", "bc", "salespeoplePurchasers", USERS.len()),
    ] {
        let rows = w.count(sys, table);
        let couplings = w.couplings(mapping) as usize;
        if rows != n || couplings != n {
            problems.push(format!(
                "{mapping}: {rows} {sys}.{table} rows and {couplings} couplings, expected {n}"
            ));
        }
    }
}

/// No intent or failure left, and every run accounted for.
fn check_state_store(t: &Test, tally: &Tally, problems: &mut Vec<String>) {
    let c = state(&t.w);
    for (what, sql) in [
        ("create intents left", "SELECT count(*) FROM intents"),
        (
            "records failing or skipped",
            "SELECT count(*) FROM failures",
        ),
        ("record errors logged", "SELECT count(*) FROM record_errors"),
        (
            "runs still marked running",
            "SELECT count(*) FROM runs WHERE status = 'running'",
        ),
        (
            "failed runs",
            "SELECT count(*) FROM runs WHERE status = 'failed'",
        ),
    ] {
        let n = query_i64(&c, sql);
        if n > 0 {
            let detail: Vec<String> = if what.contains("error") {
                let mut stmt = c
                    .prepare("SELECT run, mapping, direction, source_key, message FROM record_errors ORDER BY id LIMIT 10")
                    .unwrap();
                stmt.query_map([], |r| {
                    Ok(format!(
                        "run {} {} {} {}: {}",
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            } else {
                Vec::new()
            };
            problems.push(format!("{n} {what} {}", detail.join("\n  ")));
        }
    }
    let status = |id: i64| -> String {
        c.query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .unwrap()
    };
    let mut interrupted = 0;
    for id in &tally.killed_runs {
        match status(*id).as_str() {
            "interrupted" => interrupted += 1,
            // Killed after it had recorded its end, on the way out.
            "succeeded" => {}
            other => problems.push(format!("killed run {id} is `{other}`")),
        }
    }
    for id in &tally.finished_runs {
        let s = status(*id);
        if s != "succeeded" {
            problems.push(format!("run {id}, which ran to its end, is `{s}`"));
        }
    }
    println!(
        "runs killed: {} marked interrupted of {} that had begun",
        interrupted,
        tally.killed_runs.len()
    );
}
