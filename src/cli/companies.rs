//! Which company a command works on, when the profile names several (`companies`), and the
//! plan and connections of each.

use syncmap::plan::company::for_company;
use syncmap::plan::Plan;
use syncmap::profile::{Company, Profile};
use syncmap::schedule::WorkerCompany;
use syncmap::state::Store;

use super::runtime::{connect, Target};
use super::CliError;

/// Refuses a store that holds the couplings of a profile of one company when the profile
/// names several: each company's state is kept under its name, so those couplings would not
/// be found, and their records would be matched or copied again. Warns when no system keeps
/// the companies' rows apart.
pub fn check_store(profile: &Profile, store: &Store) -> Result<(), CliError> {
    if profile.companies().is_empty() {
        return Ok(());
    }
    if profile.company_column().is_none() {
        eprintln!(
            "warning: the profile names `companies` but no system names a `company_column`: \
             every company reads every row of the systems they share"
        );
    }
    let single = store
        .has_couplings_of("")
        .map_err(|e| CliError::Io(e.to_string()))?;
    if single {
        return Err(CliError::Usage(format!(
            "the state store at {} holds the couplings of a profile that named one company \
             (`company = \"…\"`), which a profile that names `companies` would not find: keep \
             that company's profile of one company with this store, and give the profile of \
             many companies a store of its own",
            store.label()
        )));
    }
    Ok(())
}

/// The company `--company` names among the profile's; `None` for a profile of one company.
pub fn chosen(profile: &Profile, asked: Option<&str>) -> Result<Option<Company>, CliError> {
    let companies = profile.companies();
    match (asked, companies.is_empty()) {
        (None, true) => Ok(None),
        (Some(name), true) => Err(CliError::Usage(format!(
            "--company {name}: the profile names no `companies`; its systems' `company` is the one synced"
        ))),
        (Some(name), false) => find(&companies, name).map(Some),
        (None, false) => Err(CliError::Usage(format!(
            "the profile syncs several companies: name one with --company ({})",
            names(&companies)
        ))),
    }
}

/// The company of `companies` named `name` (case aside), or an error that lists them.
fn find(companies: &[Company], name: &str) -> Result<Company, CliError> {
    companies
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .cloned()
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--company {name}: the profile names no such company; it names {}",
                names(companies)
            ))
        })
}

fn names(companies: &[Company]) -> String {
    companies
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The profile and plan one company's runs use: the profile as if it named the company alone,
/// and the plan with the company's conditions on the shared system's tables.
pub fn scoped(profile: &Profile, company: &Company, plan: Plan) -> (Profile, Plan) {
    let plan = match (profile.company_column(), &company.dataverse_id) {
        (Some((system, column)), Some(id)) => for_company(&plan, system, column, id),
        _ => plan,
    };
    (profile.for_company(company), plan)
}

/// Every company's plan and connections, for a worker (`--company` keeps it to one); the
/// profile's one company when it names no `companies`.
pub fn all(
    target: &Target,
    profile: &Profile,
    plan: &Plan,
) -> Result<Vec<WorkerCompany>, CliError> {
    let companies = match target.company.as_deref() {
        Some(name) => chosen(profile, Some(name))?.into_iter().collect(),
        None => profile.companies(),
    };
    if companies.is_empty() {
        return Ok(vec![WorkerCompany {
            company: String::new(),
            plan: plan.clone(),
            systems: connect(target, plan, profile)?,
        }]);
    }
    companies
        .iter()
        .map(|c| {
            let (one, plan) = scoped(profile, c, plan.clone());
            let systems = connect(target, &plan, &one)?;
            Ok(WorkerCompany {
                company: c.name.clone(),
                plan,
                systems,
            })
        })
        .collect()
}
