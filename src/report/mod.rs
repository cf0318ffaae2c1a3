//! `syncmap report`: one self-contained HTML page about a plan and its recent runs, for people
//! who never open a `.map` file. [`build`] turns a plan (and a state store, when there is one)
//! into a [`Report`] — plain data, every text already in words — and [`html::page`] renders it,
//! with the diagram drawn by [`diagram::svg`]. Apart from [`Inputs::generated_at`] the page
//! depends only on its inputs, so it can be compared byte for byte.

mod charts;
pub mod diagram;
pub mod escape;
pub mod fields;
pub mod html;
mod html_runs;
mod runs;
pub mod words;

use std::collections::BTreeMap;

use crate::plan::{display, ConflictRule, DeleteRule, Flow, Job, Plan, Side, SyncMode, Table};
use crate::schema::{ColumnType, SystemSchema};
use crate::state::{Counts, StateError, Store};

pub use fields::FieldLine;

/// What a report is made from.
pub struct Inputs<'a> {
    /// The compiled plan.
    pub plan: &'a Plan,
    /// Schema snapshots by system alias, for option-set labels; may be empty.
    pub schemas: &'a BTreeMap<String, SystemSchema>,
    /// The state store, when a profile names one.
    pub store: Option<&'a Store>,
    /// How many runs to show, latest first.
    pub runs: usize,
    /// When the report was made, as shown on the page (the only part that varies by itself).
    pub generated_at: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// When the report was made.
    pub generated_at: String,
    /// The plan's digest.
    pub digest: String,
    /// The syncmap version that compiled the plan.
    pub compiler: String,
    /// The plan's source files.
    pub sources: Vec<String>,
    /// The systems, left ones first.
    pub systems: Vec<SystemView>,
    /// Table mappings in dependency order.
    pub tables: Vec<TableView>,
    /// The recent runs, latest first; `None` when no state store was read.
    pub runs: Option<Vec<RunView>>,
}

/// A system.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemView {
    /// The alias the mappings use.
    pub alias: String,
    /// Its kind in words (`Business Central`).
    pub kind: String,
    /// Which side of the table mappings it is on.
    pub side: Side,
}

/// A table mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct TableView {
    /// Its place in the order tables sync in, from 1.
    pub order: usize,
    /// Its name.
    pub name: String,
    /// Where it is declared (`file:line:column`).
    pub origin: String,
    /// The left table.
    pub left: SideView,
    /// The right table.
    pub right: SideView,
    /// Which way records flow.
    pub flow: Flow,
    /// The table mappings that sync before it.
    pub depends_on: Vec<String>,
    /// Lookups of its fields (`currencyCode via currencies.code`).
    pub lookups: Vec<String>,
    /// Its field lines.
    pub fields: Vec<FieldLine>,
    /// Match rules in words, first tried first.
    pub match_rules: Vec<String>,
    /// Where uncoupled records may be created, in words.
    pub create: String,
    /// What a modified-only run does with uncoupled records.
    pub uncoupled: String,
    /// The conflict rule in words.
    pub on_conflict: String,
    /// The deletion rule in words.
    pub on_delete: String,
    /// The jobs that sync it, in words.
    pub jobs: Vec<String>,
}

/// One side of a table mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct SideView {
    /// The system alias.
    pub system: String,
    /// The table.
    pub table: String,
    /// Which rows take part, when filtered.
    pub filter: Option<FilterView>,
    /// Other table mappings that use the same table.
    pub shared_with: Vec<String>,
}

/// A row filter.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterView {
    /// In plain words.
    pub words: String,
    /// As the mappings write it.
    pub expr: String,
    /// The part the system itself evaluates (OData `$filter`).
    pub odata: Option<String>,
    /// The part syncmap evaluates on every row read.
    pub residual: Option<String>,
}

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    /// Its id.
    pub id: i64,
    /// When it started, `YYYY-MM-DD HH:MM:SS UTC`.
    pub started: String,
    /// How long it took, when it ended.
    pub duration: Option<String>,
    /// The same in milliseconds, for the charts.
    pub duration_ms: Option<u64>,
    /// `full`, `modified`, `record`, …
    pub mode: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// `succeeded`, `completed_with_failures`, `failed`, `interrupted`, `running`.
    pub status: String,
    /// Whether it wrote nothing by design.
    pub dry_run: bool,
    /// Why it failed, if it did.
    pub message: Option<String>,
    /// Counts per table mapping and direction.
    pub counts: Vec<CountsView>,
    /// Its record errors (latest first), at most [`runs::RECORDS_PER_RUN`].
    pub errors: Vec<RecordView>,
    /// What it decided: conflicts, deletions, couplings, at most [`runs::RECORDS_PER_RUN`].
    pub events: Vec<RecordView>,
    /// How many errors and events were left out.
    pub left_out: usize,
}

/// Counts of one table mapping and direction of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CountsView {
    /// The table mapping.
    pub mapping: String,
    /// The direction in words (`bc → dv`).
    pub direction: String,
    /// The counts.
    pub counts: Counts,
}

/// One record of a run: an error or an event.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    /// The table mapping.
    pub mapping: String,
    /// The direction in words.
    pub direction: String,
    /// `error`, `skipped` (an error that now waits for `syncmap retry`), `conflict`, …
    pub kind: String,
    /// The source record's key.
    pub source_key: String,
    /// What a person knows the source record by (number and name), when the run knew it.
    pub label: Option<String>,
    /// The destination record's key, when known.
    pub dest_key: Option<String>,
    /// What happened.
    pub message: String,
}

/// Builds the report.
pub fn build(inputs: &Inputs<'_>) -> Result<Report, StateError> {
    let plan = inputs.plan;
    let tables = plan
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| table_view(plan, inputs.schemas, i + 1, t))
        .collect();
    let runs = match inputs.store {
        Some(store) => Some(runs::views(plan, store, inputs.runs)?),
        None => None,
    };
    Ok(Report {
        generated_at: inputs.generated_at.clone(),
        digest: plan.digest.clone(),
        compiler: plan.compiler.clone(),
        sources: plan.sources.iter().map(|s| s.path.clone()).collect(),
        systems: systems(plan),
        tables,
        runs,
    })
}

/// The systems in the order their columns are drawn: those on the left of table mappings,
/// then those on the right, then any the mappings do not use.
fn systems(plan: &Plan) -> Vec<SystemView> {
    let mut out: Vec<SystemView> = Vec::new();
    let sides = plan
        .tables
        .iter()
        .map(|t| (&t.left.system, Side::Left))
        .chain(plan.tables.iter().map(|t| (&t.right.system, Side::Right)))
        .chain(plan.systems.keys().map(|a| (a, Side::Right)));
    for (alias, side) in sides {
        if out.iter().all(|s| &s.alias != alias) {
            let kind = plan.systems.get(alias).map(|s| s.kind.as_str());
            out.push(SystemView {
                alias: alias.clone(),
                kind: kind_name(kind.unwrap_or("")),
                side,
            });
        }
    }
    out
}

/// A system kind as people call it.
pub fn kind_name(kind: &str) -> String {
    match kind {
        "business_central" => "Business Central",
        "dataverse" => "Dataverse",
        "odata" => "OData service",
        "sqlite" => "SQLite",
        "postgres" => "PostgreSQL",
        other => other,
    }
    .to_string()
}

fn table_view(
    plan: &Plan,
    schemas: &BTreeMap<String, SystemSchema>,
    order: usize,
    t: &Table,
) -> TableView {
    let left_labels = labels(schemas, &t.left.system, &t.left.table);
    let right_labels = labels(schemas, &t.right.system, &t.right.table);
    let fields = fields::lines(t, [&left_labels, &right_labels]);
    TableView {
        order,
        name: t.name.clone(),
        origin: t.origin.clone(),
        left: side_view(plan, t, Side::Left, &left_labels),
        right: side_view(plan, t, Side::Right, &right_labels),
        flow: t.flow,
        depends_on: t.depends_on.clone(),
        lookups: fields.iter().filter_map(|f| f.lookup.clone()).collect(),
        match_rules: match_rule_words(t),
        create: create_words(t),
        uncoupled: if t.only_coupled {
            "left alone by modified-only runs; a full sync matches or creates them".into()
        } else {
            "matched or created by every run".into()
        },
        on_conflict: conflict_words(t),
        on_delete: match t.on_delete {
            DeleteRule::Uncouple => "the coupling is dropped; the other record stays".into(),
            DeleteRule::Restore => "the deleted record is created again".into(),
            DeleteRule::Propagate => "the other record is deleted too".into(),
            DeleteRule::Fail => "the surviving record is logged as failed".into(),
        },
        jobs: plan
            .jobs
            .iter()
            .filter(|(_, j)| j.tables.is_empty() || j.tables.contains(&t.name))
            .map(|(name, j)| job_words(name, j))
            .collect(),
        fields,
    }
}

/// One side of a table: its filter in words and the other tables that read the same table.
fn side_view(plan: &Plan, t: &Table, s: Side, labels: &words::Labels) -> SideView {
    let ts = t.side(s);
    SideView {
        system: ts.system.clone(),
        table: ts.table.clone(),
        filter: ts.filter.as_ref().map(|f| FilterView {
            words: words::condition(&f.expr, labels),
            expr: display::expr(&f.expr, &[]),
            odata: f.odata.clone(),
            residual: f.residual.as_ref().map(|r| display::expr(r, &[])),
        }),
        shared_with: plan
            .tables
            .iter()
            .filter(|o| o.name != t.name)
            .filter(|o| {
                [&o.left, &o.right]
                    .iter()
                    .any(|x| x.system == ts.system && x.table == ts.table)
            })
            .map(|o| o.name.clone())
            .collect(),
    }
}

/// Each match rule as `a = b and c = d`, noting when text is compared with case.
fn match_rule_words(t: &Table) -> Vec<String> {
    t.match_rules
        .iter()
        .map(|m| {
            let terms: Vec<String> = m
                .terms
                .iter()
                .map(|x| format!("{} = {}", x.left, x.right))
                .collect();
            let case = if m.case_sensitive {
                " (text compared with case)"
            } else {
                ""
            };
            format!("{}{case}", terms.join(" and "))
        })
        .collect()
}

/// Where unmatched records are created.
fn create_words(t: &Table) -> String {
    match t.create.as_slice() {
        [] => "never: records are only matched".into(),
        sides => sides
            .iter()
            .map(|s| format!("in {}", t.side(*s).system))
            .collect::<Vec<_>>()
            .join(" and "),
    }
}

/// What happens when both sides changed a record.
fn conflict_words(t: &Table) -> String {
    match (t.flow, t.on_conflict) {
        // A conflict needs both sides written to: one-way rules never apply.
        (Flow::LeftToRight | Flow::RightToLeft, _) => "cannot happen: records flow one way".into(),
        (Flow::Both, ConflictRule::Prefer(s)) => format!("{}'s values win", t.side(s).system),
        (Flow::Both, ConflictRule::Newest) => "the side changed last wins".into(),
        (Flow::Both, ConflictRule::Fail) => {
            "nothing is written; the record is logged as failed and retried".into()
        }
    }
}

/// The option-set labels of one table's columns, from its system's schema snapshot.
fn labels(schemas: &BTreeMap<String, SystemSchema>, system: &str, table: &str) -> words::Labels {
    let Some(t) = schemas.get(system).and_then(|s| s.table(table)) else {
        return words::Labels::new();
    };
    t.columns
        .iter()
        .filter_map(|c| match &c.ty {
            ColumnType::Option { options } => Some((
                c.name.clone(),
                options.iter().map(|o| (o.value, o.label.clone())).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// A job in words: `currencies: what changed, every 30 min (up to 12 h when idle)`.
fn job_words(name: &str, j: &Job) -> String {
    let what = match j.mode {
        SyncMode::Full => "every record",
        SyncMode::Modified => "what changed",
    };
    let mut when = Vec::new();
    if let Some(s) = j.every_seconds {
        when.push(format!("every {}", seconds(s)));
    }
    if let Some(s) = j.idle_seconds {
        when.push(format!("up to {} apart when idle", seconds(s)));
    }
    if let Some(at) = &j.at {
        when.push(format!("daily at {at}"));
    }
    format!("{name}: {what}, {}", when.join(", "))
}

/// A whole number of seconds as people say it: `30 min`, `12 h`, `1 h 30 min`, `45 s`.
pub fn seconds(s: u64) -> String {
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let parts: Vec<String> = [(h, "h"), (m, "min"), (sec, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

/// An arrow for a flow: `→`, `←` or `↔`.
pub fn arrow(flow: Flow) -> &'static str {
    match flow {
        Flow::LeftToRight => "→",
        Flow::RightToLeft => "←",
        Flow::Both => "↔",
    }
}

#[cfg(test)]
mod tests;
