//! Literals: their types and plan form, and their resolution against the type they are written
//! to — option labels become values, enum members and GUIDs are checked.

use crate::check::types::{assignable, Ty};
use crate::check::Checker;
use crate::diagnostics::{suggestion_help, Code, Diagnostic};
use crate::model::Literal;
use crate::schema::OptionValue;
use crate::source::FileId;
use crate::syntax::ast::{LitKind, Span};

/// The plan form of a literal.
pub(crate) fn to_literal(l: &LitKind) -> Literal {
    match l {
        LitKind::String(s) => Literal::String(s.clone()),
        LitKind::Int(n) => Literal::Int(*n),
        LitKind::Decimal(d) => Literal::Decimal(d.clone()),
        LitKind::Bool(b) => Literal::Bool(*b),
        LitKind::Null => Literal::Null,
        LitKind::Date(d) => Literal::Date(d.clone()),
        LitKind::DateTime(d) => Literal::Datetime(normalize_datetime(d)),
    }
}

/// `2024-01-31T08:00+02:00` → `2024-01-31T06:00:00Z`, so plans compare equal.
fn normalize_datetime(text: &str) -> String {
    let with_seconds = if text.len() >= 16 && text.as_bytes().get(16) != Some(&b':') {
        format!("{}:00{}", &text[..16], &text[16..])
    } else {
        text.to_string()
    };
    with_seconds
        .parse::<jiff::Timestamp>()
        .map_or(text.to_string(), |t| t.to_string())
}

/// The type of a literal.
pub(crate) fn lit_ty(l: &LitKind) -> Ty {
    match l {
        LitKind::String(s) => Ty::String {
            max: Some(s.chars().count() as u32),
        },
        LitKind::Int(_) => Ty::Int,
        LitKind::Decimal(_) => Ty::Decimal,
        LitKind::Bool(_) => Ty::Bool,
        LitKind::Null => Ty::Null,
        LitKind::Date(_) => Ty::Date,
        LitKind::DateTime(_) => Ty::DateTime,
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lens == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    if v.len() > 12 {
        format!("{}, …", v[..12].join(", "))
    } else {
        v.join(", ")
    }
}

impl Checker<'_> {
    /// Converts a literal to a value for a column (or expression) of type `target`, resolving
    /// option labels and checking enum members. `what` names the target in messages.
    pub(crate) fn coerce_literal(
        &mut self,
        file: FileId,
        lit: &LitKind,
        span: Span,
        target: &Ty,
        what: &str,
    ) -> Option<Literal> {
        match (lit, target) {
            (LitKind::String(s), Ty::Option(opts)) => self.option_label(file, s, span, opts, what),
            (LitKind::Int(n), Ty::Option(opts)) => self.option_value(file, *n, span, opts, what),
            (LitKind::String(s), Ty::Enum(members)) => {
                self.enum_member(file, s, span, members, what)
            }
            (LitKind::String(s), Ty::Guid | Ty::Lookup(_)) => self.guid(file, s, span, what),
            (LitKind::Int(n), Ty::Decimal) => Some(Literal::Decimal(n.to_string())),
            (LitKind::Date(d), Ty::DateTime) => Some(Literal::Datetime(format!("{d}T00:00:00Z"))),
            (l, t) => self.assignable_literal(file, l, span, t, what),
        }
    }

    /// A label of an option set becomes its value; an exact match wins over one ignoring case.
    fn option_label(
        &mut self,
        file: FileId,
        s: &str,
        span: Span,
        opts: &[OptionValue],
        what: &str,
    ) -> Option<Literal> {
        let found = opts
            .iter()
            .find(|o| o.label == s)
            .or_else(|| opts.iter().find(|o| o.label.eq_ignore_ascii_case(s)));
        if let Some(o) = found {
            return Some(Literal::Int(o.value));
        }
        // Labels are written as strings, so they are shown quoted.
        let labels: Vec<&str> = opts.iter().map(|o| o.label.as_str()).collect();
        let help = suggestion_help(s, &labels, |l| format!("{l:?}")).map_or_else(
            || {
                format!(
                    "the labels are {}",
                    list(opts.iter().map(|o| format!("{:?}", o.label)))
                )
            },
            |(_, help)| help,
        );
        self.push_once(
            Diagnostic::new(
                Code::E0210,
                file,
                span,
                format!("`{s:?}` is not a label of the option set of {what}"),
            )
            .label("unknown label")
            .help(help),
        );
        None
    }

    /// A number written for an option set must be one of its values.
    fn option_value(
        &mut self,
        file: FileId,
        n: i64,
        span: Span,
        opts: &[OptionValue],
        what: &str,
    ) -> Option<Literal> {
        if opts.iter().any(|o| o.value == n) {
            return Some(Literal::Int(n));
        }
        self.push_once(
            Diagnostic::new(
                Code::E0210,
                file,
                span,
                format!("`{n}` is not a value of the option set of {what}"),
            )
            .label("unknown value")
            .help(format!(
                "the values are {}",
                list(opts.iter().map(|o| format!("{} ({})", o.value, o.label)))
            )),
        );
        None
    }

    /// A string written for an enum must be one of its members.
    fn enum_member(
        &mut self,
        file: FileId,
        s: &str,
        span: Span,
        members: &[String],
        what: &str,
    ) -> Option<Literal> {
        if members.iter().any(|m| m == s) {
            return Some(Literal::String(s.to_string()));
        }
        // Members are written as strings (one may be `" "`), so they are shown quoted.
        let names: Vec<&str> = members.iter().map(String::as_str).collect();
        let help = suggestion_help(s, &names, |m| format!("{m:?}")).map_or_else(
            || {
                let quoted = members.iter().map(|m| format!("{m:?}"));
                format!("the members are {}", list(quoted))
            },
            |(_, help)| help,
        );
        self.push_once(
            Diagnostic::new(
                Code::E0210,
                file,
                span,
                format!("`{s:?}` is not a member of the enum of {what}"),
            )
            .label("unknown member")
            .help(help),
        );
        None
    }

    /// A GUID, lower-cased so plans compare equal.
    fn guid(&mut self, file: FileId, s: &str, span: Span, what: &str) -> Option<Literal> {
        if is_guid(s) {
            return Some(Literal::String(s.to_lowercase()));
        }
        self.push(
            Diagnostic::new(Code::E0301, file, span, format!("`{s}` is not a GUID"))
                .label(format!("{what} holds GUIDs"))
                .help("write a GUID as `\"00000000-0000-0000-0000-000000000000\"`"),
        );
        None
    }

    /// Any other literal: taken as written when its type fits the target.
    fn assignable_literal(
        &mut self,
        file: FileId,
        l: &LitKind,
        span: Span,
        t: &Ty,
        what: &str,
    ) -> Option<Literal> {
        let from = lit_ty(l);
        if assignable(&from, t) {
            return Some(to_literal(l));
        }
        let help = match (l, t) {
            (LitKind::String(_), Ty::Date | Ty::DateTime) => {
                "write dates as `@2024-01-31` and date-times as `@2024-01-31T08:00:00Z`".to_string()
            }
            (_, Ty::String { .. }) => "write the value in quotes".to_string(),
            _ => format!("write a `{t}` value"),
        };
        self.push(
            Diagnostic::new(
                Code::E0301,
                file,
                span,
                format!("expected `{t}`, found `{from}`"),
            )
            .label(format!("{what} is `{t}`"))
            .help(help),
        );
        None
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn guids_are_recognised() {
        assert!(is_guid("6a1c0000-aaaa-bbbb-cccc-0123456789ab"));
        assert!(!is_guid("not-a-guid"));
    }

    #[test]
    fn datetimes_normalise_to_utc_with_seconds() {
        assert_eq!(
            normalize_datetime("2024-01-31T08:00+02:00"),
            "2024-01-31T06:00:00Z"
        );
        let _ = crate::check::expr::option_ty(&[(1, "A")]);
    }
}
