//! A computed value made ready for its destination column: cut to `[truncate]`'s length, put
//! in the column's representation (dates and date-times through the two systems' time zones),
//! and refused when it is a decimal with more digits than the column holds. Runs and
//! `syncmap test` both shape values here, so a test expects what a run writes.

use jiff::tz::TimeZone;

use crate::plan::{ColumnInfo, FieldOp};
use crate::runtime::value::Value;
use crate::schema::facets::decimal_misfit;

/// The time zones a value crosses: the source system's and the destination's.
#[derive(Debug, Clone)]
pub struct Zones {
    /// Where a date read from the source is a day.
    pub from: TimeZone,
    /// Where a date written to the destination is a day.
    pub to: TimeZone,
}

impl Zones {
    /// Both systems in UTC.
    pub fn utc() -> Zones {
        Zones {
            from: TimeZone::UTC,
            to: TimeZone::UTC,
        }
    }
}

/// `value` as field operation `op` writes it to `column` (unknown columns take it as is); the
/// error says why the value cannot be written, without naming the field.
pub fn for_column(
    value: Value,
    op: &FieldOp,
    column: Option<&ColumnInfo>,
    zones: &Zones,
) -> Result<Value, String> {
    let value = match (value, op.truncate) {
        (Value::String(t), Some(max)) if t.chars().count() > max as usize => {
            Value::String(t.chars().take(max as usize).collect())
        }
        (v, _) => v,
    };
    let Some(column) = column else {
        return Ok(value);
    };
    let value = value.coerce_between(&column.ty, &zones.from, &zones.to);
    // The service would reject (or silently round) digits its column cannot hold.
    if let Value::Decimal(d) = &value {
        if let Some(excess) = decimal_misfit(*d, column.precision, column.scale) {
            return Err(format!(
                "{d} has {}, but the column holds {}",
                excess.have(),
                excess.holds()
            ));
        }
    }
    Ok(value)
}
