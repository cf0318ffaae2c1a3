//! The table mapping the compiler and language server benchmarks repeat: a two-way customer ↔
//! account mapping with filters, a match rule, a lookup, computed fields and modifiers.

/// One two-way customer ↔ account mapping with filters, lookups, value maps and computed
/// fields: the shape of real mappings.
pub fn table(i: usize) -> String {
    format!(
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
    )
}
