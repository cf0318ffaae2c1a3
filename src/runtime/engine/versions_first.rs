//! Reading versions first: a pass that follows one which just wrote many of its rows (the
//! reverse pass of a first full sync, or of a run that brought many records over) reads only
//! keys, versions and what its filter needs. The rows whose pairs it finds in step — the ones
//! the other pass wrote, met again as they left — count as unchanged without their values
//! ever crossing the wire; only the others are read whole, by key, and processed as usual.

use std::collections::{BTreeSet, HashMap};

use super::report::PassReport;
use super::{Engine, EngineError, Pass};
use crate::connectors::{Connector, Row};
use crate::plan::TableInfo;
use crate::runtime::eval::NoLookups;

impl<'a> Engine<'a> {
    /// Whether the pass reads versions first: the other direction wrote at least
    /// [`Options::versions_first_from`](super::Options) rows in this run, and half or more of
    /// what it went through, so most rows met here are likely its writes. A pass that
    /// compares every row whatever its version (forced, follow-ups, retries) reads them whole.
    pub(crate) fn reads_versions_first(&self, pass: &Pass<'a>) -> bool {
        let threshold = self.options.versions_first_from;
        let echoes = pass.echoes;
        !self.dry_run
            && !pass.force
            && !pass.back_only
            && !pass.match_only
            && threshold > 0
            && echoes.written >= threshold
            && echoes.written * 2 >= echoes.met
    }

    /// Keeps the rows of a page read versions first that need reading whole, read again by
    /// key, in the page's order; the others, whose pairs are known in step, are counted
    /// unchanged.
    pub(crate) async fn widen(
        &self,
        pass: &Pass<'a>,
        rows: Vec<Row>,
        pr: &mut PassReport,
    ) -> Result<Vec<Row>, EngineError> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let mapping = pass.table.name.as_str();
        let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
        let couplings = self.store.couplings(mapping, pass.dir.source(), &keys)?;
        let skipped = self.store.skipped_among(mapping, pass.dir, &keys)?;
        let no_lookups = NoLookups;
        let ctx = self.context(pass, &no_lookups);
        let mut whole: Vec<String> = Vec::new();
        for row in &rows {
            let in_step = row.invalid.is_none()
                && !skipped.contains(&row.key)
                && couplings
                    .get(&row.key)
                    .is_some_and(|c| self.known_in_step(pass, row, c, false));
            // A filter that cannot be evaluated fails the record where it is read whole.
            match pass.filter.as_ref().map(|f| f.eval_filter(row, &ctx)) {
                _ if !in_step => whole.push(row.key.clone()),
                None | Some(Ok(true)) => pr.counts.unchanged += 1,
                Some(Ok(false)) => {}
                Some(Err(_)) => whole.push(row.key.clone()),
            }
        }
        if whole.is_empty() {
            return Ok(Vec::new());
        }
        let src = self.systems.get(pass.src_system)?;
        let mut read: HashMap<String, Row> = src
            .get(pass.src, &whole)
            .await
            .map_err(EngineError::from_connector)?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        // A row gone since the page was read is met as gone by the next run, as it would be
        // had it gone just after a whole page was read.
        Ok(whole.iter().filter_map(|k| read.remove(k)).collect())
    }
}

/// The table as read versions first: its key, its modified-on column and the columns its
/// side's filter reads (the version travels with every row).
pub(crate) fn versions_only(info: &TableInfo, filter: Option<&crate::plan::Filter>) -> TableInfo {
    let mut wanted = BTreeSet::new();
    wanted.insert(info.key.clone());
    wanted.extend(info.modified_on.clone());
    if let Some(f) = filter {
        f.expr.columns_read(&mut wanted);
    }
    // A `<lookup>type` column says which table its lookup points to, and travels with it.
    let lookups: Vec<String> = wanted
        .iter()
        .filter_map(|c| info.lookup_typed_by(c))
        .map(str::to_string)
        .collect();
    wanted.extend(lookups);
    TableInfo {
        columns: info
            .columns
            .iter()
            .filter(|(name, _)| wanted.contains(*name))
            .map(|(name, c)| (name.clone(), c.clone()))
            .collect(),
        ..info.clone()
    }
}

/// What the other direction of a table mapping did in this run, before this pass.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Echoes {
    /// Rows it created or changed on this pass's source side.
    pub written: u64,
    /// Rows it went through.
    pub met: u64,
}

impl Echoes {
    /// What a pass with these counts did.
    pub(crate) fn of(c: &crate::state::Counts) -> Echoes {
        Echoes {
            written: c.inserted + c.modified,
            met: c.inserted + c.modified + c.unchanged + c.skipped + c.failed,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plan::{ColumnInfo, Expr, Filter};
    use crate::value::ColumnKind;

    #[test]
    fn versions_only_keeps_the_key_the_version_and_what_the_filter_reads() {
        let info = TableInfo {
            entity_type: None,
            key: "accountid".into(),
            modified_on: Some("modifiedon".into()),
            columns: ["accountid", "name", "statecode", "telephone1", "modifiedon"]
                .iter()
                .map(|c| (c.to_string(), ColumnInfo::default()))
                .collect(),
        };
        let filter = Filter {
            expr: Expr::Not(Box::new(Expr::Col("statecode".into()))),
            odata: None,
            residual: None,
        };
        let narrow = versions_only(&info, Some(&filter));
        let kept: Vec<&str> = narrow.columns.keys().map(String::as_str).collect();
        assert_eq!(kept, ["accountid", "modifiedon", "statecode"]);
        assert_eq!(
            (narrow.key.as_str(), narrow.modified_on),
            ("accountid", info.modified_on.clone())
        );
        let kept = versions_only(&info, None);
        assert_eq!(
            kept.columns.keys().collect::<Vec<_>>(),
            ["accountid", "modifiedon"]
        );
        // A filter on a polymorphic lookup's type column keeps the lookup it belongs to.
        let mut info = info;
        let lookup = ColumnInfo {
            ty: ColumnKind::Lookup,
            targets: vec!["systemusers".into(), "teams".into()],
            ..ColumnInfo::default()
        };
        info.columns.insert("ownerid".into(), lookup);
        info.columns
            .insert("owneridtype".into(), ColumnInfo::default());
        let filter = Filter {
            expr: Expr::Col("owneridtype".into()),
            odata: None,
            residual: None,
        };
        let kept = versions_only(&info, Some(&filter));
        assert_eq!(
            kept.columns.keys().collect::<Vec<_>>(),
            ["accountid", "modifiedon", "ownerid", "owneridtype"]
        );
    }
}
