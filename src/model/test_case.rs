//! An inline `test` block once checked: the table mapping, the given record and what must
//! happen, with values already checked against the columns' types.

use std::collections::BTreeMap;

use super::{Literal, Side};
use crate::source::{FileId, Span};

/// One checked test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// The table mapping under test.
    pub table: String,
    /// Its description, or a name made from the table and position.
    pub name: String,
    /// The file the test is in.
    pub file: FileId,
    /// The whole test block.
    pub span: Span,
    /// The side the given record is read from.
    pub source: Side,
    /// The given record.
    pub given: BTreeMap<String, Literal>,
    /// Couplings assumed for lookups: table mapping, left value, right value.
    pub couplings: Vec<(String, Literal, Literal)>,
    /// What must happen.
    pub expect: Expected,
    /// The `expect` step.
    pub expect_span: Span,
}

/// What a test expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// The record does not pass the source side's filter.
    Filtered,
    /// Transforming the record fails.
    Fails,
    /// These destination fields are written with these values.
    Record {
        /// Evaluate as an update instead of a create.
        on_update: bool,
        /// Column, value and where the value is written in the test.
        fields: Vec<(String, Literal, Span)>,
    },
}
