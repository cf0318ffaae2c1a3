//! The modifiers of a field mapping (`[create only]`, `[not null]`, …): which apply, and which
//! contradict each other.

use std::collections::BTreeMap;

use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{self, Phase};
use crate::source::FileId;
use crate::syntax::ast::{self, Direction, FieldMap, ModifierKind, Span};

/// Modifiers of a field mapping, once checked.
#[derive(Default, Clone, Copy)]
pub(super) struct Mods {
    pub create_only: bool,
    pub update_only: bool,
    pub clear_on_failure: bool,
    pub not_null: bool,
    pub truncate: bool,
    /// `[on conflict: …]`, once checked.
    pub on_conflict: Option<model::ConflictRule>,
}

impl Mods {
    /// When the field is written.
    pub fn phase(self) -> Phase {
        if self.create_only {
            Phase::Create
        } else if self.update_only {
            Phase::Update
        } else {
            Phase::Always
        }
    }
}

/// Pairs of modifiers that cannot both apply: (first, second, why). The second is dropped.
const CONTRADICTIONS: [(&str, &str, &str); 2] = [
    (
        "create only",
        "update only",
        "a field cannot be written only on create and only on update",
    ),
    (
        "clear on failure",
        "not null",
        "clearing a field writes null, which `not null` forbids",
    ),
];

impl Checker<'_> {
    pub(super) fn modifiers(&mut self, file: FileId, f: &FieldMap) -> Mods {
        let mut m = Mods::default();
        let mut spans: BTreeMap<&'static str, Span> = BTreeMap::new();
        for md in &f.modifiers {
            match md.kind {
                ModifierKind::CreateOnly => m.create_only = true,
                ModifierKind::UpdateOnly => m.update_only = true,
                ModifierKind::ClearOnFailure => m.clear_on_failure = true,
                ModifierKind::NotNull => m.not_null = true,
                ModifierKind::Truncate => m.truncate = true,
                // Checked with the field's sides and arrow (`field_conflict_rule`).
                ModifierKind::OnConflict => {}
                ModifierKind::CaseSensitive => {
                    self.push(
                        Diagnostic::new(
                            Code::E0314,
                            file,
                            md.span,
                            "`case sensitive` applies only to match rules",
                        )
                        .label("not allowed on a field mapping")
                        .help("remove it, or move the comparison into a `match` rule"),
                    );
                }
            }
            spans.insert(md.kind.text(), md.span);
        }
        self.contradictions(file, &mut m, &spans);
        m
    }

    /// A field mapping's own conflict rule: only a two-way field conflicts, and one written
    /// only on create never does.
    pub(super) fn field_conflict_rule(
        &mut self,
        file: FileId,
        t: &ast::Table,
        f: &FieldMap,
        mods: Mods,
    ) -> Option<model::ConflictRule> {
        let c = f.on_conflict.as_ref()?;
        if f.arrow.dir != Direction::Both {
            self.push(
                Diagnostic::new(Code::E0314, file, c.span, "`on conflict` applies only to a two-way field")
                    .label("this field flows one way")
                    .with(file, f.arrow.span, "one way here")
                    .help("a field conflicts only when both sides change it: make it `<->`, or remove the rule"),
            );
            return None;
        }
        if mods.create_only {
            let created = f
                .modifiers
                .iter()
                .find(|m| m.kind == ModifierKind::CreateOnly);
            let mut d = Diagnostic::new(
                Code::E0310,
                file,
                c.span,
                "`on conflict` contradicts `create only`",
            )
            .label("contradicts")
            .help("a field written only when its row is created never conflicts; keep one of them");
            if let Some(m) = created {
                d = d.with(file, m.span, "given here");
            }
            self.push(d);
            return None;
        }
        match &c.rule {
            ast::ConflictRule::Prefer(side) => self
                .side_named(file, side, t)
                .map(model::ConflictRule::Prefer),
            ast::ConflictRule::Newest => Some(model::ConflictRule::Newest),
            ast::ConflictRule::Fail => Some(model::ConflictRule::Fail),
        }
    }

    /// E0310 for each contradicting pair, keeping the first of the two.
    fn contradictions(&mut self, file: FileId, m: &mut Mods, spans: &BTreeMap<&str, Span>) {
        let both = [
            m.create_only && m.update_only,
            m.clear_on_failure && m.not_null,
        ];
        for (both, (a, b, why)) in both.into_iter().zip(CONTRADICTIONS) {
            if let (true, Some(sa), Some(sb)) = (both, spans.get(a), spans.get(b)) {
                self.push(
                    Diagnostic::new(Code::E0310, file, *sb, format!("`{b}` contradicts `{a}`"))
                        .label("contradicts")
                        .with(file, *sa, "given here")
                        .help(format!("{why}; keep one of them")),
                );
                if a == "create only" {
                    m.update_only = false;
                } else {
                    m.not_null = false;
                }
            }
        }
    }
}
