//! What the services hold at start: always Business Central's companies and Dataverse's
//! application user, default team, base currency and company row; with [`Seed::Demo`] a small
//! world for the standard mappings. Ids are fixed, so every sandbox has the same rows.
//!
//! The demo data is chosen so each standard mapping has something to do: Business Central
//! currencies (EUR is also in Dataverse, to be matched by ISO code), payment terms and
//! shipment methods (for option mappings into Dataverse choices), salespeople and
//! Dataverse users (one disabled, one the integration user), customers (one blocked) and
//! vendors, person contacts of customers, and Dataverse accounts of both types with contacts.
//! Dataverse's choice columns get the snapshot's options in every seed.

use std::collections::BTreeMap;

use crate::schema::ColumnType;
use crate::value::Value;

use super::business_central::{Bc, Company};
use super::dataverse::{logical_name, AppUser, Dv};
use super::store::{Choice, Db, Store, StoreError};
use super::Seed;

mod bc;

/// The company the sandbox seeds and its profile names.
pub(crate) const COMPANY_NAME: &str = "CRONUS USA, Inc.";

/// A fixed GUID: a kind (the table) and a number.
fn id(kind: u32, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn dec(v: &str) -> Value {
    Value::Decimal(rust_decimal::Decimal::from_str_exact(v).unwrap_or_default())
}

/// The companies: the seeded one, an empty one to test choosing by name, and `more` seeded
/// like the first (see [`more_company_name`]).
pub(crate) fn companies(more: usize) -> Vec<Company> {
    let company = |n: u64, name: String| Company {
        id: id(0xc0, n),
        display_name: name.clone(),
        name,
    };
    let mut out = vec![
        company(1, COMPANY_NAME.into()),
        company(2, "My Company".into()),
    ];
    out.extend((1..=more).map(|i| company(more_company_number(i), more_company_name(i))));
    out
}

/// The name of the `i`-th more company (from 1): `CRONUS 2`, `CRONUS 3`…
pub(crate) fn more_company_name(i: usize) -> String {
    format!("CRONUS {}", i + 1)
}

fn more_company_number(i: usize) -> u64 {
    10 + i as u64
}

/// The companies seeded with data, by name, with their Business Central id and the id of
/// their row in Dataverse's `bcbi_companies`.
pub(crate) fn seeded_companies(more: usize) -> Vec<(String, String, String)> {
    let mut out = vec![(COMPANY_NAME.to_string(), id(0xc0, 1), id(0xbc, 1))];
    out.extend((1..=more).map(|i| {
        let n = more_company_number(i);
        (more_company_name(i), id(0xc0, n), id(0xbc, n))
    }));
    out
}

/// The application user the clients act as.
pub(crate) fn app_user() -> AppUser {
    AppUser {
        id: id(0x5e, 1),
        business_unit: id(0xb0, 1),
        organization: id(0x0e, 1),
    }
}

/// An ordinary Dataverse user, present in every seed, whom `MSCRMCallerID` can name so a change
/// is made by a person rather than the application user. Not licensed, so the salespeople
/// mapping (licensed users only) leaves them out.
pub(crate) fn person_user() -> String {
    id(0x5e, 2)
}
/// Puts rows into one store and one scope (a Business Central company, or `""` in Dataverse)
/// inside the seeding transaction.
struct Rows<'a> {
    db: &'a mut Db,
    store: &'a Store,
    scope: &'a str,
    /// Which company's rows these are, from 0: the rows of each company seeded like the first
    /// get ids of their own.
    company: u64,
}

impl Rows<'_> {
    /// A fixed GUID of this company's rows.
    fn id(&self, kind: u32, n: u64) -> String {
        id(kind, n + (self.company << 32))
    }

    fn put(&mut self, table: &str, key: &str, fields: &[(&str, Value)]) -> Result<(), String> {
        put(self.db, self.store, table, self.scope, key, fields)
    }
}

/// Inserts a row unless its key exists.
fn put(
    db: &mut Db,
    store: &Store,
    table: &str,
    scope: &str,
    key: &str,
    fields: &[(&str, Value)],
) -> Result<(), String> {
    let t = store
        .table(table)
        .ok_or_else(|| format!("the schema has no table `{table}`"))?;
    // Stamps like `createdby` are added to every row; tables without the column skip them.
    let map: BTreeMap<String, Value> = fields
        .iter()
        .filter(|(n, _)| t.column(n).is_some())
        .map(|(n, v)| ((*n).to_string(), v.clone()))
        .collect();
    match db.insert(t, scope, key, &map) {
        Ok(_) | Err(StoreError::Duplicate) => Ok(()),
        Err(e) => Err(format!("cannot seed {table}: {e:?}")),
    }
}

/// Seeds both services, with `more` companies seeded like the first.
pub(crate) fn seed(bc: &Bc, dv: &Dv, seed: Seed, more: usize) -> Result<(), String> {
    seed_dv(dv, seed, more)?;
    for (n, (_, company, _)) in seeded_companies(more).into_iter().enumerate() {
        bc::seed_bc(bc, seed, (&company, n as u64))?;
    }
    Ok(())
}

/// A name's letters and digits in lower case, for made-up addresses and web sites.
fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// `fields` with the application user as creator and last modifier.
fn by(me: &str, mut fields: Vec<(&'static str, Value)>) -> Vec<(&'static str, Value)> {
    fields.push(("createdby", s(me)));
    fields.push(("modifiedby", s(me)));
    fields
}

/// The Dataverse currencies' ids: US dollars (always there) and euros (demo only).
fn usd() -> String {
    id(0xcc, 1)
}

fn eur() -> String {
    id(0xcc, 2)
}

/// The licensed demo user who owns the demo accounts and contacts.
fn demo_owner() -> String {
    id(0x5e, 11)
}

fn seed_dv(dv: &Dv, seed: Seed, more: usize) -> Result<(), String> {
    let store = &dv.store;
    let mut db = store.lock();
    let me = dv.app_user.id.as_str();
    db.transaction(
        |db| -> Result<(), String> {
            let rows = &mut Rows {
                db,
                store,
                scope: "",
                company: 0,
            };
            dv_options(rows)?;
            dv_users(rows, me)?;
            dv_organization(rows, me, more)?;
            if seed == Seed::Empty {
                return Ok(());
            }
            dv_demo_users(rows, me)?;
            dv_euro(rows, me)?;
            dv_accounts(rows, me)?;
            dv_contacts(rows, me)
        },
        Result::is_ok,
    )
}

/// The snapshot's options of every choice column that has none yet, in every seed: options
/// clients added, changed or deleted in a `--data` folder stay as they left them.
fn dv_options(rows: &mut Rows) -> Result<(), String> {
    for t in &rows.store.schema.tables {
        for c in &t.columns {
            let ColumnType::Option { options } = &c.ty else {
                continue;
            };
            let choice = Choice {
                entity: logical_name(t),
                attribute: &c.name,
            };
            rows.db
                .seed_options(choice, options)
                .map_err(|e| format!("cannot seed the options of {}.{}: {e:?}", t.name, c.name))?;
        }
    }
    Ok(())
}

/// The application user and the person user, in every seed.
fn dv_users(rows: &mut Rows, me: &str) -> Result<(), String> {
    rows.put(
        "systemusers",
        me,
        &[
            ("firstname", s("#")),
            ("lastname", s("syncmap sandbox")),
            ("fullname", s("# syncmap sandbox")),
            ("internalemailaddress", s("syncmap-sandbox@contoso.example")),
            ("isdisabled", Value::Bool(false)),
            ("islicensed", Value::Bool(false)),
            ("isintegrationuser", Value::Bool(true)),
            ("accessmode", Value::Int(4)),
        ],
    )?;
    rows.put(
        "systemusers",
        &person_user(),
        &by(
            me,
            vec![
                ("firstname", s("Sandbox")),
                ("lastname", s("Person")),
                ("fullname", s("Sandbox Person")),
                ("internalemailaddress", s("person@contoso.example")),
                ("isdisabled", Value::Bool(false)),
                ("islicensed", Value::Bool(false)),
                ("isintegrationuser", Value::Bool(false)),
                ("accessmode", Value::Int(0)),
            ],
        ),
    )
}

/// The default team, the base currency and the companies' rows, in every seed.
fn dv_organization(rows: &mut Rows, me: &str, more: usize) -> Result<(), String> {
    rows.put("teams", &id(0x7e, 1), &[("name", s(COMPANY_NAME))])?;
    rows.put(
        "transactioncurrencies",
        &usd(),
        &by(
            me,
            vec![
                ("isocurrencycode", s("USD")),
                ("currencyname", s("US Dollar")),
                ("currencysymbol", s("$")),
                ("exchangerate", dec("1")),
                ("currencyprecision", Value::Int(2)),
            ],
        ),
    )?;
    for (name, bc_id, dv_id) in seeded_companies(more) {
        rows.put(
            "bcbi_companies",
            &dv_id,
            &[("bcbi_name", s(&name)), ("bcbi_externalid", s(&bc_id))],
        )?;
    }
    Ok(())
}

/// A licensed, ordinary user's fields.
fn demo_user(
    first: &str,
    last: &str,
    email: &str,
    phone: &str,
    disabled: bool,
) -> Vec<(&'static str, Value)> {
    vec![
        ("firstname", s(first)),
        ("lastname", s(last)),
        ("fullname", s(&format!("{first} {last}"))),
        ("internalemailaddress", s(email)),
        ("mobilephone", s(phone)),
        ("isdisabled", Value::Bool(disabled)),
        ("islicensed", Value::Bool(true)),
        ("isintegrationuser", Value::Bool(false)),
        ("accessmode", Value::Int(0)),
    ]
}

fn dv_demo_users(rows: &mut Rows, me: &str) -> Result<(), String> {
    let users = [
        (
            "Alicia",
            "Thomber",
            "alicia@contoso.example",
            "+1 555 0100",
            false,
        ),
        (
            "Annette",
            "Hill",
            "annette@contoso.example",
            "+1 555 0101",
            false,
        ),
        ("Jim", "Olive", "jim@contoso.example", "+1 555 0102", false),
        (
            "Peter",
            "Saddow",
            "peter@contoso.example",
            "+1 555 0103",
            false,
        ),
        ("Otis", "Falls", "otis@contoso.example", "+1 555 0104", true),
    ];
    for (n, (first, last, email, phone, disabled)) in users.iter().enumerate() {
        rows.put(
            "systemusers",
            &id(0x5e, 10 + n as u64),
            &by(me, demo_user(first, last, email, phone, *disabled)),
        )?;
    }
    Ok(())
}

fn dv_euro(rows: &mut Rows, me: &str) -> Result<(), String> {
    rows.put(
        "transactioncurrencies",
        &eur(),
        &by(
            me,
            vec![
                ("isocurrencycode", s("EUR")),
                ("currencyname", s("Euro")),
                ("currencysymbol", s("€")),
                ("exchangerate", dec("0.92")),
                ("currencyprecision", Value::Int(2)),
            ],
        ),
    )
}

fn dv_accounts(rows: &mut Rows, me: &str) -> Result<(), String> {
    let (usd, eur, owner) = (usd(), eur(), demo_owner());
    let accounts = [
        ("Coho Winery", 3, 0, "Seattle", "US", &usd),
        ("Wingtip Toys", 3, 0, "Boston", "US", &usd),
        ("Blue Yonder Airlines", 3, 0, "Dublin", "IE", &eur),
        ("Proseware, Inc.", 11, 0, "Denver", "US", &usd),
        ("Tailspin Toys", 11, 0, "Lyon", "FR", &eur),
        ("Humongous Insurance", 3, 1, "Hartford", "US", &usd),
    ];
    for (n, (name, kind, state, city, country, currency)) in accounts.iter().enumerate() {
        let slug = slug(name);
        rows.put(
            "accounts",
            &id(0xac, 1 + n as u64),
            &by(
                me,
                vec![
                    ("name", s(name)),
                    ("customertypecode", Value::Int(*kind)),
                    ("statecode", Value::Int(*state)),
                    ("statuscode", Value::Int(if *state == 0 { 1 } else { 2 })),
                    ("address1_city", s(city)),
                    ("address1_country", s(country)),
                    ("telephone1", s(&format!("+1 555 02{n:02}"))),
                    ("emailaddress1", s(&format!("info@{slug}.example"))),
                    ("websiteurl", s(&format!("https://www.{slug}.example"))),
                    ("transactioncurrencyid", s(currency)),
                    ("ownerid", s(&owner)),
                    ("owneridtype", s("systemuser")),
                ],
            ),
        )?;
    }
    Ok(())
}

fn dv_contacts(rows: &mut Rows, me: &str) -> Result<(), String> {
    let owner = demo_owner();
    let contacts = [
        ("Rene", "Valdes", 1),
        ("Paul", "Cannon", 2),
        ("Nancy", "Anderson", 3),
        ("Susan", "Burk", 4),
    ];
    for (n, (first, last, account)) in contacts.iter().enumerate() {
        let email = format!("{}@example.com", first.to_lowercase());
        rows.put(
            "contacts",
            &id(0xcd, 1 + n as u64),
            &by(
                me,
                vec![
                    ("firstname", s(first)),
                    ("lastname", s(last)),
                    ("fullname", s(&format!("{first} {last}"))),
                    ("emailaddress1", s(&email)),
                    ("parentcustomerid", s(&id(0xac, *account))),
                    ("parentcustomeridtype", s("account")),
                    ("ownerid", s(&owner)),
                    ("owneridtype", s("systemuser")),
                ],
            ),
        )?;
    }
    Ok(())
}
