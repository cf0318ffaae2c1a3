//! `syncmap demo`: the quick start. Starts both sandboxes in this process, seeds them, compiles
//! the standard mappings, runs a full sync, changes records on both sides (one of them on both,
//! which is a conflict, and one deletion), runs a modified-only sync, settles by hand what the
//! rules left failing (`syncmap resolve`), syncs once more and tells what happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{json, Value as Json};
use syncmap::connectors::odata::flavor::Flavor;
use syncmap::connectors::odata::ODataConnector;
use syncmap::plan::Plan;
use syncmap::plan::Side;
use syncmap::profile::{Profile, Secret};
use syncmap::project::FsLoader;
use syncmap::runtime::engine::{
    report, Engine, Mode, Options, Pick, Resolution, RunReport, RunRequest,
};
use syncmap::runtime::systems::{AnyConnector, Systems};
use syncmap::sandbox::person::{Person, Service};
use syncmap::sandbox::{AuthConfig, Sandbox, SandboxConfig, Seed};
use syncmap::state::{FailureKind, Store};

use super::CliError;

/// What `demo` is asked for.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    output: super::output::OutputArgs,
    /// Keep the demo's folder (mappings, profile, state store) here instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// Everything the demo did, as `--json` prints it.
#[derive(Serialize)]
struct DemoReport {
    /// The plan's digest.
    plan_digest: String,
    /// The first run: a full sync.
    full: RunReport,
    /// What was changed between the runs, in words.
    changes: Vec<String>,
    /// The second run: a modified-only sync.
    modified: RunReport,
    /// The records settled by hand: the command a person would type, and its run.
    settled: Vec<Settled>,
    /// The last run: a modified-only sync after settling, which finds nothing left to write.
    after: RunReport,
}

/// One record settled by hand.
#[derive(Serialize)]
struct Settled {
    /// The `syncmap resolve` command that does it.
    command: String,
    /// Its run.
    report: RunReport,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<ExitCode, CliError> {
    let dir = match &args.keep {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("syncmap-demo-{}", uuid::Uuid::new_v4())),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Io(format!("cannot create `{}`: {e}", dir.display())))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("cannot start the async runtime: {e}")))?;
    let result = rt.block_on(demo(&dir, args.output.json()));
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = result?;
    if args.output.json() {
        super::runtime::print_json(&report);
    } else {
        println!("Full sync of the seeded sandboxes:");
        print!("{}", report::human(&report.full));
        println!("\nChanged since:");
        for c in &report.changes {
            println!("  - {c}");
        }
        println!("\nModified-only sync:");
        print!("{}", report::human(&report.modified));
        for s in &report.settled {
            println!("\nSettled by hand: {}", s.command);
            print!("{}", report::human(&s.report));
        }
        println!("\nModified-only sync after settling:");
        print!("{}", report::human(&report.after));
        if let Some(d) = &args.keep {
            println!(
                "\nThe mappings, profile and state store are in {}; `syncmap log --profile {}` lists the runs.",
                d.display(),
                d.join("syncmap.toml").display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn demo(dir: &Path, quiet: bool) -> Result<DemoReport, CliError> {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let sandbox = Sandbox::start(SandboxConfig {
        seed: Seed::Demo,
        auth: AuthConfig {
            client_secret: secret.clone(),
            ..AuthConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .map_err(|e| CliError::Io(format!("cannot start the sandbox: {e}")))?;
    if !quiet {
        eprintln!(
            "sandbox: Business Central at {}\n         Dataverse at {}",
            sandbox.bc_url(),
            sandbox.dv_url()
        );
    }
    let mappings = dir.join("mappings");
    super::init::write_defaults(&mappings)?;
    let plan = compile(&mappings)?;
    let profile_text = sandbox.profile_toml("SYNCMAP_SANDBOX_SECRET");
    std::fs::write(dir.join("syncmap.toml"), &profile_text)
        .map_err(|e| CliError::Io(format!("cannot write the demo profile: {e}")))?;
    let profile = Profile::parse(&profile_text).map_err(CliError::Usage)?;
    let systems = connect(&plan, &profile, &secret)?;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.join(".syncmap").join("state.db").display()
    ))
    .map_err(|e| CliError::Io(e.to_string()))?;
    let run = |mode: Mode| {
        let req = RunRequest {
            trigger: "demo".into(),
            ..RunRequest::new(mode)
        };
        let (plan, systems, store) = (&plan, &systems, &store);
        async move {
            let mut engine = Engine::new(plan, systems, store, Options::default())
                .map_err(super::runtime::engine_error)?;
            engine.run(&req).await.map_err(super::runtime::engine_error)
        }
    };
    let full = run(Mode::Full).await?;
    let changes = edit(&sandbox, &secret).await?;
    let modified = run(Mode::Modified).await?;
    let settled = settle(&plan, &systems, &store).await?;
    let after = run(Mode::Modified).await?;
    sandbox.shutdown().await;
    Ok(DemoReport {
        plan_digest: plan.digest.clone(),
        full,
        changes,
        modified,
        settled,
        after,
    })
}

/// Settles what the modified-only run left failing, as a person would: the conflict by taking
/// Business Central's values, the deleted contact by restoring it.
async fn settle(plan: &Plan, systems: &Systems, store: &Store) -> Result<Vec<Settled>, CliError> {
    let failures = store
        .failures(None)
        .map_err(|e| CliError::Io(e.to_string()))?;
    let mut done = std::collections::HashSet::new();
    let mut settled = Vec::new();
    for f in failures {
        let (resolution, how) = match f.kind {
            FailureKind::Conflict => (Resolution::Take(Side::Left), "--take left"),
            FailureKind::PartnerDeleted => (Resolution::Restore, "--restore"),
            FailureKind::Error => continue,
        };
        let side = f.direction.source();
        let pair = store
            .coupling(&f.mapping, side, &f.source_key)
            .map_err(|e| CliError::Io(e.to_string()))?
            .map(|c| c.left_key);
        if !done.insert((f.mapping.clone(), pair)) {
            continue;
        }
        let mut engine = Engine::new(plan, systems, store, Options::default())
            .map_err(super::runtime::engine_error)?;
        let pick = Pick::One(side, &f.source_key);
        let report = engine
            .resolve(&f.mapping, pick, resolution, false)
            .await
            .map_err(super::runtime::engine_error)?;
        let flag = if side == Side::Left { "left" } else { "right" };
        settled.push(Settled {
            command: format!(
                "syncmap resolve {} --{flag} {} {how}",
                f.mapping, f.source_key
            ),
            report,
        });
    }
    Ok(settled)
}

fn compile(dir: &Path) -> Result<Plan, CliError> {
    let files = super::inputs::map_files(&[dir.to_path_buf()])?;
    let c = syncmap::compile(&files, &FsLoader).map_err(CliError::from)?;
    c.plan.ok_or_else(|| {
        CliError::Io("the standard mappings do not compile; this is a bug".to_string())
    })
}

fn connect(plan: &Plan, profile: &Profile, secret: &str) -> Result<Systems, CliError> {
    let mut systems = Systems::default();
    for (alias, system) in &plan.systems {
        let config = profile
            .systems
            .get(alias)
            .ok_or_else(|| CliError::Io(format!("the sandbox profile lacks system `{alias}`")))?;
        let flavor = Flavor::of_kind(system.kind)
            .ok_or_else(|| CliError::Io(format!("system `{alias}` has no HTTP connector")))?;
        let conn = ODataConnector::open(config, flavor, Some(Secret::new(secret)))
            .map_err(|e| CliError::Io(e.to_string()))?;
        systems
            .0
            .insert(alias.clone(), AnyConnector::OData(Box::new(conn)));
    }
    Ok(systems)
}

/// The changes between the runs, made as people would in each system's own app: an update
/// on each side, a new customer, the same customer changed on both sides (a conflict: the
/// customers mapping says `on conflict: fail`) and a deleted contact.
async fn edit(sandbox: &Sandbox, secret: &str) -> Result<Vec<String>, CliError> {
    use Service::{BusinessCentral as Bc, Dataverse as Dv};
    let person = Person::new(sandbox, secret);
    let customers = person.rows(Bc, "customers").await.map_err(fail)?;
    let accounts = person.rows(Dv, "accounts").await.map_err(fail)?;
    let [(first, _), (second, second_account), (third, third_account)] =
        three_coupled(&customers, &accounts)?;
    let mut said = Vec::new();
    said.extend(one_side_each(&person, first, second, second_account).await?);
    said.push(new_customer(&person).await?);
    said.push(conflict(&person, third, third_account).await?);
    said.extend(delete_contact(&person).await?);
    Ok(said)
}

fn fail(e: String) -> CliError {
    CliError::Io(format!("changing the sandbox's records failed: {e}"))
}

/// A text field of a record, empty when it has none.
fn text(j: &Json, k: &str) -> String {
    j[k].as_str().unwrap_or_default().to_string()
}

/// The first three open customers with an account of the same name, each with that account.
fn three_coupled<'a>(
    customers: &'a [Json],
    accounts: &'a [Json],
) -> Result<[(&'a Json, &'a Json); 3], CliError> {
    let open: Vec<&Json> = customers.iter().filter(|c| c["blocked"] == " ").collect();
    let partner = |c: &Json| {
        accounts
            .iter()
            .find(|a| a["name"] == c["displayName"] && a["customertypecode"] == 3)
    };
    let coupled: Vec<(&Json, &Json)> = open
        .iter()
        .filter_map(|c| partner(c).map(|a| (*c, a)))
        .collect();
    match coupled.as_slice() {
        [a, b, c, ..] => Ok([*a, *b, *c]),
        _ => Err(fail(
            "the seeded data has fewer than three coupled customers".into(),
        )),
    }
}

/// A change in Business Central to one customer, and in Dataverse to another.
async fn one_side_each(
    person: &Person<'_>,
    first: &Json,
    second: &Json,
    second_account: &Json,
) -> Result<Vec<String>, CliError> {
    use Service::{BusinessCentral as Bc, Dataverse as Dv};
    let mut said = Vec::new();
    person
        .patch(
            Bc,
            "customers",
            &text(first, "id"),
            json!({ "phoneNumber": "+1 425 555 0100" }),
        )
        .await
        .map_err(fail)?;
    said.push(format!(
        "Business Central: customer \"{}\" gets a new phone number",
        text(first, "displayName")
    ));

    person
        .patch(
            Dv,
            "accounts",
            &text(second_account, "accountid"),
            json!({ "websiteurl": "https://www.example.com" }),
        )
        .await
        .map_err(fail)?;
    said.push(format!(
        "Dataverse: account \"{}\" gets a website",
        text(second, "displayName")
    ));
    Ok(said)
}

async fn new_customer(person: &Person<'_>) -> Result<String, CliError> {
    person
        .create(
            Service::BusinessCentral,
            "customers",
            json!({ "displayName": "Northwind Traders", "blocked": " ", "city": "Seattle" }),
        )
        .await
        .map_err(fail)?;
    Ok(
        "Business Central: a new customer, \"Northwind Traders\" (customers say `only coupled: true`: \
         a modified-only run leaves it to the next full sync, as the reference does)"
            .into(),
    )
}

/// The same customer changed on both sides.
async fn conflict(
    person: &Person<'_>,
    third: &Json,
    third_account: &Json,
) -> Result<String, CliError> {
    use Service::{BusinessCentral as Bc, Dataverse as Dv};
    person
        .patch(
            Bc,
            "customers",
            &text(third, "id"),
            json!({ "city": "Redmond" }),
        )
        .await
        .map_err(fail)?;
    person
        .patch(
            Dv,
            "accounts",
            &text(third_account, "accountid"),
            json!({ "address1_city": "Bellevue" }),
        )
        .await
        .map_err(fail)?;
    Ok(format!(
        "both: customer \"{}\" moves to Redmond in Business Central and to Bellevue in Dataverse (a conflict)",
        text(third, "displayName")
    ))
}

/// Deletes a Dataverse contact that has a Business Central twin, when there is one.
async fn delete_contact(person: &Person<'_>) -> Result<Option<String>, CliError> {
    use Service::{BusinessCentral as Bc, Dataverse as Dv};
    let contacts = person.rows(Dv, "contacts").await.map_err(fail)?;
    let bc_contacts = person.rows(Bc, "contacts").await.map_err(fail)?;
    let Some(c) = contacts.iter().find(|c| {
        bc_contacts
            .iter()
            .any(|b| b["displayName"] == c["fullname"])
    }) else {
        return Ok(None);
    };
    person
        .delete(Dv, "contacts", &text(c, "contactid"))
        .await
        .map_err(fail)?;
    Ok(Some(format!(
        "Dataverse: contact \"{}\" is deleted",
        text(c, "fullname")
    )))
}
