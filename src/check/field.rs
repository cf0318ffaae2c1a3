//! Field mappings: arrows against the table's flow, destinations, types, value maps, lookups,
//! modifiers, columns written twice, and required columns never written on create.

use std::collections::BTreeMap;

use super::expr::Typed;
use super::table::Sides;
use super::types::{assignable, round_trips, Ty};
use super::{Checker, Scope};
use crate::diagnostics::{suggest, Code, Diagnostic};
use crate::plan::{self, Flow, Literal, Phase, Side};
use crate::source::FileId;
use crate::syntax::ast::{self, Direction, FieldMap, ModifierKind, Span, Transform};

/// Modifiers of a field mapping, once checked.
#[derive(Default, Clone, Copy)]
struct Mods {
    create_only: bool,
    update_only: bool,
    clear_on_failure: bool,
    not_null: bool,
    truncate: bool,
}

/// Where a destination column was first written, per phase, for E0306.
type Written = BTreeMap<(Side, String), Vec<(Phase, Span)>>;

impl<'p> Checker<'p> {
    /// Checks the field mappings of a table and builds its passes.
    pub(super) fn fields(
        &mut self,
        file: FileId,
        t: &'p ast::Table,
        sides: &Sides<'p>,
        flow: Flow,
        fields: &[&'p FieldMap],
        create: &[Side],
    ) -> (Option<plan::Pass>, Option<plan::Pass>) {
        let mut ltr = Vec::new();
        let mut rtl = Vec::new();
        let mut written = Written::new();
        // A field mapping dropped for an error may be the one meant to set a required column, so
        // W0004 waits until every field mapping checks.
        let mut dropped = false;
        for (n, f) in fields.iter().enumerate() {
            let id = format!("{}#{}", t.name.name, n + 1);
            if !self.arrow_agrees(file, t, f, flow) {
                dropped = true;
                continue;
            }
            let mods = self.modifiers(file, f);
            let dirs: &[(Side, Side)] = match f.arrow.dir {
                Direction::ToRight => &[(Side::Left, Side::Right)],
                Direction::ToLeft => &[(Side::Right, Side::Left)],
                Direction::Both => &[(Side::Left, Side::Right), (Side::Right, Side::Left)],
            };
            if f.arrow.dir == Direction::Both && !self.two_way_shape(file, f) {
                dropped = true;
                continue;
            }
            let mut reported_read_only = false;
            for &(src, dst) in dirs {
                let Some(op) = self.field_op(
                    file,
                    t,
                    sides,
                    f,
                    src,
                    dst,
                    mods,
                    &id,
                    &mut reported_read_only,
                ) else {
                    dropped = true;
                    continue;
                };
                self.note_write(file, &mut written, dst, &op, f.span);
                if dst == Side::Right {
                    ltr.push(op);
                } else {
                    rtl.push(op);
                }
            }
        }
        if !dropped {
            self.required_on_create(file, t, sides, create, &ltr, &rtl);
        }
        let pass =
            |source: Side, dest: Side, ops: Vec<plan::FieldOp>| plan::Pass { source, dest, ops };
        let ltr = matches!(flow, Flow::LeftToRight | Flow::Both)
            .then(|| pass(Side::Left, Side::Right, ltr));
        let rtl = matches!(flow, Flow::RightToLeft | Flow::Both)
            .then(|| pass(Side::Right, Side::Left, rtl));
        (ltr, rtl)
    }

    fn arrow_agrees(&mut self, file: FileId, t: &ast::Table, f: &FieldMap, flow: Flow) -> bool {
        let ok = match flow {
            Flow::Both => true,
            Flow::LeftToRight => f.arrow.dir == Direction::ToRight,
            Flow::RightToLeft => f.arrow.dir == Direction::ToLeft,
        };
        if !ok {
            let table_arrow = t.arrow.dir.arrow();
            self.push(
                Diagnostic::new(
                    Code::E0303,
                    file,
                    f.arrow.span,
                    format!(
                        "field flows `{}` but table `{}` flows only `{table_arrow}`",
                        f.arrow.dir.arrow(),
                        t.name.name
                    ),
                )
                .label("against the table's direction")
                .with(file, t.arrow.span, "table direction declared here")
                .help(format!(
                    "write `{table_arrow}`, or make the table two-way with `<->`"
                )),
            );
        }
        ok
    }

    fn modifiers(&mut self, file: FileId, f: &FieldMap) -> Mods {
        let mut m = Mods::default();
        let mut spans: BTreeMap<&'static str, Span> = BTreeMap::new();
        for md in &f.modifiers {
            match md.kind {
                ModifierKind::CreateOnly => m.create_only = true,
                ModifierKind::UpdateOnly => m.update_only = true,
                ModifierKind::ClearOnFailure => m.clear_on_failure = true,
                ModifierKind::NotNull => m.not_null = true,
                ModifierKind::Truncate => m.truncate = true,
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
        let pairs = [
            (
                m.create_only && m.update_only,
                "create only",
                "update only",
                "a field cannot be written only on create and only on update",
            ),
            (
                m.clear_on_failure && m.not_null,
                "clear on failure",
                "not null",
                "clearing a field writes null, which `not null` forbids",
            ),
        ];
        for (both, a, b, why) in pairs {
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
        m
    }

    /// A two-way field must be `column <-> column`.
    fn two_way_shape(&mut self, file: FileId, f: &FieldMap) -> bool {
        for e in [&f.left, &f.right] {
            if e.as_column().is_none() {
                self.push(
                    Diagnostic::new(
                        Code::E0304,
                        file,
                        e.span,
                        "a two-way field must map a column to a column",
                    )
                    .label("a computed value cannot flow back")
                    .with(file, f.arrow.span, "two-way here")
                    .help("computed values flow one way: use `->` or `<-`"),
                );
                return false;
            }
        }
        true
    }

    #[allow(clippy::too_many_arguments)] // the field's whole context is needed to label errors
    fn field_op(
        &mut self,
        file: FileId,
        t: &ast::Table,
        sides: &Sides<'p>,
        f: &FieldMap,
        src: Side,
        dst: Side,
        mods: Mods,
        id: &str,
        reported_read_only: &mut bool,
    ) -> Option<plan::FieldOp> {
        let (src_e, dst_e) = match src {
            Side::Left => (&f.left, &f.right),
            Side::Right => (&f.right, &f.left),
        };
        let Some(target) = dst_e.as_column() else {
            let dst_sys = sides.system(dst);
            self.push(
                Diagnostic::new(
                    Code::E0307,
                    file,
                    dst_e.span,
                    format!(
                        "the destination of `{}` must be a column of `{dst_sys}`",
                        f.arrow.dir.arrow()
                    ),
                )
                .label("an expression cannot be written to")
                .help("computations go on the source side, e.g. `upper(code) -> isocurrencycode`"),
            );
            return None;
        };
        let dst_ty = match sides.table(dst) {
            Some(_) => {
                let id = ast::Ident {
                    name: target.to_string(),
                    span: dst_e.span,
                };
                self.column_of(file, &id, sides, dst)?
            }
            None => Ty::Unknown,
        };
        if let Some(col) = sides.table(dst).and_then(|tb| tb.column(target)) {
            // Both columns of a two-way field may be read-only (`id <-> accountid`): one report.
            if col.read_only {
                if !*reported_read_only {
                    let tname = sides.table(dst).map_or("", |x| x.name.as_str());
                    let help = match (f.arrow.dir, src_e.as_column()) {
                        (Direction::Both, Some(source)) => {
                            let (left, arrow, right) = if dst == Side::Right {
                                (source, "<-", target)
                            } else {
                                (target, "->", source)
                            };
                            format!(
                                "the system computes `{target}`; read it one way instead: \
                                 `{left} {arrow} {right}`"
                            )
                        }
                        _ => format!(
                            "the system computes `{target}`, so it can only be read; remove this \
                             field mapping"
                        ),
                    };
                    self.push(
                        Diagnostic::new(
                            Code::E0305,
                            file,
                            dst_e.span,
                            format!("`{target}` of `{}.{tname}` is read-only", sides.system(dst)),
                        )
                        .label("cannot be written")
                        .help(help),
                    );
                }
                *reported_read_only = true;
                return None;
            }
        }
        let src_typed = self.expr(file, src_e, &sides.scope(src));
        let value = match &f.transform {
            Some(Transform::Via {
                table,
                column,
                span,
            }) => self.lookup(
                file,
                t,
                sides,
                src,
                dst,
                &src_typed,
                &dst_ty,
                target,
                table,
                column.as_ref(),
                *span,
            )?,
            Some(Transform::UsingMap(name)) => {
                if self.project.broken_names.contains(&name.name)
                    && !self.maps.contains_key(&name.name)
                {
                    return None;
                }
                let Some(decl) = self.maps.get(&name.name).copied() else {
                    let names: Vec<&str> = self.maps.keys().map(String::as_str).collect();
                    let suggestion = suggest(&name.name, names.iter().copied()).map(str::to_string);
                    // The map suggested is the one meant: W0005 would only repeat this error.
                    if let Some(s) = &suggestion {
                        self.referenced.insert(s.clone());
                    }
                    let help = suggestion.map_or_else(
                        || format!("declare it: `map {} {{ … }}`", name.name),
                        |s| format!("did you mean `{s}`?"),
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
                    return None;
                };
                self.referenced.insert(name.name.clone());
                let ctx = MapUse {
                    file,
                    site: name.span,
                    two_way: f.arrow.dir == Direction::Both,
                    invert: src == Side::Right && f.arrow.dir == Direction::Both,
                };
                self.apply_map(decl.file, &decl.node.body, &src_typed, &dst_ty, target, ctx)?
            }
            Some(Transform::UsingInline(body)) => {
                let ctx = MapUse {
                    file,
                    site: body.span,
                    two_way: f.arrow.dir == Direction::Both,
                    invert: src == Side::Right && f.arrow.dir == Direction::Both,
                };
                self.apply_map(file, body, &src_typed, &dst_ty, target, ctx)?
            }
            None => self.plain_value(file, f, src_e, &src_typed, &dst_ty, target, src)?,
        };
        let dst_max = dst_ty
            .max_len()
            .filter(|_| matches!(dst_ty, Ty::String { .. }));
        // An unknown destination (its table or schema is already reported) has no known length.
        if mods.truncate && dst_max.is_none() && !matches!(dst_ty, Ty::Unknown) {
            self.push(
                Diagnostic::new(
                    Code::W0003,
                    file,
                    f.span,
                    format!("`truncate` has no effect: `{target}` has no maximum length"),
                )
                .label("nothing to cut")
                .help("remove `truncate`"),
            );
        }
        if !mods.truncate && f.transform.is_none() {
            self.truncation(file, src_e, &src_typed.ty, &dst_ty, target);
        }
        if f.transform.is_none() {
            self.decimal_fit(file, sides, src_e, src, dst, target);
        }
        let phase = if mods.create_only {
            Phase::Create
        } else if mods.update_only {
            Phase::Update
        } else {
            Phase::Always
        };
        Some(plan::FieldOp {
            id: id.to_string(),
            origin: self.origin(file, f.span),
            target: target.to_string(),
            value,
            phase,
            not_null: mods.not_null,
            clear_on_failure: mods.clear_on_failure,
            two_way: f.arrow.dir == Direction::Both,
            truncate: if mods.truncate { dst_max } else { None },
        })
    }

    /// The value of a field without `via` or `using`: literals are resolved against the
    /// destination type; expressions must fit it.
    #[allow(clippy::too_many_arguments)] // the field's whole context is needed to label errors
    fn plain_value(
        &mut self,
        file: FileId,
        f: &FieldMap,
        src_e: &ast::Expr,
        src: &Typed,
        dst_ty: &Ty,
        target: &str,
        src_side: Side,
    ) -> Option<plan::Expr> {
        if let ast::ExprKind::Lit(lit) = &src_e.kind {
            let l = self.coerce_literal(file, lit, src_e.span, dst_ty, &format!("`{target}`"))?;
            return Some(plan::Expr::Lit(l));
        }
        if f.arrow.dir == Direction::Both {
            let (l, r) = match src_side {
                Side::Left => (&src.ty, dst_ty),
                Side::Right => (dst_ty, &src.ty),
            };
            if !(round_trips(l, r) || l.is_key() && r.is_key()) {
                // Both passes of a two-way field see the same pair of types: the left-to-right
                // pass reports, the other only stops, so the mismatch is not reported as E0301.
                if src_side == Side::Left {
                    self.push(
                        Diagnostic::new(Code::E0304, file, f.arrow.span, format!("`{l}` and `{r}` do not round-trip unchanged"))
                            .label("two-way here")
                            .with(file, f.left.span, format!("this is `{l}`"))
                            .with(file, f.right.span, format!("this is `{r}`"))
                            .help("map the field one way, or translate it with an invertible value map (`using { … }`)"),
                    );
                }
                return None;
            }
        }
        if src.ty.is_key() && matches!(dst_ty, Ty::Lookup(_)) && src_e.as_column().is_some() {
            self.push(
                Diagnostic::new(Code::E0308, file, f.span, format!("a key cannot be copied into lookup `{target}` as is"))
                    .label("keys differ between systems")
                    .help("translate it through the couplings of the table mapping it refers to: `… via TABLE`"),
            );
            return None;
        }
        if !assignable(&src.ty, dst_ty) {
            let help = match (&src.ty, dst_ty) {
                (Ty::Option(_), Ty::String { .. }) => "use `label(…)` for the label, or a value map".to_string(),
                (Ty::String { .. }, Ty::Option(_)) => "translate text to choices with a value map: `using { \"A\" => \"Label\", _ => … }`".to_string(),
                (Ty::Decimal, Ty::Int) => "round it first: `to_int(round(x, 0))`".to_string(),
                (t, Ty::String { .. }) if !t.is_textual() => "convert it with `to_string(…)`".to_string(),
                _ => format!("convert the value to `{dst_ty}`"),
            };
            self.push(
                Diagnostic::new(
                    Code::E0301,
                    file,
                    src_e.span,
                    format!("expected `{dst_ty}`, found `{}`", src.ty),
                )
                .label(format!("this is `{}`", src.ty))
                .with(file, f.span, format!("written to `{target}`"))
                .help(help),
            );
            return None;
        }
        Some(src.expr.clone())
    }

    fn truncation(&mut self, file: FileId, src_e: &ast::Expr, src: &Ty, dst: &Ty, target: &str) {
        let (Some(s), Some(d)) = (src.max_len(), dst.max_len()) else {
            return;
        };
        if !matches!(dst, Ty::String { .. }) || s <= d {
            return;
        }
        let what = src_e
            .as_column()
            .map_or("values".to_string(), |c| format!("`{c}`"));
        self.push(
            Diagnostic::new(
                Code::W0001,
                file,
                src_e.span,
                format!("{what} may hold {s} characters but `{target}` holds {d}"),
            )
            .label("may be truncated")
            .help(format!(
                "cut it explicitly with `left(…, {d})`, or add `[truncate]` to accept the cut"
            )),
        );
    }

    fn note_write(
        &mut self,
        file: FileId,
        written: &mut Written,
        dst: Side,
        op: &plan::FieldOp,
        span: Span,
    ) {
        let entry = written.entry((dst, op.target.clone())).or_default();
        let clash = entry
            .iter()
            .find(|(p, _)| *p == Phase::Always || op.phase == Phase::Always || *p == op.phase);
        if let Some((_, first)) = clash {
            if *first != span {
                self.push(
                    Diagnostic::new(
                        Code::E0306,
                        file,
                        span,
                        format!("`{}` is written by two field mappings", op.target),
                    )
                    .label("written again here")
                    .with(file, *first, "first written here")
                    .help("keep one, or split them with `[create only]` and `[update only]`"),
                );
                return;
            }
        }
        entry.push((op.phase, span));
    }

    fn required_on_create(
        &mut self,
        file: FileId,
        t: &ast::Table,
        sides: &Sides<'p>,
        create: &[Side],
        ltr: &[plan::FieldOp],
        rtl: &[plan::FieldOp],
    ) {
        for &side in create {
            let Some(table) = sides.table(side) else {
                continue;
            };
            let ops = if side == Side::Right { ltr } else { rtl };
            for col in &table.columns {
                if !col.required_on_create || col.read_only || col.name == table.key {
                    continue;
                }
                let set = ops
                    .iter()
                    .any(|o| o.target == col.name && o.phase != Phase::Update);
                if !set {
                    self.push(
                        Diagnostic::new(
                            Code::W0004,
                            file,
                            t.name.span,
                            format!("`{}` of `{}.{}` is required to create a row, but no field mapping sets it", col.name, sides.system(side), table.name),
                        )
                        .label("creates rows without it")
                        .help(format!("map a value to it, e.g. `… -> {} [create only]`, or stop creating rows there with `create:`", col.name)),
                    );
                }
            }
        }
    }

    /// Compiles `via table[.column]` for one direction.
    #[allow(clippy::too_many_arguments)] // the field's whole context is needed to label errors
    fn lookup(
        &mut self,
        file: FileId,
        this: &ast::Table,
        sides: &Sides<'p>,
        src: Side,
        dst: Side,
        value: &Typed,
        dst_ty: &Ty,
        target: &str,
        via: &ast::Ident,
        column: Option<&ast::Ident>,
        span: Span,
    ) -> Option<plan::Expr> {
        let idx = self.resolve_table_name(file, via)?;
        self.add_dependency(&this.name.name, &via.name, file, via.span);
        if self.broken_tables.contains(&via.name) {
            return None;
        }
        let other = self.tables[idx].node;
        let (src_sys, dst_sys) = (sides.system(src), sides.system(dst));
        let side_of = |sys: &str, fallback: Side| {
            let (l, r) = (&other.left.system.name, &other.right.system.name);
            if l == r {
                (l == sys).then_some(fallback)
            } else if l == sys {
                Some(Side::Left)
            } else if r == sys {
                Some(Side::Right)
            } else {
                None
            }
        };
        let (Some(v_src), Some(v_dst)) = (side_of(src_sys, src), side_of(dst_sys, dst)) else {
            self.push(
                Diagnostic::new(
                    Code::E0308,
                    file,
                    via.span,
                    format!(
                        "`{}` pairs `{}` with `{}`, not `{src_sys}` with `{dst_sys}`",
                        via.name, other.left.system.name, other.right.system.name
                    ),
                )
                .label("couples other systems")
                .help("look up through a table mapping between the same two systems"),
            );
            return None;
        };
        let v_tables = |s: Side| match s {
            Side::Left => (&other.left.system.name, &other.left.table.name),
            Side::Right => (&other.right.system.name, &other.right.table.name),
        };
        let (vs_sys, vs_table) = v_tables(v_src);
        let (vd_sys, vd_table) = v_tables(v_dst);
        let vs = self.schema_table(vs_sys, vs_table)?;
        let vd = self.schema_table(vd_sys, vd_table)?;
        for (ty, tbl, what) in [(&value.ty, vs, "value"), (dst_ty, vd, "destination")] {
            if let Ty::Lookup(targets) = ty {
                if !targets.iter().any(|x| x == &tbl.name) {
                    self.push(
                        Diagnostic::new(
                            Code::E0308,
                            file,
                            span,
                            format!("the {what} refers to `{}`, but `{}` couples `{}`", targets.join("`/`"), via.name, tbl.name),
                        )
                        .label("wrong table mapping")
                        .help("look up through the table mapping that couples the table the lookup refers to"),
                    );
                    return None;
                }
            }
        }
        if matches!(value.ty, Ty::Unknown) || matches!(dst_ty, Ty::Unknown) {
            return None; // an error about one of the ends is already reported
        }
        let (src_key, dst_key) = (
            value.ty.is_key() || value.ty.is_lenient(),
            dst_ty.is_key() || dst_ty.is_lenient(),
        );
        let (by, take) = match (src_key, dst_key, column) {
            (true, true, None) => (None, None),
            (true, true, Some(c)) => {
                self.push(
                    Diagnostic::new(
                        Code::E0308,
                        file,
                        c.span,
                        "both ends are keys: the column is not needed",
                    )
                    .label("not needed")
                    .help(format!("write `via {}`", via.name)),
                );
                return None;
            }
            (false, true, Some(c)) => {
                let cty = self.via_column(file, c, vs_sys, vs)?;
                if !super::types::comparable(&value.ty, &cty) {
                    self.push(
                        Diagnostic::new(
                            Code::E0301,
                            file,
                            c.span,
                            format!("`{}` is `{cty}`, the value is `{}`", c.name, value.ty),
                        )
                        .label("cannot hold the value looked up")
                        .help("look up by a column of the same type"),
                    );
                    return None;
                }
                (Some(c.name.clone()), None)
            }
            (true, false, Some(c)) => {
                let cty = self.via_column(file, c, vd_sys, vd)?;
                if !assignable(&cty, dst_ty) {
                    self.push(
                        Diagnostic::new(
                            Code::E0301,
                            file,
                            c.span,
                            format!("`{}` is `{cty}`, but `{target}` is `{dst_ty}`", c.name),
                        )
                        .label("does not fit the destination")
                        .help("take a column of the destination's type"),
                    );
                    return None;
                }
                (None, Some(c.name.clone()))
            }
            (s, d, None) if s != d => {
                let (plain, tname) = if s {
                    (target.to_string(), vd.name.clone())
                } else {
                    ("the value".to_string(), vs.name.clone())
                };
                self.push(
                    Diagnostic::new(
                        Code::E0308,
                        file,
                        span,
                        format!("{plain} is not a key of `{tname}`: say which column it matches"),
                    )
                    .label("needs a column")
                    .help(format!(
                        "write `via {}.COLUMN`, e.g. the code column of `{tname}`",
                        via.name
                    )),
                );
                return None;
            }
            _ => {
                self.push(
                    Diagnostic::new(
                        Code::E0308,
                        file,
                        span,
                        "a lookup translates keys, but neither end is a key",
                    )
                    .label("nothing to translate")
                    .help("map the value directly, without `via`"),
                );
                return None;
            }
        };
        Some(plan::Expr::Lookup(Box::new(plan::Lookup {
            via: via.name.clone(),
            from: v_src,
            by,
            take,
            arg: value.expr.clone(),
        })))
    }

    fn via_column(
        &mut self,
        file: FileId,
        c: &ast::Ident,
        sys: &'p str,
        table: &'p crate::schema::TableSchema,
    ) -> Option<Ty> {
        let scope = Scope::Table {
            system: sys,
            table,
            other: None,
        };
        let e = ast::Expr {
            kind: ast::ExprKind::Column(c.name.clone()),
            span: c.span,
        };
        let typed = self.expr(file, &e, &scope);
        (!matches!(typed.ty, Ty::Unknown)).then_some(typed.ty)
    }
}

/// Where and how a value map is used.
#[derive(Clone, Copy)]
struct MapUse {
    file: FileId,
    site: Span,
    two_way: bool,
    invert: bool,
}

impl Checker<'_> {
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
    ) -> Option<plan::Expr> {
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
        let mut arms: Vec<(Literal, Literal)> = Vec::new();
        let mut default = None;
        let mut ok = true;
        let mut seen: Vec<(Literal, Span)> = Vec::new();
        for arm in &body.arms {
            let (pat_ty, val_ty) = (&src.ty, dst_ty);
            let what_src = "the value mapped".to_string();
            let what_dst = format!("`{target}`");
            let (pat_lit, val_lit) = if u.invert {
                (Some(&arm.value), arm.pattern.as_ref())
            } else {
                (arm.pattern.as_ref(), Some(&arm.value))
            };
            let Some(val_lit) = val_lit else {
                // The default arm has no partner to map back to; invertibility is reported once.
                continue;
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
                    if let Some((_, first)) = seen.iter().find(|(l, _)| *l == p) {
                        if !u.invert {
                            self.push(
                                Diagnostic::new(
                                    Code::E0311,
                                    map_file,
                                    span,
                                    "this pattern appears twice in the value map",
                                )
                                .label("never reached")
                                .with(map_file, *first, "first here")
                                .help("remove the repeated arm"),
                            );
                        } else {
                            self.push(
                                Diagnostic::new(
                                    Code::E0304,
                                    u.file,
                                    u.site,
                                    format!(
                                        "the value map is not invertible: two arms give `{}`",
                                        show(&p)
                                    ),
                                )
                                .label("used two ways here")
                                .with(map_file, span, "this value is given twice")
                                .help("give each value its own partner, or map the field one way"),
                            );
                        }
                        ok = false;
                        continue;
                    }
                    seen.push((p.clone(), span));
                    arms.push((p, v));
                }
                (Some(None), Some(v)) => default = Some(v),
                _ => ok = false,
            }
        }
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
            ok = false;
        }
        if !ok {
            return None;
        }
        if default.is_none() {
            self.coverage(u, &src.ty, &arms);
        }
        Some(plan::Expr::Map {
            arg: Box::new(src.expr.clone()),
            arms,
            default,
            ignore_case: false,
        })
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
