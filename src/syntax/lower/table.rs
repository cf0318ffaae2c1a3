//! Table mappings: their sides and arrow, their items (filters, match rules, creation,
//! conflict and deletion rules, dependencies), field mappings with their transforms and
//! modifiers, and value map bodies.

use pest::iterators::Pair;

use super::{content, span, Lower};
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::parser::Rule;

impl Lower {
    fn table_ref(&mut self, p: Pair<'_, Rule>) -> Option<TableRef> {
        let s = span(&p);
        let mut it = content(p);
        let system = self.ident(it.next()?);
        let mut table = self.ident(it.next()?);
        // A choice column's options are one table to the rest of the compiler, named
        // `table.column` (no entity set has a dot in its name).
        if let Some(column) = it.next() {
            let column = self.ident(column);
            table.name = format!("{}.{}", table.name, column.name);
            table.span.end = column.span.end;
        }
        Some(TableRef {
            system,
            table,
            span: s,
        })
    }

    fn arrow(&mut self, p: Pair<'_, Rule>) -> Arrow {
        let s = span(&p);
        let dir = match p.into_inner().next().map(|c| c.as_rule()) {
            Some(Rule::to_right) => Direction::ToRight,
            Some(Rule::to_left) => Direction::ToLeft,
            _ => Direction::Both,
        };
        Arrow { dir, span: s }
    }

    pub(super) fn table(&mut self, p: Pair<'_, Rule>) -> Option<Table> {
        let s = span(&p);
        let mut it = content(p);
        let name = self.ident(it.next()?);
        let left = self.table_ref(it.next()?)?;
        let arrow = self.arrow(it.next()?);
        let right = self.table_ref(it.next()?)?;
        let items: Vec<TableItem> = it.filter_map(|c| self.table_item(c)).collect();
        self.check_single_settings(&items);
        Some(Table {
            name,
            left,
            arrow,
            right,
            items,
            span: s,
        })
    }

    /// `on conflict`, `on delete`, `only coupled` and `create` may each appear once.
    fn check_single_settings(&mut self, items: &[TableItem]) {
        let key = |i: &TableItem| match i {
            TableItem::OnConflict(_) => Some("on conflict"),
            TableItem::OnDelete(_) => Some("on delete"),
            TableItem::OnlyCoupled(_) => Some("only coupled"),
            TableItem::Create(_) => Some("create"),
            _ => None,
        };
        for (n, item) in items.iter().enumerate() {
            let Some(k) = key(item) else { continue };
            if let Some(first) = items[..n].iter().find(|i| key(i) == Some(k)) {
                let d = Diagnostic::new(
                    Code::E0105,
                    self.file,
                    item.span(),
                    format!("`{k}` is given twice in one table mapping"),
                )
                .label("given again here")
                .with(self.file, first.span(), "first given here")
                .help("keep one of them");
                self.diags.push(d);
            }
        }
    }

    // One arm per grammar rule of a table item; the longer ones are lowered by their own function.
    fn table_item(&mut self, p: Pair<'_, Rule>) -> Option<TableItem> {
        let s = span(&p);
        Some(match p.as_rule() {
            Rule::filter => {
                let mut it = content(p);
                let side = self.ident(it.next()?);
                let expr = self.expr(it.next()?);
                TableItem::Filter(Filter {
                    side,
                    expr,
                    span: s,
                })
            }
            Rule::match_rule => TableItem::Match(self.match_rule(p, s)?),
            Rule::create => {
                let sides = content(p).map(|c| self.ident(c)).collect();
                TableItem::Create(Create { sides, span: s })
            }
            Rule::on_conflict => TableItem::OnConflict(OnConflict {
                rule: self.conflict_rule(p)?,
                span: s,
            }),
            Rule::on_delete => TableItem::OnDelete(OnDelete {
                rule: delete_rule(p)?,
                span: s,
            }),
            Rule::only_coupled => {
                let b = content(p).next()?;
                let value = b.as_str() == "true";
                TableItem::OnlyCoupled(OnlyCoupled { value, span: s })
            }
            Rule::after => {
                let tables = content(p).map(|c| self.ident(c)).collect();
                TableItem::After(After { tables, span: s })
            }
            Rule::field_map => TableItem::Field(self.field_map(p)?),
            _ => return None,
        })
    }

    /// `match left = right, … [modifiers]`.
    fn match_rule(&mut self, p: Pair<'_, Rule>, s: Span) -> Option<MatchRule> {
        let mut terms = Vec::new();
        let mut modifiers = Vec::new();
        for c in content(p) {
            match c.as_rule() {
                Rule::match_term => {
                    let ts = span(&c);
                    let mut t = content(c).filter(|x| x.as_rule() == Rule::ident);
                    let left = self.ident(t.next()?);
                    let right = self.ident(t.next()?);
                    terms.push(MatchTerm {
                        left,
                        right,
                        span: ts,
                    });
                }
                Rule::modifiers => modifiers = self.match_modifiers(c),
                _ => {}
            }
        }
        Some(MatchRule {
            terms,
            modifiers,
            span: s,
        })
    }

    /// A match rule's modifiers; `on conflict` belongs to two-way fields (E0314), and is
    /// dropped here so nothing downstream meets it without its rule.
    fn match_modifiers(&mut self, p: Pair<'_, Rule>) -> Vec<Modifier> {
        let mut mods = self.modifiers(p);
        if let Some(m) = mods.iter().find(|m| m.kind == ModifierKind::OnConflict) {
            let d = Diagnostic::new(
                Code::E0314,
                self.file,
                m.span,
                "`on conflict` does not apply to a match rule",
            )
            .label("not allowed here")
            .help("a match rule takes only `[case sensitive]`; a two-way field takes `[on conflict: …]`");
            self.diags.push(d);
        }
        mods.retain(|m| m.kind != ModifierKind::OnConflict);
        mods
    }

    /// `on conflict: prefer SIDE | newest | fail`.
    fn conflict_rule(&mut self, p: Pair<'_, Rule>) -> Option<ConflictRule> {
        let rule_pair = content(p).next()?;
        let mut parts = rule_pair.into_inner();
        let first = parts.next()?;
        Some(match first.as_rule() {
            Rule::kw_prefer => ConflictRule::Prefer(self.ident(parts.next()?)),
            Rule::kw_newest => ConflictRule::Newest,
            _ => ConflictRule::Fail,
        })
    }

    fn field_map(&mut self, p: Pair<'_, Rule>) -> Option<FieldMap> {
        let s = span(&p);
        let mut it = content(p);
        let left = self.expr(it.next()?);
        let arrow = self.arrow(it.next()?);
        let right = self.expr(it.next()?);
        let mut transform = None;
        let mut modifiers = Vec::new();
        let mut on_conflict = None;
        for c in it {
            match c.as_rule() {
                Rule::transform => transform = self.transform(c),
                Rule::modifiers => {
                    on_conflict = self.field_conflict_rule(c.clone());
                    modifiers = self.modifiers(c);
                }
                _ => {}
            }
        }
        Some(FieldMap {
            left,
            arrow,
            right,
            transform,
            modifiers,
            on_conflict,
            span: s,
        })
    }

    /// The first `[on conflict: …]` among a field mapping's modifiers (a repeated one is
    /// reported with the other repeated modifiers).
    fn field_conflict_rule(&mut self, p: Pair<'_, Rule>) -> Option<OnConflict> {
        let m = content(p)
            .filter_map(|m| m.into_inner().next())
            .find(|k| k.as_rule() == Rule::mod_on_conflict)?;
        let s = span(&m);
        Some(OnConflict {
            rule: self.conflict_rule(m)?,
            span: s,
        })
    }

    fn transform(&mut self, p: Pair<'_, Rule>) -> Option<Transform> {
        let inner = content(p).next()?;
        let s = span(&inner);
        match inner.as_rule() {
            Rule::via => {
                let mut it = content(inner);
                let table = self.ident(it.next()?);
                let column = it.next().map(|c| self.ident(c));
                Some(Transform::Via {
                    table,
                    column,
                    span: s,
                })
            }
            _ => {
                let target = content(inner).next()?;
                if target.as_rule() == Rule::map_body {
                    Some(Transform::UsingInline(self.map_body(target)))
                } else {
                    Some(Transform::UsingMap(self.ident(target)))
                }
            }
        }
    }

    fn modifiers(&mut self, p: Pair<'_, Rule>) -> Vec<Modifier> {
        let mut out: Vec<Modifier> = Vec::new();
        for m in content(p) {
            let s = span(&m);
            let kind = match m.into_inner().next().map(|k| k.as_rule()) {
                Some(Rule::mod_create_only) => ModifierKind::CreateOnly,
                Some(Rule::mod_update_only) => ModifierKind::UpdateOnly,
                Some(Rule::mod_clear_on_failure) => ModifierKind::ClearOnFailure,
                Some(Rule::mod_not_null) => ModifierKind::NotNull,
                Some(Rule::mod_truncate) => ModifierKind::Truncate,
                Some(Rule::mod_on_conflict) => ModifierKind::OnConflict,
                _ => ModifierKind::CaseSensitive,
            };
            if let Some(prev) = out.iter().find(|x| x.kind == kind) {
                let d = Diagnostic::new(
                    Code::E0105,
                    self.file,
                    s,
                    format!("modifier `{}` is given twice", kind.text()),
                )
                .label("given again here")
                .with(self.file, prev.span, "first given here")
                .help("remove the repeated modifier");
                self.diags.push(d);
                continue;
            }
            out.push(Modifier { kind, span: s });
        }
        out
    }

    pub(super) fn map_body(&mut self, p: Pair<'_, Rule>) -> MapBody {
        let s = span(&p);
        let mut arms = Vec::new();
        for arm in content(p) {
            let arm_span = span(&arm);
            let mut it = content(arm);
            let (Some(pat), Some(val)) = (it.next(), it.next()) else {
                continue;
            };
            let pattern = match pat.into_inner().next() {
                Some(x) if x.as_rule() == Rule::literal => Some(self.literal(x)),
                _ => None,
            };
            let value = self.literal(val);
            arms.push(MapArm {
                pattern,
                value,
                span: arm_span,
            });
        }
        MapBody { arms, span: s }
    }
}

/// `on delete: uncouple | restore | propagate | fail`.
fn delete_rule(p: Pair<'_, Rule>) -> Option<DeleteRule> {
    let rule_pair = content(p).next()?;
    Some(match rule_pair.into_inner().next()?.as_rule() {
        Rule::kw_uncouple => DeleteRule::Uncouple,
        Rule::kw_restore => DeleteRule::Restore,
        Rule::kw_propagate => DeleteRule::Propagate,
        _ => DeleteRule::Fail,
    })
}
