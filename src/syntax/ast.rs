//! The unchecked syntax tree of one `.map` file. Every node carries the byte span it came from,
//! so later stages can point diagnostics at the exact text; nothing here knows about schemas.

use std::fmt;

pub use crate::source::Span;

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name without backticks.
    pub name: String,
    /// Where it stands.
    pub span: Span,
}

/// A string literal after escape processing.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    /// The decoded text.
    pub value: String,
    /// The span of the literal, quotes included.
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `import "…"`.
    Import(Import),
    /// `system name: kind { … }`.
    System(System),
    /// `table name: a.t -> b.u { … }`.
    Table(Table),
    /// `map name { … }`.
    ValueMap(ValueMap),
    /// `fn name(…) { … }`.
    Function(Function),
    /// `job name { … }`.
    Job(Job),
    /// `test table { … }`.
    Test(Test),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::System(i) => i.span,
            Item::Table(i) => i.span,
            Item::ValueMap(i) => i.span,
            Item::Function(i) => i.span,
            Item::Job(i) => i.span,
            Item::Test(i) => i.span,
        }
    }
}

/// `import "path.map"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The path, relative to the importing file.
    pub path: StrLit,
    /// The whole item.
    pub span: Span,
}

/// `system bc: business_central { schema = "…" }`.
#[derive(Debug, Clone, PartialEq)]
pub struct System {
    /// The alias used in table mappings.
    pub name: Ident,
    /// The system kind (`business_central`, `dataverse`, `odata`, `sqlite`, …).
    pub kind: Ident,
    /// `key = "value"` settings.
    pub settings: Vec<Setting>,
    /// The whole item.
    pub span: Span,
}

/// One `key = "value"` of a system.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The setting name.
    pub key: Ident,
    /// Its value.
    pub value: StrLit,
    /// The whole setting.
    pub span: Span,
}

/// Which way records or values flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `<->`
    Both,
    /// `->`
    ToRight,
    /// `<-`
    ToLeft,
}

impl Direction {
    /// The arrow as written.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Both => "<->",
            Direction::ToRight => "->",
            Direction::ToLeft => "<-",
        }
    }
}

/// A direction arrow and where it stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrow {
    /// Which arrow.
    pub dir: Direction,
    /// Its span.
    pub span: Span,
}

/// `system.table`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRef {
    /// The system alias.
    pub system: Ident,
    /// The table (entity set) name in that system's schema.
    pub table: Ident,
    /// Both parts.
    pub span: Span,
}

/// A table mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its name, used by `after`, `via`, jobs and tests.
    pub name: Ident,
    /// The left side.
    pub left: TableRef,
    /// The flow of records.
    pub arrow: Arrow,
    /// The right side.
    pub right: TableRef,
    /// Body items in source order.
    pub items: Vec<TableItem>,
    /// The whole item.
    pub span: Span,
}

/// One item of a table mapping body.
#[derive(Debug, Clone, PartialEq)]
pub enum TableItem {
    /// `filter side: expr`.
    Filter(Filter),
    /// `match a == b …`.
    Match(MatchRule),
    /// `create: …`.
    Create(Create),
    /// `on conflict: …`.
    OnConflict(OnConflict),
    /// `on delete: …`.
    OnDelete(OnDelete),
    /// `only coupled: …`.
    OnlyCoupled(OnlyCoupled),
    /// `after …`.
    After(After),
    /// A field mapping.
    Field(FieldMap),
}

impl TableItem {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            TableItem::Filter(i) => i.span,
            TableItem::Match(i) => i.span,
            TableItem::Create(i) => i.span,
            TableItem::OnConflict(i) => i.span,
            TableItem::OnDelete(i) => i.span,
            TableItem::OnlyCoupled(i) => i.span,
            TableItem::After(i) => i.span,
            TableItem::Field(i) => i.span,
        }
    }
}

/// `filter side: expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The system alias of the side filtered.
    pub side: Ident,
    /// A boolean expression over that side's columns.
    pub expr: Expr,
    /// The whole item.
    pub span: Span,
}

/// `match a == b and c == d [case sensitive]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRule {
    /// Column pairs that must all be equal.
    pub terms: Vec<MatchTerm>,
    /// Modifiers (only `case sensitive` is meaningful).
    pub modifiers: Vec<Modifier>,
    /// The whole item.
    pub span: Span,
}

/// `left_column == right_column`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchTerm {
    /// A column of the left table.
    pub left: Ident,
    /// A column of the right table.
    pub right: Ident,
    /// The term.
    pub span: Span,
}

/// `create: right` — sides given by system alias, or `none`.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    /// System aliases (or `none`, `left`, `right`).
    pub sides: Vec<Ident>,
    /// The whole item.
    pub span: Span,
}

/// What wins when both sides changed.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictRule {
    /// `prefer side`.
    Prefer(Ident),
    /// `newest`: the side modified last.
    Newest,
    /// `fail`: log the record as failed and retry later.
    Fail,
}

/// `on conflict: rule`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnConflict {
    /// The rule.
    pub rule: ConflictRule,
    /// The whole item.
    pub span: Span,
}

/// What happens when a coupled partner row is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRule {
    /// Drop the coupling.
    Uncouple,
    /// Re-create the partner and re-couple.
    Restore,
    /// Delete the surviving row too.
    Propagate,
    /// Log the record as failed.
    Fail,
}

impl DeleteRule {
    /// The keyword as written.
    pub fn keyword(self) -> &'static str {
        match self {
            DeleteRule::Uncouple => "uncouple",
            DeleteRule::Restore => "restore",
            DeleteRule::Propagate => "propagate",
            DeleteRule::Fail => "fail",
        }
    }
}

/// `on delete: rule`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnDelete {
    /// The rule.
    pub rule: DeleteRule,
    /// The whole item.
    pub span: Span,
}

/// `only coupled: bool`.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlyCoupled {
    /// The flag.
    pub value: bool,
    /// The whole item.
    pub span: Span,
}

/// `after a, b`.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// Table mapping names.
    pub tables: Vec<Ident>,
    /// The whole item.
    pub span: Span,
}

/// A field mapping: `left arrow right [transform] [modifiers]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    /// The left side: a left column, or an expression over left columns.
    pub left: Expr,
    /// The flow.
    pub arrow: Arrow,
    /// The right side: a right column, or an expression over right columns.
    pub right: Expr,
    /// `via …` or `using …`.
    pub transform: Option<Transform>,
    /// `[…]`.
    pub modifiers: Vec<Modifier>,
    /// `[on conflict: …]`: what wins this field when both sides changed it, over the table's
    /// rule.
    pub on_conflict: Option<OnConflict>,
    /// The whole item.
    pub span: Span,
}

/// How a field's value is carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// `via table` or `via table.column`.
    Via {
        /// The table mapping whose couplings translate the key.
        table: Ident,
        /// The column of the source-side table the value matches (its key when absent).
        column: Option<Ident>,
        /// The whole transform.
        span: Span,
    },
    /// `using name`.
    UsingMap(Ident),
    /// `using { … }`.
    UsingInline(MapBody),
}

/// A field or match modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModifierKind {
    /// `create only`
    CreateOnly,
    /// `update only`
    UpdateOnly,
    /// `clear on failure`
    ClearOnFailure,
    /// `not null`
    NotNull,
    /// `truncate`
    Truncate,
    /// `case sensitive`
    CaseSensitive,
    /// `on conflict: …`, whose rule is the field mapping's [`FieldMap::on_conflict`].
    OnConflict,
}

impl ModifierKind {
    /// The modifier as written.
    pub fn text(self) -> &'static str {
        match self {
            ModifierKind::CreateOnly => "create only",
            ModifierKind::UpdateOnly => "update only",
            ModifierKind::ClearOnFailure => "clear on failure",
            ModifierKind::NotNull => "not null",
            ModifierKind::Truncate => "truncate",
            ModifierKind::CaseSensitive => "case sensitive",
            ModifierKind::OnConflict => "on conflict",
        }
    }
}

/// A modifier and its span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Modifier {
    /// Which modifier.
    pub kind: ModifierKind,
    /// Where it stands.
    pub span: Span,
}

/// `map name { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueMap {
    /// The name used by `using`.
    pub name: Ident,
    /// The arms.
    pub body: MapBody,
    /// The whole item.
    pub span: Span,
}

/// The arms of a value map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapBody {
    /// In source order.
    pub arms: Vec<MapArm>,
    /// The braces and everything between.
    pub span: Span,
}

/// `pattern => value`.
#[derive(Debug, Clone, PartialEq)]
pub struct MapArm {
    /// `None` for the default arm `_`.
    pub pattern: Option<Literal>,
    /// The value produced.
    pub value: Literal,
    /// The whole arm.
    pub span: Span,
}

/// `fn name(params) -> type { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// The function name.
    pub name: Ident,
    /// Typed parameters.
    pub params: Vec<Param>,
    /// The declared result type, if given.
    pub ret: Option<Ident>,
    /// The body.
    pub body: Expr,
    /// The whole item.
    pub span: Span,
}

/// `name: type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The parameter name.
    pub name: Ident,
    /// Its type name.
    pub ty: Ident,
}

/// Full or modified-only synchronization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Every row passing the filters.
    Full,
    /// Rows changed since the last run.
    Modified,
}

/// A duration in seconds, with its span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationLit {
    /// Seconds.
    pub seconds: u64,
    /// Where it stands.
    pub span: Span,
}

/// A time of day in minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeOfDay {
    /// Minutes after midnight, `0..1440`.
    pub minutes: u32,
    /// Where it stands.
    pub span: Span,
}

/// `job name { sync … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job name.
    pub name: Ident,
    /// Full or modified.
    pub mode: SyncMode,
    /// Table mappings to run; all when empty.
    pub tables: Vec<Ident>,
    /// `every`.
    pub every: Option<DurationLit>,
    /// `idle`.
    pub idle: Option<DurationLit>,
    /// `at`.
    pub at: Option<TimeOfDay>,
    /// The whole item.
    pub span: Span,
}

/// `test table "description" { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    /// The table mapping under test.
    pub table: Ident,
    /// An optional description.
    pub description: Option<StrLit>,
    /// Steps in source order.
    pub steps: Vec<TestStep>,
    /// The whole item.
    pub span: Span,
}

/// One step of a test.
#[derive(Debug, Clone, PartialEq)]
pub enum TestStep {
    /// `given side { … }`.
    Given {
        /// The source side (a system alias).
        side: Ident,
        /// The source record.
        record: Record,
        /// The step.
        span: Span,
    },
    /// `couple table left <-> right`.
    Couple {
        /// The table mapping whose coupling is assumed.
        table: Ident,
        /// The left-side lookup value.
        left: Literal,
        /// The right-side lookup value.
        right: Literal,
        /// The step.
        span: Span,
    },
    /// `expect …`.
    Expect {
        /// What is expected.
        expect: Expectation,
        /// The step.
        span: Span,
    },
}

/// What a test expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The given record does not pass the source filter.
    Filtered,
    /// Transforming the record fails.
    Fails,
    /// These fields are written on the destination.
    Record {
        /// The destination side.
        side: Ident,
        /// Evaluate as an update instead of a create.
        on_update: bool,
        /// The expected fields.
        record: Record,
    },
}

/// `{ name: literal, … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Fields in source order.
    pub fields: Vec<(Ident, Literal)>,
    /// The braces and everything between.
    pub span: Span,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// The value.
    pub kind: LitKind,
    /// Where it stands.
    pub span: Span,
}

/// The value of a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum LitKind {
    /// `"text"`.
    String(String),
    /// `42`.
    Int(i64),
    /// `3.14`, kept as written so no precision is lost.
    Decimal(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `@2024-01-31`.
    Date(String),
    /// `@2024-01-31T08:00:00Z`.
    DateTime(String),
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it stands.
    pub span: Span,
}

/// The forms of expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Lit(LitKind),
    /// A column of the side in scope (or a function parameter).
    Column(String),
    /// `name(args)`.
    Call {
        /// The function name.
        name: Ident,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `-x`, `not x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Where the operator stands.
        op_span: Span,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `if c then a else b`.
    If {
        /// The condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value otherwise.
        otherwise: Box<Expr>,
    },
}

impl Expr {
    /// The column name when the expression is a bare column.
    pub fn as_column(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Column(c) => Some(c),
            _ => None,
        }
    }
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `not`
    Not,
}

/// Infix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `??`
    Coalesce,
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Coalesce => "??",
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength; higher binds tighter. `not` sits at 4, unary minus at 8.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Coalesce => 1,
            BinaryOp::Or => 2,
            BinaryOp::And => 3,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 5,
            BinaryOp::Add | BinaryOp::Sub => 6,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 7,
        }
    }

    /// Whether the operator groups to the right (`a ?? b ?? c` is `a ?? (b ?? c)`).
    pub fn right_assoc(self) -> bool {
        matches!(self, BinaryOp::Coalesce)
    }

    /// Whether the operator compares its operands.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 5
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}
