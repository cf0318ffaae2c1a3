//! One company's plan, when a profile syncs many companies into one Dataverse (reference
//! §1.3): each table of the shared system that has the company column keeps to the rows of
//! this company or of none, and the rows the company's runs write there are its own — a row
//! of no company it creates or updates becomes the company's, as Business Central's
//! integration sets the company of the rows it syncs, so no other company takes it too.
//!
//! The plan a reviewer approved stays as it is (its digest too): the company's conditions are
//! added when its runs start, from the profile, as Business Central's integration adds its
//! company filter to each table mapping's integration table filter.

use super::model::{
    BinOp, ColumnInfo, ColumnKind, CompanyScope, Expr, FieldOp, Filter, Literal, Phase, Plan, Side,
    Table,
};
use super::odata;
use crate::profile::CompanyColumn;

/// The plan as company `id` runs it: on each table of `system` that has the company column,
/// the side's filter gains the company's condition and the side keeps the scope (matching
/// takes no partner of another company), and the pass that writes there makes the rows it
/// writes the company's.
pub fn for_company(plan: &Plan, system: &str, company: &CompanyColumn, id: &str) -> Plan {
    let scope = &CompanyScope {
        column: company.column.clone(),
        id: id.to_ascii_lowercase(),
    };
    let mut out = plan.clone();
    out.compiled = Some(Box::new(plan.as_compiled().clone()));
    let sides: Vec<_> = out
        .tables
        .iter()
        .map(|t| scoped_side(t, system, company))
        .collect();
    for (table, side) in out.tables.iter_mut().zip(sides) {
        let Some(side) = side else { continue };
        let Some(info) = out
            .systems
            .get_mut(system)
            .and_then(|s| s.tables.get_mut(&table.side(side).table))
        else {
            continue;
        };
        // The column is read and written like any the plan uses.
        info.columns
            .entry(company.column.clone())
            .or_insert_with(|| ColumnInfo {
                ty: ColumnKind::Lookup,
                targets: vec![company.target.clone()],
                ..ColumnInfo::default()
            });
        let columns = info.columns.clone();
        let kind = out.systems[system].kind;
        let target = match side {
            Side::Left => &mut table.left,
            Side::Right => &mut table.right,
        };
        target.filter = Some(with_condition(target.filter.take(), scope, kind, &columns));
        target.company = Some(scope.clone());
        let pass = match side {
            Side::Right => table.left_to_right.as_mut(),
            Side::Left => table.right_to_left.as_mut(),
        };
        if let Some(pass) = pass {
            if !pass.ops.iter().any(|op| op.target == scope.column) {
                pass.ops
                    .push(created_as_company(&table.name, &table.origin, scope));
            }
        }
    }
    out
}

/// A side's filter with the company's condition joined to it, split again into what the
/// server evaluates and the rest.
fn with_condition(
    filter: Option<Filter>,
    scope: &CompanyScope,
    kind: super::model::SystemKind,
    columns: &std::collections::BTreeMap<String, ColumnInfo>,
) -> Filter {
    let expr = match filter {
        Some(f) => Expr::Bin {
            op: BinOp::And,
            lhs: Box::new(f.expr),
            rhs: Box::new(scope.condition()),
        },
        None => scope.condition(),
    };
    let (odata, residual) = odata::split(&expr, kind, columns);
    Filter {
        expr,
        odata,
        residual,
    }
}

/// The side of `table` on `system` whose table has the company column, if one has.
fn scoped_side(table: &Table, system: &str, company: &CompanyColumn) -> Option<Side> {
    [Side::Left, Side::Right].into_iter().find(|&side| {
        let s = table.side(side);
        s.system == system && company.tables.contains(&s.table)
    })
}

/// `"<id>" -> column`: a row the company creates or updates is the company's.
fn created_as_company(table: &str, origin: &str, scope: &CompanyScope) -> FieldOp {
    FieldOp {
        id: format!("{table}#company"),
        origin: origin.to_string(),
        target: scope.column.clone(),
        value: Expr::Lit(Literal::String(scope.id.clone())),
        phase: Phase::Always,
        not_null: false,
        clear_on_failure: false,
        two_way: false,
        truncate: None,
        on_conflict: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::standard_plan;

    const UK: &str = "0000000A-0000-4000-8000-000000000001";

    fn column() -> CompanyColumn {
        CompanyColumn {
            column: "bcbi_companyid".into(),
            target: "bcbi_companies".into(),
            tables: vec!["accounts".into(), "contacts".into()],
        }
    }

    #[test]
    fn a_company_keeps_to_its_rows_and_makes_the_rows_it_writes_its_own() {
        let plan = standard_plan();
        let uk = for_company(&plan, "dv", &column(), UK);
        let customers = uk.table("customers").expect("customers");
        let filter = customers.right.filter.as_ref().expect("a filter");
        let odata = filter.odata.as_deref().unwrap_or_default();
        assert!(
            odata.ends_with(
                " and (_bcbi_companyid_value eq 0000000a-0000-4000-8000-000000000001 \
                 or _bcbi_companyid_value eq null)"
            ),
            "{odata}"
        );
        assert_eq!(filter.residual, None, "the server evaluates it all");
        let scope = customers.right.company.as_ref().expect("the scope");
        assert_eq!(scope.id, UK.to_ascii_lowercase());
        let op = customers
            .pass_to(Side::Right)
            .and_then(|p| p.ops.iter().find(|op| op.target == "bcbi_companyid"))
            .expect("writes carry the company");
        assert_eq!(op.phase, Phase::Always);
        let info = &uk.systems["dv"].tables["accounts"].columns["bcbi_companyid"];
        assert_eq!(
            (info.ty, info.targets.as_slice()),
            (
                ColumnKind::Lookup,
                ["bcbi_companies".to_string()].as_slice()
            )
        );
        // Tables without the column, and the other side, are as compiled.
        assert_eq!(uk.table("currencies"), plan.table("currencies"));
        assert_eq!(
            customers.left,
            plan.table("customers").expect("customers").left
        );
        // What the store keeps and the digest covers is the compiled plan.
        assert_eq!(uk.as_compiled(), &plan);
        assert_eq!(for_company(&uk, "dv", &column(), UK).as_compiled(), &plan);
    }

    #[test]
    fn a_row_of_no_company_is_every_company_s() {
        use crate::value::Value;
        let scope = CompanyScope {
            column: "bcbi_companyid".into(),
            id: UK.to_ascii_lowercase(),
        };
        assert!(scope.admits(None));
        assert!(scope.admits(Some(&Value::Null)));
        assert!(scope.admits(Some(&Value::String(UK.into()))));
        let other = Value::String("0000000b-0000-4000-8000-000000000001".into());
        assert!(!scope.admits(Some(&other)));
        let row = |v: Value| std::collections::BTreeMap::from([("bcbi_companyid".to_string(), v)]);
        assert_eq!(
            scope.foreign(&row(other)).as_deref(),
            Some("bcbi_companyid is \"0000000b-0000-4000-8000-000000000001\"")
        );
        assert_eq!(scope.foreign(&row(Value::Null)), None);
    }
}
