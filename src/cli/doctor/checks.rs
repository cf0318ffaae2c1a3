//! The checks of one system, in order; the first that fails makes the later ones that need it
//! skipped, so each failure is reported once, where it starts.

use std::collections::BTreeSet;

use syncmap::connectors::odata::flavor::Flavor;
use syncmap::connectors::odata::ODataConnector;
use syncmap::connectors::sqlite::SqliteConnector;
use syncmap::diagnostics::Diagnostics;
use syncmap::drift::{self, diagnose, UsedTable};
use syncmap::profile::{Auth, ChangeReads, Profile, Secret, SystemConfig};
use syncmap::runtime::engine::{Engine, Options, Outlook};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::schema::SystemSchema;

mod tracking;
use syncmap::source::FileId;
use syncmap::state::Store;

use super::Inputs;

/// The snapshot a plan was compiled against, and where its text is.
pub struct Snapshot {
    /// The snapshot.
    pub schema: SystemSchema,
    /// Its text in the sources (or the plan file's).
    pub file: FileId,
    /// Whether `file` is the plan file standing in for a snapshot that was not found.
    pub is_plan: bool,
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It passed.
    Passed,
    /// It failed: the system cannot be used as it is.
    Failed,
    /// It was not made, because an earlier one failed.
    Skipped,
}

/// One check of one system.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// `profile`, `secret`, `connection`, `authentication`, `company`, `tables`, `schema`.
    pub check: &'static str,
    /// How it ended.
    pub status: Status,
    /// What was found, or what is wrong and what to do.
    pub message: String,
}

/// Every check of one system.
pub struct SystemReport {
    /// The alias.
    pub system: String,
    /// Its kind, as the plan declares it.
    pub kind: String,
    /// Where it is (the URL without query, or the database path); none without a profile
    /// section.
    pub location: Option<String>,
    /// The checks, in the order made.
    pub checks: Vec<Check>,
    /// The drift from the snapshot, as diagnostics.
    pub drift: Diagnostics,
    /// The checks this kind of system gets, in order.
    planned: Vec<&'static str>,
}

impl SystemReport {
    fn pass(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(check, Status::Passed, message.into());
    }

    fn fail(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(check, Status::Failed, message.into());
    }

    fn push(&mut self, check: &'static str, status: Status, message: String) {
        self.checks.push(Check {
            check,
            status,
            message,
        });
    }

    /// Marks the planned checks not made after a failure as skipped.
    fn skip_rest(&mut self) {
        let failed = self
            .checks
            .last()
            .map_or("an earlier check", |c| c.check)
            .to_string();
        let rest: Vec<&'static str> = self
            .planned
            .iter()
            .filter(|p| !self.checks.iter().any(|c| c.check == **p))
            .copied()
            .collect();
        for check in rest {
            self.push(
                check,
                Status::Skipped,
                format!("not checked: `{failed}` failed"),
            );
        }
    }
}

/// The checks of every system the plan uses, in alias order.
pub async fn all(inputs: &Inputs, profile: &Profile) -> Vec<SystemReport> {
    let mut out = Vec::new();
    for (alias, system) in &inputs.plan.systems {
        let config = profile.systems.get(alias);
        let is_sqlite = config.is_none_or(|c| c.url.starts_with("sqlite://"));
        let mut planned = planned_checks(is_sqlite, system.kind.as_str());
        if !is_sqlite && config.is_some_and(|c| c.http.changes == ChangeReads::Tracking) {
            planned.push("changes");
        }
        let mut r = SystemReport {
            system: alias.clone(),
            kind: system.kind.to_string(),
            location: None,
            checks: Vec::new(),
            drift: Diagnostics::new(),
            planned,
        };
        let Some(config) = config else {
            r.fail(
                "profile",
                format!(
                    "`{}` has no [systems.{alias}] section; the plan needs system `{alias}` ({})",
                    inputs.profile_name, system.kind
                ),
            );
            r.skip_rest();
            out.push(r);
            continue;
        };
        r.pass(
            "profile",
            format!("[systems.{alias}] is in `{}`", inputs.profile_name),
        );
        let used = drift::used_by(&inputs.plan, alias);
        if let Some(path) = config.url.strip_prefix("sqlite://") {
            sqlite(&mut r, &profile.base.join(path), inputs, &used);
        } else {
            r.location =
                Some(syncmap::connectors::odata::failure::without_query(&config.url).to_string());
            service(&mut r, config, inputs, &used).await;
        }
        out.push(r);
    }
    out
}

/// The checks a kind of system gets, in the order they are made.
fn planned_checks(is_sqlite: bool, kind: &str) -> Vec<&'static str> {
    match (is_sqlite, kind) {
        (true, _) => vec!["profile", "connection", "tables", "schema"],
        (false, "business_central") => vec![
            "profile",
            "secret",
            "connection",
            "authentication",
            "company",
            "tables",
            "schema",
        ],
        (false, _) => vec![
            "profile",
            "secret",
            "connection",
            "authentication",
            "tables",
            "schema",
        ],
    }
}

/// A SQLite system: the database opens, has the tables, and matches the snapshot.
fn sqlite(r: &mut SystemReport, path: &std::path::Path, inputs: &Inputs, used: &[UsedTable]) {
    r.location = Some(path.display().to_string());
    if !path.exists() {
        r.fail(
            "connection",
            format!("the database `{}` does not exist: check `url` in the profile (relative paths start at the profile's folder)", path.display()),
        );
        r.skip_rest();
        return;
    }
    let live = SqliteConnector::open(path).and_then(|c| c.introspect());
    let live = match live {
        Ok(s) => s,
        Err(e) => {
            r.fail(
                "connection",
                format!("the database `{}` cannot be read: {e}", path.display()),
            );
            r.skip_rest();
            return;
        }
    };
    r.pass(
        "connection",
        format!("the database `{}` opens", path.display()),
    );
    let missing: Vec<&str> = used
        .iter()
        .filter(|t| live.table(&t.name).is_none())
        .map(|t| t.name.as_str())
        .collect();
    tables(r, used, &missing);
    schema(r, inputs, used, &live);
}

/// A service: secret, connection, credentials, company, tables, `$metadata`.
async fn service(r: &mut SystemReport, config: &SystemConfig, inputs: &Inputs, used: &[UsedTable]) {
    let Some(secret) = secret(r, config) else {
        r.skip_rest();
        return;
    };
    let Some((conn, flavor)) = connection(r, config, secret).await else {
        r.skip_rest();
        return;
    };
    if !authentication(r, &conn, &config.auth).await {
        r.skip_rest();
        return;
    }
    if flavor == Flavor::BusinessCentral && !company(r, &conn, config).await {
        r.skip_rest();
        return;
    }
    let Some(missing) = missing_tables(r, &conn, inputs, used).await else {
        r.skip_rest();
        return;
    };
    tables(r, used, &missing);
    let live = match conn.metadata().await {
        Ok(xml) => syncmap::schema::csdl::import(&xml, None).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match live {
        Ok(live) => schema(r, inputs, used, &live),
        Err(e) => r.fail(
            "schema",
            format!("the service's $metadata cannot be read: {e}"),
        ),
    }
    if config.http.changes == ChangeReads::Tracking && flavor == Flavor::Dataverse {
        tracking::changes(r, &conn, inputs, used).await;
    }
}

/// The system's secret from the environment; `None` when it is not set (and the check failed).
fn secret(r: &mut SystemReport, config: &SystemConfig) -> Option<Option<Secret>> {
    match config.secret() {
        Ok(s) => {
            match config.auth.secret_env() {
                Some((var, what)) => r.pass("secret", format!("`{var}` is set (the {what})")),
                None => r.pass("secret", "none needed: `auth` is of kind `none`"),
            }
            Some(s)
        }
        Err(e) => {
            r.fail(
                "secret",
                format!("{e}; set it in the environment that runs syncmap"),
            );
            None
        }
    }
}

/// A connector to the service, once it answers at all; `None` when it does not (and the check
/// failed).
async fn connection(
    r: &mut SystemReport,
    config: &SystemConfig,
    secret: Option<Secret>,
) -> Option<(ODataConnector, Flavor)> {
    let Some(flavor) = syncmap::plan::SystemKind::parse(&r.kind).and_then(Flavor::of_kind) else {
        r.fail(
            "connection",
            format!("system `{}` is of kind `{}`, which has no HTTP connector; use a `sqlite://PATH` URL", r.system, r.kind),
        );
        return None;
    };
    let conn = match ODataConnector::open(config, flavor, secret) {
        Ok(c) => c,
        Err(e) => {
            r.fail("connection", e.to_string());
            return None;
        }
    };
    match conn.reachable().await {
        Ok(status) => r.pass(
            "connection",
            format!("the service answers (HTTP {status} without credentials)"),
        ),
        Err(why) => {
            r.fail("connection", why);
            return None;
        }
    }
    Some((conn, flavor))
}

/// The Business Central company of the profile exists; true when it does.
async fn company(r: &mut SystemReport, conn: &ODataConnector, config: &SystemConfig) -> bool {
    match conn.company().await {
        Ok(_) => {
            r.pass(
                "company",
                format!("`{}` found", config.company.as_deref().unwrap_or_default()),
            );
            true
        }
        Err(e) => {
            r.fail(
                "company",
                format!(
                    "{e}; set `company` in [systems.{}] to one of them",
                    r.system
                ),
            );
            false
        }
    }
}

/// The used tables the service does not have; `None` when asking failed (and the check did).
async fn missing_tables<'u>(
    r: &mut SystemReport,
    conn: &ODataConnector,
    inputs: &Inputs,
    used: &'u [UsedTable],
) -> Option<Vec<&'u str>> {
    let mut missing = Vec::new();
    for t in used {
        // A table only an option mapping uses is not in the plan: its choice column answers.
        let key = inputs
            .plan
            .systems
            .get(&r.system)
            .and_then(|s| s.tables.get(&t.name))
            .map(|i| i.key.as_str())
            .or_else(|| t.columns.keys().next().map(String::as_str))
            .unwrap_or("id");
        match conn.table_answers(&t.name, key).await {
            Ok(true) => {}
            Ok(false) => missing.push(t.name.as_str()),
            Err(e) => {
                r.fail("tables", format!("`{}`: {e}", t.name));
                return None;
            }
        }
    }
    Some(missing)
}

/// The token and the service's acceptance of it; true when both are fine.
async fn authentication(r: &mut SystemReport, conn: &ODataConnector, auth: &Auth) -> bool {
    if let Err(e) = conn.authorize().await {
        let hint = match auth.secret_env() {
            Some((var, what)) => format!("check that `{var}` holds the current {what}, and the client id and token URL in the profile"),
            None => "check the profile's `auth`".to_string(),
        };
        r.fail("authentication", format!("no token: {e}; {hint}"));
        return false;
    }
    if let Err(e) = conn.accepts_credentials().await {
        let text = e.to_string();
        let hint = if text.contains("HTTP 401") {
            "; the service does not accept the token (401): check the `scope` of the profile's `auth` and that the application is registered as a user of the service"
        } else if text.contains("HTTP 403") {
            "; the service knows the application but does not let it in (403): give its user a role with access"
        } else {
            ""
        };
        r.fail("authentication", format!("{text}{hint}"));
        return false;
    }
    let how = match auth {
        Auth::ClientCredentials { .. } => "a token was obtained and the service accepts it",
        Auth::None => "no credentials needed: the service accepts requests without them",
        _ => "the service accepts the credentials",
    };
    r.pass("authentication", how);
    true
}

fn tables(r: &mut SystemReport, used: &[UsedTable], missing: &[&str]) {
    if missing.is_empty() {
        let names: Vec<&str> = used.iter().map(|t| t.name.as_str()).collect();
        r.pass(
            "tables",
            format!(
                "{} table{} found: {}",
                names.len(),
                plural(names.len()),
                names.join(", ")
            ),
        );
    } else {
        r.fail(
            "tables",
            format!(
                "not found in the live system: {} (see E0601 below)",
                missing.join(", ")
            ),
        );
    }
}

/// Compares the live schema with the snapshot; failed when there is an error.
fn schema(r: &mut SystemReport, inputs: &Inputs, used: &[UsedTable], live: &SystemSchema) {
    let Some(snapshot) = inputs.snapshots.get(&r.system) else {
        r.fail("schema", "the plan names no snapshot of this system");
        return;
    };
    let findings = drift::compare(&snapshot.schema, live, used);
    let cx = diagnose::Context {
        system: &r.system,
        sources: &inputs.sources,
        snapshot: snapshot.file,
        maps: &inputs.maps,
        snapshot_is_plan: snapshot.is_plan,
    };
    r.drift = diagnose::diagnostics(&findings, &cx);
    let against = inputs.sources.get(snapshot.file).name.clone();
    let columns: usize = used.iter().map(|t| t.columns.len()).sum();
    let (errors, warnings) = (r.drift.error_count(), r.drift.warning_count());
    let counted = |n: usize, what: &str| format!("{n} {what}{}", plural(n));
    if errors > 0 {
        r.fail(
            "schema",
            format!(
                "the live schema differs from `{against}`: {} and {} (below)",
                counted(errors, "error"),
                counted(warnings, "warning")
            ),
        );
    } else if warnings > 0 {
        r.pass(
            "schema",
            format!(
                "{} of drift from `{against}` (below), nothing that stops a run",
                counted(warnings, "warning")
            ),
        );
    } else {
        r.pass(
            "schema",
            format!(
                "no drift from `{against}` in the {} and {} the plan uses",
                counted(used.len(), "table"),
                counted(columns, "column")
            ),
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The state store's part: it opens (read-only: doctor changes nothing), and for each table
/// mapping, its couplings — or, with none, whether a first full sync would meet populated tables
/// and couple them by match rules, or stop rather than copy every record.
pub async fn state(
    inputs: &Inputs,
    profile: &Profile,
    company: &str,
    systems: &[SystemReport],
) -> SystemReport {
    let url = profile.state_url();
    let mut r = SystemReport {
        system: "state".into(),
        kind: "state store".into(),
        location: Some(url.clone()),
        checks: Vec::new(),
        drift: Diagnostics::new(),
        planned: vec!["store", "couplings"],
    };
    let store = match Store::open_read_only(&url) {
        Ok(s) => s,
        Err(e) => {
            r.fail("store", e.to_string());
            r.skip_rest();
            return r;
        }
    };
    store.set_company(company);
    r.pass("store", "opens (a store not created yet is empty)");
    let usable: BTreeSet<&str> = systems
        .iter()
        .filter(|s| s.checks.iter().all(|c| c.status == Status::Passed))
        .map(|s| s.system.as_str())
        .collect();
    let mut conns = Systems::default();
    for (alias, system) in inputs.plan.systems.iter() {
        let config = profile.systems.get(alias);
        if let Some(c) = config
            .filter(|_| usable.contains(alias.as_str()))
            .and_then(|c| AnyConnector::open(alias, system, c, &profile.base).ok())
        {
            conns.0.insert(alias.clone(), c);
        }
    }
    let Ok(engine) = Engine::new(&inputs.plan, &conns, &store, Options::default()) else {
        r.fail("couplings", "the plan cannot be run by this syncmap");
        return r;
    };
    for t in &inputs.plan.tables {
        let reachable = [&t.left.system, &t.right.system]
            .iter()
            .all(|s| conns.0.contains_key(s.as_str()));
        if !reachable {
            r.push(
                "couplings",
                Status::Skipped,
                format!(
                    "{}: not checked: a system it syncs failed its checks",
                    t.name
                ),
            );
            continue;
        }
        match engine.first_sync_outlook(t).await {
            Ok(o) => outlook(&mut r, t, o),
            Err(e) => r.fail("couplings", format!("{}: {e}", t.name)),
        }
    }
    r
}

fn outlook(r: &mut SystemReport, t: &syncmap::plan::Table, o: Outlook) {
    let rules = || {
        t.match_rules
            .iter()
            .map(|m| {
                m.terms
                    .iter()
                    .map(|x| format!("{} == {}", x.left, x.right))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect::<Vec<_>>()
            .join("; then ")
    };
    match o {
        Outlook::Coupled(n) => r.pass("couplings", format!("{}: {n} coupled pair{}", t.name, plural(n as usize))),
        Outlook::Empty => r.pass(
            "couplings",
            format!("{}: none yet; a full sync creates the records where they are missing", t.name),
        ),
        Outlook::Matched(into) => r.pass(
            "couplings",
            format!(
                "{}: none yet, and {} already hold{} rows: a full sync couples them by the match rules ({}) before creating any",
                t.name,
                into.join(" and "),
                if into.len() == 1 { "s" } else { "" },
                rules()
            ),
        ),
        Outlook::WouldDuplicate(into) => r.fail(
            "couplings",
            format!(
                "{}: none yet, {} already hold{} rows, and no match rule could find them: a full sync stops rather than copy every record a second time. Add a match rule (`match <left column> == <right column>`), or run with `--create-without-match` if those rows are not copies",
                t.name,
                into.join(" and "),
                if into.len() == 1 { "s" } else { "" },
            ),
        ),
    }
}
