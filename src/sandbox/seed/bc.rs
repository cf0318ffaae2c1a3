//! Business Central's demo world: currencies, payment terms and shipment methods (the code
//! tables option mappings carry into Dataverse choices), salespeople, customers, vendors and
//! their contacts, in the seeded company.

use crate::value::Value;

use super::{dec, s, slug, Rows};
use crate::sandbox::business_central::Bc;
use crate::sandbox::Seed;

/// Seeds the demo world into one company, by id and number (0 for the first).
pub(super) fn seed_bc(bc: &Bc, seed: Seed, (c, number): (&str, u64)) -> Result<(), String> {
    if seed == Seed::Empty {
        return Ok(());
    }
    let store = &bc.store;
    let mut db = store.lock();
    db.transaction(
        |db| -> Result<(), String> {
            let rows = &mut Rows {
                db,
                store,
                scope: c,
                company: number,
            };
            bc_currencies(rows)?;
            bc_payment_terms(rows)?;
            bc_shipment_methods(rows)?;
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
            &rows.id(0x1c, 1 + n as u64),
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

/// The kind of the seeded payment terms' ids.
const PAYMENT_TERM: u32 = 0x17;
/// The kind of the seeded shipment methods' ids.
const SHIPMENT_METHOD: u32 = 0x18;

/// A guid column set to the `n`th row (1-based) of a code table of `kind`, or left empty for 0.
fn code_id(rows: &Rows, column: &'static str, n: u64, kind: u32) -> Option<(&'static str, Value)> {
    (n > 0).then(|| (column, s(&rows.id(kind, n))))
}

fn bc_payment_terms(rows: &mut Rows) -> Result<(), String> {
    // Code, description, due date and discount date formulas, discount %, discount on credit
    // memos: Business Central's demo terms, one with a payment discount.
    let terms = [
        ("14 DAYS", "Net 14 days", "14D", "", "0", false),
        ("30 DAYS", "Net 30 days", "30D", "", "0", false),
        ("CM", "Current month", "CM", "", "0", false),
        ("COD", "Cash on delivery", "0D", "", "0", false),
        ("1M(8D)", "1 Month/2% 8 days", "1M", "8D", "2", true),
    ];
    for (n, (code, name, due, discount_date, percent, memos)) in terms.iter().enumerate() {
        rows.put(
            "paymentTerms",
            &rows.id(PAYMENT_TERM, 1 + n as u64),
            &[
                ("code", s(code)),
                ("displayName", s(name)),
                ("dueDateCalculation", s(due)),
                ("discountDateCalculation", s(discount_date)),
                ("discountPercent", dec(percent)),
                ("calculateDiscountOnCreditMemos", Value::Bool(*memos)),
            ],
        )?;
    }
    Ok(())
}

fn bc_shipment_methods(rows: &mut Rows) -> Result<(), String> {
    let methods = [
        ("EXW", "Ex Works"),
        ("CIF", "Cost Insurance Freight"),
        ("PICKUP", "Pickup at Location"),
    ];
    for (n, (code, name)) in methods.iter().enumerate() {
        rows.put(
            "shipmentMethods",
            &rows.id(SHIPMENT_METHOD, 1 + n as u64),
            &[("code", s(code)), ("displayName", s(name))],
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
            &rows.id(0x1e, 1 + n as u64),
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
    // Each customer's payment term and shipment method (numbers of the seeded rows, 0 for
    // none): most have terms, some a method, a few neither, as in a real company.
    let terms: [(u64, u64); 8] = [
        (2, 1),
        (1, 2),
        (3, 0),
        (5, 3),
        (0, 0),
        (4, 2),
        (2, 0),
        (0, 0),
    ];
    let with_terms = customers.iter().zip(terms).enumerate();
    for (n, ((name, city, country, currency, person, blocked), (term, method))) in with_terms {
        let slug = slug(name);
        let mut fields = vec![
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
        ];
        fields.extend(code_id(rows, "paymentTermsId", term, PAYMENT_TERM));
        fields.extend(code_id(rows, "shipmentMethodId", method, SHIPMENT_METHOD));
        rows.put("customers", &rows.id(0x1a, 1 + n as u64), &fields)?;
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
    // Each vendor's payment term (the number of the seeded row, 0 for none).
    let terms: [u64; 5] = [2, 1, 0, 3, 0];
    for (n, ((name, city, country, currency), term)) in vendors.iter().zip(terms).enumerate() {
        let mut fields = vec![
            ("number", s(&format!("V{:05}", 10 * (n + 1)))),
            ("displayName", s(name)),
            ("city", s(city)),
            ("country", s(country)),
            ("currencyCode", s(currency)),
            ("taxLiable", Value::Bool(false)),
            ("blocked", s(" ")),
        ];
        fields.extend(code_id(rows, "paymentTermsId", term, PAYMENT_TERM));
        rows.put("vendors", &rows.id(0x1b, 1 + n as u64), &fields)?;
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
            &rows.id(0x1d, 1 + n as u64),
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
