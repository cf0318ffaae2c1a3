//! What differs between the OData services syncmap talks to: how a column is named on the wire
//! (Dataverse lookups are `_name_value` when read and `name@odata.bind` when written), which
//! `$batch` format and size the service takes, whether updates must carry `If-Match`, whether
//! creates may choose their key, and how the service marks its own integration user's writes.

use super::pacing::RateLimit;
use crate::plan::{ColumnInfo, SystemKind, TableInfo};
use crate::value::ColumnKind;

/// The kind of OData service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The Dataverse Web API.
    Dataverse,
    /// The Business Central API (v2.0 or a custom API route).
    BusinessCentral,
    /// Any other OData v4 service.
    Generic,
}

/// How a service takes `$batch` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// `multipart/mixed` (OData 4.0; Dataverse).
    Multipart,
    /// JSON (OData 4.01; Business Central).
    Json,
}

impl Flavor {
    /// The flavor of a system kind (`dataverse`, `business_central`, `odata`).
    pub fn of_kind(kind: SystemKind) -> Option<Flavor> {
        match kind {
            SystemKind::Dataverse => Some(Flavor::Dataverse),
            SystemKind::BusinessCentral => Some(Flavor::BusinessCentral),
            SystemKind::Odata => Some(Flavor::Generic),
            SystemKind::Sqlite | SystemKind::Postgres => None,
        }
    }

    /// The most operations one `$batch` may carry.
    pub fn max_batch(self) -> usize {
        match self {
            Flavor::Dataverse => 1000,
            Flavor::BusinessCentral => 100,
            Flavor::Generic => 100,
        }
    }

    /// The request budget the service documents, which requests are paced to stay within
    /// unless the profile says otherwise: 6,000 requests per five minutes for Dataverse and
    /// for Business Central online; none known for other OData services.
    pub fn request_budget(self) -> Option<RateLimit> {
        match self {
            Flavor::Dataverse | Flavor::BusinessCentral => Some(RateLimit {
                requests: 6000,
                window: std::time::Duration::from_secs(300),
            }),
            Flavor::Generic => None,
        }
    }

    /// The largest page the service serves.
    pub fn max_page(self) -> usize {
        match self {
            Flavor::Dataverse => 5000,
            Flavor::BusinessCentral => 20_000,
            Flavor::Generic => 5000,
        }
    }

    /// The `$batch` format.
    pub fn batch_format(self) -> BatchFormat {
        match self {
            Flavor::Dataverse => BatchFormat::Multipart,
            Flavor::BusinessCentral | Flavor::Generic => BatchFormat::Json,
        }
    }

    /// Whether a write's returned representation may be cut down with `$select` (Dataverse
    /// documents it for creates and updates; elsewhere the whole row comes back).
    pub fn selects_written(self) -> bool {
        matches!(self, Flavor::Dataverse)
    }

    /// Whether a create may carry the key it makes the row with (Dataverse takes the primary
    /// key in the body; Business Central's `id` is read-only).
    pub fn client_keys(self) -> bool {
        matches!(self, Flavor::Dataverse)
    }

    /// Whether a column of a table is a property of the wire format at all: Dataverse's
    /// `<lookup>type` columns say which table a polymorphic lookup points to, and travel in the
    /// lookup's annotation (read) and navigation property (write) instead.
    pub fn is_property(self, table: &TableInfo, column: &str) -> bool {
        self != Flavor::Dataverse || polymorphic_of(table, column).is_none()
    }

    /// The property a column is read, selected and filtered as.
    pub fn read_name(self, column: &str, info: Option<&ColumnInfo>) -> String {
        match info {
            Some(c) if self == Flavor::Dataverse && c.ty == ColumnKind::Lookup => {
                format!("_{column}_value")
            }
            _ => column.to_string(),
        }
    }
}

/// The lookup a `<lookup>type` column names the target table of, if it is one.
pub fn polymorphic_of<'a>(table: &'a TableInfo, column: &str) -> Option<&'a str> {
    table.lookup_typed_by(column)
}

/// The entity set of a lookup target named by its logical name (`account` → `accounts`), among
/// the lookup's targets.
pub fn target_set<'a>(targets: &'a [String], logical: &str) -> Option<&'a str> {
    let plural = |t: &str| -> bool {
        t == logical
            || t == format!("{logical}s")
            || t == format!("{logical}es")
            || logical
                .strip_suffix('y')
                .is_some_and(|stem| t == format!("{stem}ies"))
    };
    targets.iter().map(String::as_str).find(|t| plural(t))
}

/// The logical name of an entity set among well-known plurals (`transactioncurrencies` →
/// `transactioncurrency`), for the `<lookup>type` column read back.
pub fn logical_of(set: &str) -> String {
    if let Some(stem) = set.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = set.strip_suffix("ses") {
        format!("{stem}s")
    } else {
        set.strip_suffix('s').unwrap_or(set).to_string()
    }
}

/// The navigation property a Dataverse lookup is written through: customer lookups (a choice of
/// accounts and contacts) name the table (`parentcustomerid_account`); owner and single-table
/// lookups do not (`ownerid`, `transactioncurrencyid`).
pub fn bind_property(column: &str, info: &ColumnInfo, set: &str) -> String {
    let owner = info
        .targets
        .iter()
        .any(|t| t == "systemusers" || t == "teams");
    if info.targets.len() > 1 && !owner {
        format!("{column}_{}@odata.bind", logical_of(set))
    } else {
        format!("{column}@odata.bind")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ColumnKind;

    fn lookup(targets: &[&str]) -> ColumnInfo {
        ColumnInfo {
            ty: ColumnKind::Lookup,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn dataverse_names_lookups_apart_from_other_columns() {
        let l = lookup(&["transactioncurrencies"]);
        assert_eq!(
            Flavor::Dataverse.read_name("transactioncurrencyid", Some(&l)),
            "_transactioncurrencyid_value"
        );
        assert_eq!(
            Flavor::BusinessCentral.read_name("transactioncurrencyid", Some(&l)),
            "transactioncurrencyid"
        );
        assert_eq!(
            bind_property("transactioncurrencyid", &l, "transactioncurrencies"),
            "transactioncurrencyid@odata.bind"
        );
        let customer = lookup(&["accounts", "contacts"]);
        assert_eq!(
            bind_property("parentcustomerid", &customer, "contacts"),
            "parentcustomerid_contact@odata.bind"
        );
        let owner = lookup(&["systemusers", "teams"]);
        assert_eq!(
            bind_property("ownerid", &owner, "teams"),
            "ownerid@odata.bind"
        );
    }

    #[test]
    fn logical_names_and_entity_sets_correspond() {
        let targets = vec![
            "systemusers".to_string(),
            "teams".to_string(),
            "transactioncurrencies".to_string(),
        ];
        assert_eq!(target_set(&targets, "systemuser"), Some("systemusers"));
        assert_eq!(
            target_set(&targets, "transactioncurrency"),
            Some("transactioncurrencies")
        );
        assert_eq!(target_set(&targets, "account"), None);
        assert_eq!(logical_of("transactioncurrencies"), "transactioncurrency");
        assert_eq!(logical_of("accounts"), "account");
    }

    #[test]
    fn type_columns_of_polymorphic_lookups_are_not_properties() {
        let mut t = TableInfo {
            entity_type: None,
            key: "accountid".into(),
            modified_on: None,
            columns: Default::default(),
        };
        t.columns
            .insert("ownerid".into(), lookup(&["systemusers", "teams"]));
        t.columns.insert(
            "transactioncurrencyid".into(),
            lookup(&["transactioncurrencies"]),
        );
        assert!(!Flavor::Dataverse.is_property(&t, "owneridtype"));
        assert!(Flavor::Dataverse.is_property(&t, "transactioncurrencyidtype"));
        assert!(Flavor::Generic.is_property(&t, "owneridtype"));
    }
}
