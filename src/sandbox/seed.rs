//! What the services hold at start: always Business Central's companies and Dataverse's
//! application user, default team, base currency and company row; with [`Seed::Demo`] a small
//! world for the standard mappings. Ids are fixed, so every sandbox has the same rows.
//!
//! The demo data is chosen so each standard mapping has something to do: Business Central
//! currencies (EUR is also in Dataverse, to be matched by ISO code), salespeople and
//! Dataverse users (one disabled, one the integration user), customers (one blocked) and
//! vendors, person contacts of customers, and Dataverse accounts of both types with contacts.

use std::collections::BTreeMap;

use crate::value::Value;

use super::business_central::{Bc, Company};
use super::dataverse::{AppUser, Dv};
use super::store::{Db, StoreError};
use super::Seed;

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

/// The two companies: the seeded one, and an empty one to test choosing by name.
pub(crate) fn companies() -> Vec<Company> {
    vec![
        Company {
            id: id(0xc0, 1),
            name: COMPANY_NAME.into(),
            display_name: COMPANY_NAME.into(),
        },
        Company {
            id: id(0xc0, 2),
            name: "My Company".into(),
            display_name: "My Company".into(),
        },
    ]
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

/// Inserts a row unless its key exists.
fn put(
    db: &mut Db,
    store: &super::store::Store,
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

/// Seeds both services.
pub(crate) fn seed(bc: &Bc, dv: &Dv, seed: Seed) -> Result<(), String> {
    seed_dv(dv, seed)?;
    seed_bc(bc, seed)
}

fn seed_dv(dv: &Dv, seed: Seed) -> Result<(), String> {
    let store = &dv.store;
    let mut db = store.lock();
    let me = dv.app_user.id.clone();
    let user = |first: &str,
                last: &str,
                email: &str,
                phone: &str,
                disabled: bool|
     -> Vec<(&'static str, Value)> {
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
    };
    let by_me = |mut f: Vec<(&'static str, Value)>| {
        f.push(("createdby", s(&me)));
        f.push(("modifiedby", s(&me)));
        f
    };
    let usd = id(0xcc, 1);
    let eur = id(0xcc, 2);
    let result = db.transaction(
        |db| -> Result<(), String> {
            put(
                db,
                store,
                "systemusers",
                "",
                &me,
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
            put(
                db,
                store,
                "systemusers",
                "",
                &person_user(),
                &by_me(vec![
                    ("firstname", s("Sandbox")),
                    ("lastname", s("Person")),
                    ("fullname", s("Sandbox Person")),
                    ("internalemailaddress", s("person@contoso.example")),
                    ("isdisabled", Value::Bool(false)),
                    ("islicensed", Value::Bool(false)),
                    ("isintegrationuser", Value::Bool(false)),
                    ("accessmode", Value::Int(0)),
                ]),
            )?;
            put(
                db,
                store,
                "teams",
                "",
                &id(0x7e, 1),
                &[("name", s(COMPANY_NAME))],
            )?;
            put(
                db,
                store,
                "transactioncurrencies",
                "",
                &usd,
                &by_me(vec![
                    ("isocurrencycode", s("USD")),
                    ("currencyname", s("US Dollar")),
                    ("currencysymbol", s("$")),
                    ("exchangerate", dec("1")),
                    ("currencyprecision", Value::Int(2)),
                ]),
            )?;
            put(
                db,
                store,
                "bcbi_companies",
                "",
                &id(0xbc, 1),
                &[
                    ("bcbi_name", s(COMPANY_NAME)),
                    ("bcbi_externalid", s(&id(0xc0, 1))),
                ],
            )?;
            if seed == Seed::Empty {
                return Ok(());
            }
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
                put(
                    db,
                    store,
                    "systemusers",
                    "",
                    &id(0x5e, 10 + n as u64),
                    &by_me(user(first, last, email, phone, *disabled)),
                )?;
            }
            put(
                db,
                store,
                "transactioncurrencies",
                "",
                &eur,
                &by_me(vec![
                    ("isocurrencycode", s("EUR")),
                    ("currencyname", s("Euro")),
                    ("currencysymbol", s("€")),
                    ("exchangerate", dec("0.92")),
                    ("currencyprecision", Value::Int(2)),
                ]),
            )?;
            let owner = id(0x5e, 11);
            let accounts = [
                ("Coho Winery", 3, 0, "Seattle", "US", &usd),
                ("Wingtip Toys", 3, 0, "Boston", "US", &usd),
                ("Blue Yonder Airlines", 3, 0, "Dublin", "IE", &eur),
                ("Proseware, Inc.", 11, 0, "Denver", "US", &usd),
                ("Tailspin Toys", 11, 0, "Lyon", "FR", &eur),
                ("Humongous Insurance", 3, 1, "Hartford", "US", &usd),
            ];
            for (n, (name, kind, state, city, country, currency)) in accounts.iter().enumerate() {
                let slug: String = name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_lowercase();
                put(
                    db,
                    store,
                    "accounts",
                    "",
                    &id(0xac, 1 + n as u64),
                    &by_me(vec![
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
                    ]),
                )?;
            }
            let contacts = [
                ("Rene", "Valdes", 1),
                ("Paul", "Cannon", 2),
                ("Nancy", "Anderson", 3),
                ("Susan", "Burk", 4),
            ];
            for (n, (first, last, account)) in contacts.iter().enumerate() {
                put(
                    db,
                    store,
                    "contacts",
                    "",
                    &id(0xcd, 1 + n as u64),
                    &by_me(vec![
                        ("firstname", s(first)),
                        ("lastname", s(last)),
                        ("fullname", s(&format!("{first} {last}"))),
                        (
                            "emailaddress1",
                            s(&format!("{}@example.com", first.to_lowercase())),
                        ),
                        ("parentcustomerid", s(&id(0xac, *account))),
                        ("parentcustomeridtype", s("account")),
                        ("ownerid", s(&owner)),
                        ("owneridtype", s("systemuser")),
                    ]),
                )?;
            }
            Ok(())
        },
        Result::is_ok,
    );
    result
}

fn seed_bc(bc: &Bc, seed: Seed) -> Result<(), String> {
    if seed == Seed::Empty {
        return Ok(());
    }
    let store = &bc.store;
    let company = id(0xc0, 1);
    let c = company.as_str();
    let mut db = store.lock();
    db.transaction(
        |db| -> Result<(), String> {
            let currencies = [
                ("EUR", "Euro", "€"),
                ("GBP", "Pound Sterling", "£"),
                ("CAD", "Canadian Dollar", "$"),
                ("DKK", "Danish Krone", "kr"),
            ];
            for (n, (code, name, symbol)) in currencies.iter().enumerate() {
                put(
                    db,
                    store,
                    "currencies",
                    c,
                    &id(0x1c, 1 + n as u64),
                    &[
                        ("code", s(code)),
                        ("displayName", s(name)),
                        ("symbol", s(symbol)),
                        ("amountDecimalPlaces", s("2:2")),
                        ("amountRoundingPrecision", dec("0.01")),
                    ],
                )?;
            }
            let people = [
                ("AH", "Annette Hill"),
                ("JO", "Jim Olive"),
                ("PS", "Peter Saddow"),
            ];
            for (n, (code, name)) in people.iter().enumerate() {
                put(
                    db,
                    store,
                    "salespeoplePurchasers",
                    c,
                    &id(0x1e, 1 + n as u64),
                    &[
                        ("code", s(code)),
                        ("displayName", s(name)),
                        // The same address as their Dataverse user, so the salespeople
                        // mapping's match rule couples them on the first full sync.
                        (
                            "email",
                            s(&format!(
                                "{}@contoso.example",
                                name.split(' ').next().unwrap_or(code).to_lowercase()
                            )),
                        ),
                        ("blocked", Value::Bool(false)),
                        ("privacyBlocked", Value::Bool(false)),
                    ],
                )?;
            }
            let customers = [
                ("Adatum Corporation", "Atlanta", "US", "", "AH", " "),
                ("Trey Research", "Chicago", "US", "", "JO", " "),
                ("School of Fine Art", "Miami", "US", "", "PS", " "),
                ("Alpine Ski House", "Montreal", "CA", "CAD", "AH", " "),
                ("Relecloud", "Chicago", "US", "", "JO", " "),
                ("Contoso Ltd.", "London", "GB", "GBP", "PS", " "),
                ("Fabrikam, Inc.", "Paris", "FR", "EUR", "AH", " "),
                ("Litware, Inc.", "Redmond", "US", "", "JO", "All"),
            ];
            for (n, (name, city, country, currency, person, blocked)) in
                customers.iter().enumerate()
            {
                let slug: String = name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_lowercase();
                put(
                    db,
                    store,
                    "customers",
                    c,
                    &id(0x1a, 1 + n as u64),
                    &[
                        ("number", s(&format!("C{:05}", 10 * (n + 1)))),
                        ("displayName", s(name)),
                        ("type", s("Company")),
                        ("city", s(city)),
                        ("country", s(country)),
                        ("email", s(&format!("orders@{slug}.example"))),
                        ("phoneNumber", s(&format!("+1 555 03{n:02}"))),
                        ("currencyCode", s(currency)),
                        ("salespersonCode", s(person)),
                        ("creditLimit", dec(&format!("{}", 5000 * (n + 1)))),
                        ("taxLiable", Value::Bool(true)),
                        ("blocked", s(blocked)),
                    ],
                )?;
            }
            let vendors = [
                ("Fabrikam Supplies", "Seattle", "US", ""),
                ("First Up Consultants", "Atlanta", "US", ""),
                ("Graphic Design Institute", "Toronto", "CA", "CAD"),
                ("Wide World Importers", "Chicago", "US", ""),
                ("Northwind Traders", "London", "GB", "GBP"),
            ];
            for (n, (name, city, country, currency)) in vendors.iter().enumerate() {
                put(
                    db,
                    store,
                    "vendors",
                    c,
                    &id(0x1b, 1 + n as u64),
                    &[
                        ("number", s(&format!("V{:05}", 10 * (n + 1)))),
                        ("displayName", s(name)),
                        ("city", s(city)),
                        ("country", s(country)),
                        ("currencyCode", s(currency)),
                        ("taxLiable", Value::Bool(false)),
                        ("blocked", s(" ")),
                    ],
                )?;
            }
            let contacts = [
                ("Robert Townes", "Person", "C00010"),
                ("Helen Ray", "Person", "C00020"),
                ("Meagan Bond", "Person", "C00030"),
                ("Ian Deberry", "Person", "C00040"),
                ("Jesse Homer", "Person", "C00060"),
                ("Monica Thompson", "Person", "C00070"),
                ("Adatum Corporation", "Company", "C00010"),
            ];
            for (n, (name, kind, company)) in contacts.iter().enumerate() {
                let first = name.split(' ').next().unwrap_or(name).to_lowercase();
                put(
                    db,
                    store,
                    "contacts",
                    c,
                    &id(0x1d, 1 + n as u64),
                    &[
                        ("number", s(&format!("CT{:06}", 10 * (n + 1)))),
                        ("displayName", s(name)),
                        ("type", s(kind)),
                        ("companyNumber", s(company)),
                        ("contactBusinessRelation", s("Customer")),
                        ("email", s(&format!("{first}@example.com"))),
                        ("privacyBlocked", Value::Bool(false)),
                    ],
                )?;
            }
            for (series, last) in [("C", 80), ("V", 50), ("CT", 70)] {
                db.set_number(c, series, last)
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok(())
        },
        Result::is_ok,
    )
}
