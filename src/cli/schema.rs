//! `syncmap schema import` (OData CSDL `$metadata` → schema snapshot) and `syncmap schema pull`
//! (the same from a live system).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use syncmap::connectors::odata::flavor::Flavor;
use syncmap::connectors::odata::ODataConnector;

use super::CliError;

/// Imports a CSDL document and writes the snapshot.
pub fn import(file: &Path, output: Option<&Path>, tables: &[String]) -> Result<ExitCode, CliError> {
    let xml = std::fs::read_to_string(file)
        .map_err(|e| CliError::Io(format!("cannot read `{}`: {e}", file.display())))?;
    let only = (!tables.is_empty()).then_some(tables);
    let imported = syncmap::schema::csdl::import_noting_skipped(&xml, only)
        .map_err(|e| CliError::Usage(format!("cannot import `{}`: {e}", file.display())))?;
    note_skipped(&imported.skipped);
    let schema = imported.schema;
    let json = syncmap::schema::to_json(&schema);
    match output {
        Some(path) => {
            std::fs::write(path, json)
                .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", path.display())))?;
            eprintln!("wrote {} ({} tables)", path.display(), schema.tables.len());
        }
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Says which entity sets an import left out and why, so that a table missing from the
/// snapshot is not a mystery; the snapshot itself is still written.
fn note_skipped(skipped: &[syncmap::schema::csdl::Skipped]) {
    for s in skipped {
        // Every reason names the set first: `entity set `x` has a key of several …`.
        eprintln!("note: left out of the snapshot: {}", s.reason);
    }
}

/// What `schema pull` is asked for.
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// The system alias, as in the profile's `[systems.NAME]`.
    pub system: String,
    /// The profile.
    #[arg(long, default_value = "syncmap.toml")]
    pub profile: PathBuf,
    /// The named profile (`[profiles.NAME]`); `$SYNCMAP_ENV`, then `default`, when absent.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Where to write the snapshot; standard output when absent.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The mappings whose tables of the system to keep (and whose `system` declaration gives
    /// its kind).
    #[arg(long = "plan", value_name = "PATH", num_args = 1..)]
    pub plan: Vec<PathBuf>,
    /// The kind of service (`dataverse`, `business_central`, `odata`), when no mappings name
    /// the system yet.
    #[arg(long)]
    pub kind: Option<String>,
    /// Keep only these entity sets (comma-separated) instead of those the mappings use.
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
}

/// Writes the schema snapshot of a live system: a SQLite database's tables, or an OData
/// service's `$metadata` for the tables the mappings use.
pub fn pull(args: &PullArgs) -> Result<ExitCode, CliError> {
    let system = args.system.as_str();
    let p = syncmap::profile::Profile::load_env(&args.profile, args.env.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let config = p.systems.get(system).ok_or_else(|| {
        CliError::Usage(format!(
            "profile `{}` has no [systems.{system}] section",
            args.profile.display()
        ))
    })?;
    let schema = if let Some(path) = config.url.strip_prefix("sqlite://") {
        let path = p.base.join(path);
        if !path.exists() {
            return Err(CliError::Io(format!("`{}` does not exist", path.display())));
        }
        let conn = syncmap::connectors::sqlite::SqliteConnector::open(&path)
            .map_err(|e| CliError::Io(e.to_string()))?;
        conn.introspect().map_err(|e| CliError::Io(e.to_string()))?
    } else {
        let (kind, used) = kind_and_tables(args)?;
        let flavor = syncmap::plan::SystemKind::parse(&kind)
            .and_then(Flavor::of_kind)
            .ok_or_else(|| {
            CliError::Usage(format!(
                "system `{system}` is of kind `{kind}`; `schema pull` reads dataverse, business_central and odata services"
            ))
        })?;
        let conn = ODataConnector::open(config, flavor, None)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let xml =
            super::runtime::block_on(conn.metadata())?.map_err(|e| CliError::Io(e.to_string()))?;
        let tables = if args.tables.is_empty() {
            used
        } else {
            args.tables.clone()
        };
        let only = (!tables.is_empty()).then_some(tables.as_slice());
        let imported = syncmap::schema::csdl::import_noting_skipped(&xml, only).map_err(|e| {
            CliError::Io(format!(
                "system `{system}`: its $metadata cannot be read: {e}"
            ))
        })?;
        note_skipped(&imported.skipped);
        imported.schema
    };
    let json = syncmap::schema::to_json(&schema);
    match &args.output {
        Some(out) => {
            std::fs::write(out, json)
                .map_err(|e| CliError::Io(format!("cannot write `{}`: {e}", out.display())))?;
            eprintln!("wrote {} ({} tables)", out.display(), schema.tables.len());
        }
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The system's kind and the tables the mappings use of it; `--kind` when the mappings do not
/// compile yet (a first pull) or do not name the system.
fn kind_and_tables(args: &PullArgs) -> Result<(String, Vec<String>), CliError> {
    let from_plan = super::inputs::compile(&args.plan)
        .ok()
        .and_then(|c| c.plan)
        .and_then(|plan| plan.systems.get(&args.system).cloned());
    // The options of a choice are read from their table's metadata: the pull takes the table.
    let entity_sets = |s: &syncmap::plan::System| -> Vec<String> {
        let mut sets: Vec<String> = s
            .tables
            .keys()
            .map(|t| match syncmap::schema::choices::split_choice_name(t) {
                Some((table, _)) => table.to_string(),
                None => t.clone(),
            })
            .collect();
        sets.sort();
        sets.dedup();
        sets
    };
    match (&args.kind, from_plan) {
        (Some(kind), plan) => Ok((
            kind.clone(),
            plan.as_ref().map(entity_sets).unwrap_or_default(),
        )),
        (None, Some(s)) => Ok((s.kind.to_string(), entity_sets(&s))),
        (None, None) => Err(CliError::Usage(format!(
            "the mappings do not compile or do not name system `{}`; say which kind of service it is with --kind dataverse|business_central|odata",
            args.system
        ))),
    }
}
