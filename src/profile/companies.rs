//! Many companies from one plan: `companies = [...]` in the `[systems.NAME]` of a service that
//! holds several (Business Central), instead of its one `company`. Each company is synced as
//! if the profile named it alone, with state of its own in the store.
//!
//! Dataverse holds every company's rows in one table. As the reference's integration does
//! (§1.3), a Dataverse system may name the column that says which company a row belongs to
//! (`company_column`): each company then syncs the rows of its own company or of none, and the
//! rows it creates are its own. Each company names its Dataverse company (`dataverse_id`).
//!
//! ```toml
//! [systems.bc]
//! companies = [{ name = "CRONUS UK Ltd.", dataverse_id = "…" }, …]
//! [systems.dv]
//! company_column = { name = "bcbi_companyid", table = "bcbi_companies", on = ["accounts", "contacts"] }
//! ```

use serde::Deserialize;

use super::{ParseError, Profile};

/// One company a profile syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    /// Its name (or id), as the service knows it.
    pub name: String,
    /// The id of its company in Dataverse, for systems that name a `company_column`.
    pub dataverse_id: Option<String>,
}

/// A company as written: its name, or `{ name, dataverse_id }`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a company's name, or `{ name = \"…\", dataverse_id = \"…\" }`"
)]
pub(super) enum RawCompany {
    Name(String),
    Full {
        name: String,
        dataverse_id: Option<String>,
    },
}

/// Where a shared system says which company a row belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyColumn {
    /// The column (a lookup of the companies' table).
    pub column: String,
    /// The table of companies it points to (an entity set).
    pub target: String,
    /// The tables that have it.
    pub tables: Vec<String>,
}

/// `company_column = { name, table, on }`: the lookup column, the companies' table it points
/// to, and the tables that have it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompanyColumn {
    name: String,
    table: String,
    on: Vec<String>,
}

impl From<RawCompanyColumn> for CompanyColumn {
    fn from(r: RawCompanyColumn) -> Self {
        CompanyColumn {
            column: r.name,
            target: r.table,
            tables: r.on,
        }
    }
}

/// The companies of one system, checked: at least one, each named once, and never beside
/// `company`.
pub(super) fn companies(
    alias: &str,
    raw: Option<Vec<RawCompany>>,
    company: Option<&str>,
) -> Result<Vec<Company>, ParseError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let invalid = |m: String| Err(ParseError::Invalid(format!("[systems.{alias}] {m}")));
    if company.is_some() {
        return invalid("names both `company` and `companies`; keep one".into());
    }
    if raw.is_empty() {
        return invalid("`companies` is empty; name at least one".into());
    }
    let mut out: Vec<Company> = Vec::new();
    for c in raw {
        let company = match c {
            RawCompany::Name(name) => Company {
                name,
                dataverse_id: None,
            },
            RawCompany::Full { name, dataverse_id } => Company { name, dataverse_id },
        };
        if company.name.trim().is_empty() {
            return invalid("a company in `companies` has an empty name".into());
        }
        if company
            .dataverse_id
            .as_deref()
            .is_some_and(|id| uuid(id).is_none())
        {
            return invalid(format!(
                "company `{}`: `dataverse_id` is not a GUID",
                company.name
            ));
        }
        if out
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&company.name))
        {
            return invalid(format!("company `{}` is named twice", company.name));
        }
        out.push(company);
    }
    Ok(out)
}

/// A GUID in its usual 8-4-4-4-12 form, lower-cased.
fn uuid(s: &str) -> Option<String> {
    let groups: Vec<&str> = s.split('-').collect();
    let sizes = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip(sizes)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| s.to_ascii_lowercase())
}

/// Checks the profile as a whole: one system at most names companies, and where a system
/// names a `company_column`, every company names its Dataverse company.
pub(super) fn check(profile: &Profile) -> Result<(), ParseError> {
    let with: Vec<&String> = profile
        .systems
        .iter()
        .filter(|(_, s)| !s.companies.is_empty())
        .map(|(alias, _)| alias)
        .collect();
    if with.len() > 1 {
        return Err(ParseError::Invalid(format!(
            "systems `{}` and `{}` both name `companies`; one system holds the companies a plan syncs",
            with[0], with[1]
        )));
    }
    for (alias, s) in &profile.systems {
        if s.company_column.is_none() {
            continue;
        }
        let Some(holder) = with.first() else {
            return Err(ParseError::Invalid(format!(
                "[systems.{alias}] names `company_column` but no system names `companies`"
            )));
        };
        if let Some(c) = profile
            .companies()
            .iter()
            .find(|c| c.dataverse_id.is_none())
        {
            return Err(ParseError::Invalid(format!(
                "[systems.{holder}] company `{}` needs `dataverse_id`: [systems.{alias}] keeps \
                 each company's rows apart by `company_column`",
                c.name
            )));
        }
    }
    Ok(())
}

impl Profile {
    /// The companies the profile syncs one by one; empty when it names one company (or none).
    pub fn companies(&self) -> Vec<Company> {
        self.systems
            .values()
            .find(|s| !s.companies.is_empty())
            .map(|s| s.companies.clone())
            .unwrap_or_default()
    }

    /// The profile as if it named `company` alone: what one company's runs connect with.
    pub fn for_company(&self, company: &Company) -> Profile {
        let mut one = self.clone();
        for s in one.systems.values_mut() {
            if !s.companies.is_empty() {
                s.companies.clear();
                s.company = Some(company.name.clone());
            }
        }
        one
    }

    /// The Dataverse system that keeps companies' rows apart and its column, if one does.
    pub fn company_column(&self) -> Option<(&str, &CompanyColumn)> {
        self.systems
            .iter()
            .find_map(|(alias, s)| Some((alias.as_str(), s.company_column.as_ref()?)))
    }
}
