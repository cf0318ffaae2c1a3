//! Option mappings: a side that names the options of a Dataverse choice column
//! (`dv.accounts.paymenttermscode`), which the rest of the compiler sees as a table keyed by the
//! option's value (see [`crate::schema::choices`]).

use super::table::Sides;
use super::Checker;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::model::SystemKind;
use crate::schema::{ColumnSchema, ColumnType, TableSchema};
use crate::source::FileId;
use crate::syntax::ast;

/// Whether a column is a choice.
fn is_choice(c: &ColumnSchema) -> bool {
    matches!(c.ty, ColumnType::Option { .. })
}

impl<'p> Checker<'p> {
    /// The table of a choice column's options: E0202 when the table or the choice column is
    /// unknown, E0316 when the system's kind has no choices to add options to.
    pub(super) fn choice_side(
        &mut self,
        file: FileId,
        r: &ast::TableRef,
        (table, column): (&str, &str),
    ) -> Option<&'p TableSchema> {
        let sys = r.system.name.as_str();
        let loaded = self.project.schemas.get(sys)?;
        let decl = self.systems[sys];
        let Some(parent) = loaded.schema.table(table) else {
            let help = did_you_mean(table, loaded.schema.tables.iter().map(|t| t.name.as_str()))
                .unwrap_or_else(|| format!("the schema of `{sys}` lists the tables it knows"));
            self.push(
                Diagnostic::new(
                    Code::E0202,
                    file,
                    r.table.span,
                    format!("unknown table `{table}` in system `{sys}`"),
                )
                .label("not in the schema")
                .with(decl.file, decl.node.name.span, "system declared here")
                .help(help),
            );
            return None;
        };
        if !parent.column(column).is_some_and(is_choice) {
            self.not_a_choice(file, r, parent, column);
            return None;
        }
        if self.state_or_status(file, r, (table, column)) {
            return None;
        }
        let kind = decl.node.kind.name.as_str();
        if SystemKind::parse(kind).is_some_and(|k| k != SystemKind::Dataverse) {
            self.push(
                Diagnostic::new(
                    Code::E0316,
                    file,
                    r.span,
                    format!(
                        "`{sys}` is a `{kind}` system: only Dataverse's choices take new options"
                    ),
                )
                .label("options of a choice")
                .with(decl.file, decl.node.kind.span, "declared here")
                .help("map the table itself, or declare the system as `dataverse`"),
            );
            return None;
        }
        loaded.table(&r.table.name)
    }

    /// E0316 for a state or status column: Dataverse keeps these with actions of their own
    /// (`InsertStatusValue`) and states tied to statuses; they are not choices to add to.
    fn state_or_status(
        &mut self,
        file: FileId,
        r: &ast::TableRef,
        (table, column): (&str, &str),
    ) -> bool {
        if !matches!(column, "statecode" | "statuscode") {
            return false;
        }
        self.push(
            Diagnostic::new(
                Code::E0316,
                file,
                r.table.span,
                format!("`{table}.{column}` is a state or status column, not a choice that takes new options"),
            )
            .label("state or status")
            .help("map the column's values with a value map (`using`) instead"),
        );
        true
    }

    /// E0202: the table has no choice column of this name; its choice columns are the help.
    fn not_a_choice(
        &mut self,
        file: FileId,
        r: &ast::TableRef,
        parent: &TableSchema,
        column: &str,
    ) {
        let table = &parent.name;
        let choices: Vec<&str> = parent
            .columns
            .iter()
            .filter(|c| is_choice(c))
            .map(|c| c.name.as_str())
            .collect();
        let help = did_you_mean(column, choices.iter().copied()).unwrap_or_else(|| {
            if choices.is_empty() {
                format!("`{table}` has no choice columns")
            } else {
                format!("the choice columns of `{table}` are {}", choices.join(", "))
            }
        });
        let what = if parent.column(column).is_some() {
            format!("`{table}.{column}` is not a choice column: only a choice's options can be synced as rows")
        } else {
            format!("`{table}` has no column `{column}`")
        };
        self.push(
            Diagnostic::new(Code::E0202, file, r.table.span, what)
                .label("not a choice column")
                .help(help),
        );
    }

    /// E0316: a choice's options flow one way. They carry no modified-on, so a change on the
    /// choice side cannot be told from a change on the other, and a two-way mapping could not
    /// tell which side to keep (the reference refuses bidirectional option mappings too).
    pub(super) fn choice_flow(&mut self, file: FileId, t: &ast::Table, sides: &Sides<'p>) {
        if t.arrow.dir != ast::Direction::Both {
            return;
        }
        let is_choice = |s: Option<&TableSchema>| {
            s.is_some_and(|s| crate::schema::choices::split_choice_name(&s.name).is_some())
        };
        let choice = if is_choice(sides.left) {
            &t.left
        } else if is_choice(sides.right) {
            &t.right
        } else {
            return;
        };
        self.push(
            Diagnostic::new(
                Code::E0316,
                file,
                t.arrow.span,
                "an option mapping flows one way",
            )
            .label("both ways")
            .with(file, choice.span, "the options of a choice")
            .help("options have no modified-on to tell which side changed: write `->` or `<-`, from the system that owns the codes"),
        );
    }
}
