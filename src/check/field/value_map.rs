//! `using MAP` and `using { … }`: value maps resolved by name, their arms coerced to the types
//! of both ends, read backwards for a two-way field, and checked for values they miss.

use super::{Dest, FieldDir};
use crate::check::expr::Typed;
use crate::check::types::Ty;
use crate::check::Checker;
use crate::diagnostics::{suggestion_help, Code, Diagnostic};
use crate::model::{self, Literal, Side};
use crate::source::FileId;
use crate::syntax::ast::{self, Direction, FieldMap, Span};

/// Where and how a value map is used.
#[derive(Clone, Copy)]
struct MapUse {
    file: FileId,
    site: Span,
    two_way: bool,
    invert: bool,
}

impl MapUse {
    /// The use of a map at `site` by field `f` read from `src`: the right-to-left pass of a
    /// two-way field reads it backwards.
    fn new(file: FileId, site: Span, f: &FieldMap, src: Side) -> Self {
        MapUse {
            file,
            site,
            two_way: f.arrow.dir == Direction::Both,
            invert: src == Side::Right && f.arrow.dir == Direction::Both,
        }
    }
}

/// The arms of a value map compiled so far, and the patterns seen, for repeats.
#[derive(Default)]
struct Arms {
    arms: Vec<(Literal, Literal)>,
    default: Option<Literal>,
    seen: Vec<(Literal, Span)>,
    ok: bool,
}

impl<'p> Checker<'p> {
    /// `using NAME`: the value map declared as `NAME`, applied for one direction.
    pub(super) fn using_map(
        &mut self,
        d: FieldDir<'_, 'p>,
        name: &ast::Ident,
        src_typed: &Typed,
        dest: Dest<'_>,
    ) -> Option<model::Expr> {
        let (file, f, src) = (d.file, d.field, d.src);
        let (dst_ty, target) = (dest.ty, dest.target);
        if self.project.broken_names.contains(&name.name) && !self.maps.contains_key(&name.name) {
            return None;
        }
        let Some(decl) = self.maps.get(&name.name).copied() else {
            self.unknown_map(file, name);
            return None;
        };
        self.referenced.insert(name.name.clone());
        let ctx = MapUse::new(file, name.span, f, src);
        self.apply_map(decl.file, &decl.node.body, src_typed, dst_ty, target, ctx)
    }

    /// `using { … }`: a value map written in the field, applied for one direction.
    pub(super) fn using_inline(
        &mut self,
        d: FieldDir<'_, 'p>,
        body: &ast::MapBody,
        src_typed: &Typed,
        dest: Dest<'_>,
    ) -> Option<model::Expr> {
        let (file, f, src) = (d.file, d.field, d.src);
        let (dst_ty, target) = (dest.ty, dest.target);
        let ctx = MapUse::new(file, body.span, f, src);
        self.apply_map(file, body, src_typed, dst_ty, target, ctx)
    }

    /// E0206, suggesting a declared map by spelling.
    fn unknown_map(&mut self, file: FileId, name: &ast::Ident) {
        let names: Vec<&str> = self.maps.keys().map(String::as_str).collect();
        let suggestion = suggestion_help(&name.name, &names, str::to_string);
        // The map suggested is the one meant: W0005 would only repeat this error.
        if let Some((s, _)) = &suggestion {
            self.referenced.insert(s.to_string());
        }
        let help = suggestion.map_or_else(
            || format!("declare it: `map {} {{ … }}`", name.name),
            |(_, help)| help,
        );
        self.push(
            Diagnostic::new(
                Code::E0206,
                file,
                name.span,
                format!("unknown value map `{}`", name.name),
            )
            .label("not declared")
            .help(help),
        );
    }

    /// Compiles a value map for one direction; `invert` reads it backwards (the right-to-left
    /// pass of a two-way field).
    fn apply_map(
        &mut self,
        map_file: FileId,
        body: &ast::MapBody,
        src: &Typed,
        dst_ty: &Ty,
        target: &str,
        u: MapUse,
    ) -> Option<model::Expr> {
        if body.arms.iter().all(|a| a.pattern.is_none()) {
            self.push(
                Diagnostic::new(
                    Code::E0311,
                    map_file,
                    body.span,
                    "a value map needs at least one arm with a pattern",
                )
                .label("nothing to match")
                .help(
                    "add arms such as `\"A\" => \"Active\"`; without them, map the value directly",
                ),
            );
            return None;
        }
        let mut arms = Arms {
            ok: true,
            ..Arms::default()
        };
        for arm in &body.arms {
            self.map_arm(map_file, arm, &src.ty, dst_ty, target, u, &mut arms);
        }
        if !self.default_one_way(map_file, body, u) {
            arms.ok = false;
        }
        if !arms.ok {
            return None;
        }
        if arms.default.is_none() {
            self.coverage(u, &src.ty, &arms.arms);
        }
        Some(model::Expr::Map {
            arg: Box::new(src.expr.clone()),
            arms: arms.arms,
            default: arms.default,
            ignore_case: false,
        })
    }

    /// Whether the map's default arm, if any, is used one way only (E0304 if not).
    fn default_one_way(&mut self, map_file: FileId, body: &ast::MapBody, u: MapUse) -> bool {
        // A default arm makes a two-way map uninvertible: the forward pass reports it, and the
        // backward pass stops too, so it does not also warn about values only the default gives.
        if let (true, Some(d)) = (u.two_way, body.arms.iter().find(|a| a.pattern.is_none())) {
            if !u.invert {
                self.push(
                    Diagnostic::new(
                        Code::E0304,
                        u.file,
                        u.site,
                        "a value map with a default arm cannot be used both ways",
                    )
                    .label("two-way here")
                    .with(map_file, d.span, "the default arm maps many values to one")
                    .help("list every value explicitly, or map the field one way"),
                );
            }
            return false;
        }
        true
    }

    /// Coerces one arm (read backwards when inverting) and adds it to `out`, unless its pattern
    /// repeats an earlier one.
    #[allow(clippy::too_many_arguments)] // the map's whole context is needed to label errors
    fn map_arm(
        &mut self,
        map_file: FileId,
        arm: &ast::MapArm,
        pat_ty: &Ty,
        val_ty: &Ty,
        target: &str,
        u: MapUse,
        out: &mut Arms,
    ) {
        let what_src = "the value mapped".to_string();
        let what_dst = format!("`{target}`");
        let (pat_lit, val_lit) = if u.invert {
            (Some(&arm.value), arm.pattern.as_ref())
        } else {
            (arm.pattern.as_ref(), Some(&arm.value))
        };
        let Some(val_lit) = val_lit else {
            // The default arm has no partner to map back to; invertibility is reported once.
            return;
        };
        let v = self.coerce_literal(map_file, &val_lit.kind, val_lit.span, val_ty, &what_dst);
        let p = match pat_lit {
            Some(p) => self
                .coerce_literal(map_file, &p.kind, p.span, pat_ty, &what_src)
                .map(Some),
            None => Some(None),
        };
        match (p, v) {
            (Some(Some(p)), Some(v)) => {
                let span = pat_lit.map_or(arm.span, |l| l.span);
                if let Some((_, first)) = out.seen.iter().find(|(l, _)| *l == p) {
                    let first = *first;
                    self.repeated_pattern(map_file, u, &p, span, first);
                    out.ok = false;
                    return;
                }
                out.seen.push((p.clone(), span));
                out.arms.push((p, v));
            }
            (Some(None), Some(v)) => out.default = Some(v),
            _ => out.ok = false,
        }
    }

    /// A pattern given twice: an unreachable arm forwards (E0311), two arms giving the same
    /// value backwards (E0304).
    fn repeated_pattern(
        &mut self,
        map_file: FileId,
        u: MapUse,
        p: &Literal,
        span: Span,
        first: Span,
    ) {
        if !u.invert {
            self.push(
                Diagnostic::new(
                    Code::E0311,
                    map_file,
                    span,
                    "this pattern appears twice in the value map",
                )
                .label("never reached")
                .with(map_file, first, "first here")
                .help("remove the repeated arm"),
            );
        } else {
            // Named as written (`"Customer"`), not as the value it stands for (`3`).
            let text = &self.project.sources.get(map_file).text;
            let written = text
                .get(span.start as usize..span.end as usize)
                .map_or_else(|| show(p), str::to_string);
            let mut d = Diagnostic::new(
                Code::E0304,
                map_file,
                span,
                format!("the value map is not invertible: two arms give `{written}`"),
            )
            .label("given again here")
            .with(map_file, first, "first given here")
            .help("give each value its own partner, or map the field one way");
            // A named map is shown where it is used both ways; an inline one is its own use.
            let inline = u.file == map_file && u.site.start <= span.start && span.end <= u.site.end;
            if !inline {
                d = d.with(u.file, u.site, "used both ways here");
            }
            // A named map used both ways by several tables has one mistake: reported once.
            self.push_once(d);
        }
    }

    /// W0002 when a map over a closed set of values misses some and has no default arm.
    fn coverage(&mut self, u: MapUse, src: &Ty, arms: &[(Literal, Literal)]) {
        let all: Vec<(Literal, String)> = match src {
            Ty::Option(opts) => opts
                .iter()
                .map(|o| (Literal::Int(o.value), o.label.clone()))
                .collect(),
            Ty::Enum(m) => m
                .iter()
                .map(|s| (Literal::String(s.clone()), format!("{s:?}")))
                .collect(),
            Ty::Bool => vec![
                (Literal::Bool(true), "true".into()),
                (Literal::Bool(false), "false".into()),
            ],
            _ => return,
        };
        let missing: Vec<String> = all
            .into_iter()
            .filter(|(v, _)| !arms.iter().any(|(p, _)| p == v))
            .map(|(_, n)| n)
            .collect();
        if missing.is_empty() {
            return;
        }
        let list = if missing.len() > 6 {
            format!("{}, …", missing[..6].join(", "))
        } else {
            missing.join(", ")
        };
        self.push(
            Diagnostic::new(
                Code::W0002,
                u.file,
                u.site,
                format!("the value map does not cover {list}"),
            )
            .label(format!(
                "{} value{} unmapped",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" }
            ))
            .help("add arms for them, or a default arm `_ => …`; unmapped values fail the record"),
        );
    }
}

/// A literal as the map's source text would write it.
fn show(l: &Literal) -> String {
    match l {
        Literal::String(s) => format!("{s:?}"),
        Literal::Int(n) => n.to_string(),
        Literal::Decimal(d) => d.clone(),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".into(),
        Literal::Date(d) | Literal::Datetime(d) => format!("@{d}"),
    }
}
