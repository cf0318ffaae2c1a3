//! A computed value made ready for its destination column: cut to `[truncate]`'s length, put
//! in the column's representation (dates and date-times through the two systems' time zones),
//! and refused when it is a decimal with more digits than the column holds. Runs and
//! `syncmap test` both shape values here, so a test expects what a run writes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

use crate::plan::{ColumnInfo, FieldOp};
use crate::schema::facets::decimal_misfit;
use crate::value::Value;

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
    let value = value.coerce_between(column.ty, &zones.from, &zones.to);
    let value = match value {
        Value::DateTime(t) if column.time_zone_independent => {
            Value::DateTime(wall_clock(t, &zones.to))
        }
        v => v,
    };
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

/// The fields of a source row as instants: values of time-zone-independent columns are wall
/// clocks written as UTC, taken as that time in `zone`, the system's. Borrowed when there is
/// nothing to convert.
pub fn as_instants<'r>(
    fields: &'r BTreeMap<String, Value>,
    columns: &BTreeMap<String, ColumnInfo>,
    zone: &TimeZone,
) -> Cow<'r, BTreeMap<String, Value>> {
    let wall_clocks = columns
        .iter()
        .filter(|(name, c)| {
            c.time_zone_independent && matches!(fields.get(*name), Some(Value::DateTime(_)))
        })
        .map(|(name, _)| name);
    let mut out = Cow::Borrowed(fields);
    for name in wall_clocks {
        if let Some(Value::DateTime(t)) = fields.get(name) {
            let instant = Offset::UTC
                .to_datetime(*t)
                .to_zoned(zone.clone())
                .map_or(*t, |z| z.timestamp());
            out.to_mut().insert(name.clone(), Value::DateTime(instant));
        }
    }
    out
}

/// An instant as the wall clock shows it in `zone`, written as UTC (the inverse of
/// [`as_instants`] for one value).
fn wall_clock(t: Timestamp, zone: &TimeZone) -> Timestamp {
    let civil = t.to_zoned(zone.clone()).datetime();
    Offset::UTC.to_timestamp(civil).unwrap_or(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::value::ColumnKind;

    fn at(s: &str) -> Value {
        Value::DateTime(Timestamp::from_str(s).unwrap())
    }

    #[test]
    fn wall_clocks_are_read_and_written_in_the_systems_zone() {
        let new_york = TimeZone::get("America/New_York").unwrap();
        let columns = BTreeMap::from([(
            "scheduledstart".to_string(),
            ColumnInfo {
                ty: ColumnKind::Datetime,
                time_zone_independent: true,
                ..ColumnInfo::default()
            },
        )]);
        // 23:30 on the wall in New York, read as the instant it is there.
        let fields = BTreeMap::from([("scheduledstart".to_string(), at("2024-03-30T23:30:00Z"))]);
        let read = as_instants(&fields, &columns, &new_york);
        assert_eq!(read["scheduledstart"], at("2024-03-31T03:30:00Z"));
        // And back, by way of a field operation into that column.
        let op = FieldOp {
            id: "t#1".into(),
            origin: "t.map:1:1".into(),
            target: "scheduledstart".into(),
            value: crate::plan::Expr::Col("x".into()),
            phase: crate::plan::Phase::Always,
            not_null: false,
            clear_on_failure: false,
            two_way: false,
            truncate: None,
            on_conflict: None,
        };
        let zones = Zones {
            from: TimeZone::UTC,
            to: new_york,
        };
        let written = for_column(
            read["scheduledstart"].clone(),
            &op,
            columns.get("scheduledstart"),
            &zones,
        );
        assert_eq!(written, Ok(at("2024-03-30T23:30:00Z")));
        // Columns that hold instants are left alone.
        let plain = BTreeMap::new();
        assert!(matches!(
            as_instants(&fields, &plain, &zones.to),
            Cow::Borrowed(_)
        ));
    }
}
