//! A position in a table's change order. A leaf of the crate: connectors read from it (rows
//! changed since), the state store keeps it (watermarks), and neither imports the other.

use jiff::Timestamp;

/// An exclusive lower bound in `(modified_on, key)` order: rows sharing a timestamp are told
/// apart by their key, so none is skipped or read twice across pages.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The modified-on of the last row read.
    pub modified_on: Timestamp,
    /// Its key.
    pub key: String,
}
