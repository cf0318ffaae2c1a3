//! Business Central's demo world: currencies, salespeople, customers, vendors and their
//! contacts, in the seeded company.

use crate::value::Value;

use super::{dec, id, s, slug, Rows};
use crate::sandbox::business_central::Bc;
use crate::sandbox::Seed;

pub(super) fn seed_bc(bc: &Bc, seed: Seed) -> Result<(), String> {
    if seed == Seed::Empty {
        return Ok(());
    }
    let store = &bc.store;
    let company = id(0xc0, 1);
    let c = company.as_str();
    let mut db = store.lock();
    db.transaction(
        |db| -> Result<(), String> {
            let rows = &mut Rows {
                db,
                store,
                scope: c,
            };
            bc_currencies(rows)?;
            bc_salespeople(rows)?;
            bc_customers(rows)?;
            bc_vendors(rows)?;
            bc_contacts(rows)?;
            for (series, last) in [("C", 80), ("V", 50), ("CT", 70)] {
                rows.db
                    .set_number(c, series, last)
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok(())
        },
        Result::is_ok,
    )
}

fn bc_currencies(rows: &mut Rows) -> Result<(), String> {
    let currencies = [
        ("EUR", "Euro", "€"),
        ("GBP", "Pound Sterling", "£"),
        ("CAD", "Canadian Dollar", "$"),
        ("DKK", "Danish Krone", "kr"),
    ];
    for (n, (code, name, symbol)) in currencies.iter().enumerate() {
        rows.put(
            "currencies",
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
    Ok(())
}

fn bc_salespeople(rows: &mut Rows) -> Result<(), String> {
    let people = [
        ("AH", "Annette Hill"),
        ("JO", "Jim Olive"),
        ("PS", "Peter Saddow"),
    ];
    for (n, (code, name)) in people.iter().enumerate() {
        let first = name.split(' ').next().unwrap_or(code).to_lowercase();
        rows.put(
            "salespeoplePurchasers",
            &id(0x1e, 1 + n as u64),
            &[
                ("code", s(code)),
                ("displayName", s(name)),
                // The same address as their Dataverse user, so the salespeople
                // mapping's match rule couples them on the first full sync.
                ("email", s(&format!("{first}@contoso.example"))),
                ("blocked", Value::Bool(false)),
                ("privacyBlocked", Value::Bool(false)),
            ],
        )?;
    }
    Ok(())
}

fn bc_customers(rows: &mut Rows) -> Result<(), String> {
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
    for (n, (name, city, country, currency, person, blocked)) in customers.iter().enumerate() {
        let slug = slug(name);
        rows.put(
            "customers",
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
    Ok(())
}

fn bc_vendors(rows: &mut Rows) -> Result<(), String> {
    let vendors = [
        ("Fabrikam Supplies", "Seattle", "US", ""),
        ("First Up Consultants", "Atlanta", "US", ""),
        ("Graphic Design Institute", "Toronto", "CA", "CAD"),
        ("Wide World Importers", "Chicago", "US", ""),
        ("Northwind Traders", "London", "GB", "GBP"),
    ];
    for (n, (name, city, country, currency)) in vendors.iter().enumerate() {
        rows.put(
            "vendors",
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
    Ok(())
}

fn bc_contacts(rows: &mut Rows) -> Result<(), String> {
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
        rows.put(
            "contacts",
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
    Ok(())
}
