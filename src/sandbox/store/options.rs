//! The live options of Dataverse's choice columns, in the hidden table `_sandbox_options`.
//!
//! On the real service a choice column's options are metadata that changes: clients add,
//! relabel and delete them with `InsertOptionValue` and its siblings, and rows are checked
//! against what is there now. So the sandbox keeps them beside the rows, seeded from the
//! snapshot once per column; a `--data` folder keeps what clients changed across restarts.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{internal, Db, StoreError};
use crate::schema::OptionValue;

/// The table, made with the others when the store opens.
pub(super) const CREATE: &str = "CREATE TABLE IF NOT EXISTS _sandbox_options \
     (entity TEXT NOT NULL, attribute TEXT NOT NULL, value INTEGER NOT NULL, \
      labels TEXT NOT NULL, descriptions TEXT NOT NULL, \
      PRIMARY KEY (entity, attribute, value))";

/// The language of the snapshot's labels and of the application user: English (United
/// States), whose label a client sees as `UserLocalizedLabel`.
pub(crate) const ENGLISH: i64 = 1033;

/// The first value the service gives an option added without one: the default publisher's
/// prefix (10000) times 10000.
pub(crate) const FIRST_CUSTOM_VALUE: i64 = 100_000_000;

/// A text in one language, as a `LocalizedLabel` carries it (and as it is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Localized {
    /// The language's LCID (1033).
    #[serde(rename = "LanguageCode")]
    pub language: i64,
    /// The text.
    #[serde(rename = "Label")]
    pub text: String,
}

/// The label of a list that a user of the application user's language sees: English, else the
/// first there is.
pub(crate) fn user_label(list: &[Localized]) -> Option<&Localized> {
    list.iter()
        .find(|l| l.language == ENGLISH)
        .or_else(|| list.first())
}

/// One option of a choice column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveOption {
    /// The stored integer.
    pub value: i64,
    /// Its label, in each language it has one in.
    pub labels: Vec<Localized>,
    /// Its description, in each language it has one in (often none).
    pub descriptions: Vec<Localized>,
}

/// A choice column: its entity's logical name (`account`) and its own (`paymenttermscode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice<'a> {
    /// The entity's logical name.
    pub entity: &'a str,
    /// The attribute's logical name.
    pub attribute: &'a str,
}

fn to_json(list: &[Localized]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(internal)
}

fn from_json(text: &str) -> Result<Vec<Localized>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Internal(format!("a stored option label is broken: {e}")))
}

/// An option from a row of `value, labels, descriptions`.
fn decode(r: &rusqlite::Row<'_>) -> Result<Result<LiveOption, StoreError>, rusqlite::Error> {
    let (value, labels, descriptions): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
    Ok(from_json(&labels).and_then(|labels| {
        Ok(LiveOption {
            value,
            labels,
            descriptions: from_json(&descriptions)?,
        })
    }))
}

impl Db {
    /// Gives a column the snapshot's options, when it has none yet.
    pub fn seed_options(
        &mut self,
        choice: Choice<'_>,
        options: &[OptionValue],
    ) -> Result<(), StoreError> {
        if self.has_options(choice)? {
            return Ok(());
        }
        for o in options {
            self.insert_option(
                choice,
                &LiveOption {
                    value: o.value,
                    labels: vec![Localized {
                        language: ENGLISH,
                        text: o.label.clone(),
                    }],
                    descriptions: Vec::new(),
                },
            )?;
        }
        Ok(())
    }

    /// Whether a column has any option.
    pub fn has_options(&self, choice: Choice<'_>) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM _sandbox_options WHERE entity = ?1 AND attribute = ?2 LIMIT 1",
            )
            .map_err(internal)?;
        stmt.query_row(params![choice.entity, choice.attribute], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(internal)
    }

    /// A column's options in value order.
    pub fn options(&self, choice: Choice<'_>) -> Result<Vec<LiveOption>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT value, labels, descriptions FROM _sandbox_options \
                 WHERE entity = ?1 AND attribute = ?2 ORDER BY value",
            )
            .map_err(internal)?;
        let rows = stmt
            .query_map(params![choice.entity, choice.attribute], decode)
            .map_err(internal)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(internal)??);
        }
        Ok(out)
    }

    /// One option of a column.
    pub fn option(&self, choice: Choice<'_>, value: i64) -> Result<Option<LiveOption>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT value, labels, descriptions FROM _sandbox_options \
                 WHERE entity = ?1 AND attribute = ?2 AND value = ?3",
            )
            .map_err(internal)?;
        stmt.query_row(params![choice.entity, choice.attribute, value], decode)
            .optional()
            .map_err(internal)?
            .transpose()
    }

    /// The value the service gives the next option added without one: one more than the
    /// largest custom value of the column, the first custom value when it has none.
    pub fn next_option_value(&self, choice: Choice<'_>) -> Result<i64, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT MAX(value) FROM _sandbox_options \
                 WHERE entity = ?1 AND attribute = ?2 AND value >= ?3",
            )
            .map_err(internal)?;
        let max: Option<i64> = stmt
            .query_row(
                params![choice.entity, choice.attribute, FIRST_CUSTOM_VALUE],
                |r| r.get(0),
            )
            .map_err(internal)?;
        Ok(max.map_or(FIRST_CUSTOM_VALUE, |m| m.saturating_add(1)))
    }

    /// Adds an option; [`StoreError::Duplicate`] when the column has its value already.
    pub fn insert_option(
        &mut self,
        choice: Choice<'_>,
        option: &LiveOption,
    ) -> Result<(), StoreError> {
        if self.option(choice, option.value)?.is_some() {
            return Err(StoreError::Duplicate);
        }
        self.conn
            .execute(
                "INSERT INTO _sandbox_options (entity, attribute, value, labels, descriptions) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    choice.entity,
                    choice.attribute,
                    option.value,
                    to_json(&option.labels)?,
                    to_json(&option.descriptions)?
                ],
            )
            .map(|_| ())
            .map_err(internal)
    }

    /// Replaces an option's labels and descriptions; [`StoreError::NotFound`] when the column
    /// has no option of its value.
    pub fn update_option(
        &mut self,
        choice: Choice<'_>,
        option: &LiveOption,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE _sandbox_options SET labels = ?4, descriptions = ?5 \
                 WHERE entity = ?1 AND attribute = ?2 AND value = ?3",
                params![
                    choice.entity,
                    choice.attribute,
                    option.value,
                    to_json(&option.labels)?,
                    to_json(&option.descriptions)?
                ],
            )
            .map_err(internal)?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes an option; `false` when there was none of that value.
    pub fn delete_option(&mut self, choice: Choice<'_>, value: i64) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM _sandbox_options WHERE entity = ?1 AND attribute = ?2 AND value = ?3",
                params![choice.entity, choice.attribute, value],
            )
            .map(|n| n > 0)
            .map_err(internal)
    }
}
