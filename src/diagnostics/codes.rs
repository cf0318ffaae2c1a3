//! The registry of diagnostic codes. A shipped code never changes meaning; retired codes stay
//! listed so they are not reused. Each code's page lives in `docs/diagnostics/CODE.md` and is
//! compiled in, so `syncmap explain` works without the repository.

use std::fmt;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The project cannot be compiled.
    Error,
    /// The project compiles, but something is probably wrong.
    Warning,
}

macro_rules! codes {
    ($($code:ident, $sev:ident, $title:literal;)*) => {
        /// A stable diagnostic code (`E01xx` syntax, `E02xx` names, `E03xx` types and mappings,
        /// `E05xx` evaluation, `E06xx` drift between a snapshot and the live system, `E07xx` plan
        /// files, `W0xxx` warnings).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $(
            #[doc = $title]
            $code,
        )* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            /// The code as printed, e.g. `E0203`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code),)* }
            }

            /// Whether diagnostics with this code are errors or warnings.
            pub fn severity(self) -> Severity {
                match self { $(Code::$code => Severity::$sev,)* }
            }

            /// A one-line summary of what the code means.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title,)* }
            }

            /// The explanation page: meaning, a failing example and the fix.
            pub fn page(self) -> &'static str {
                match self { $(Code::$code => include_str!(concat!("../../docs/diagnostics/", stringify!($code), ".md")),)* }
            }
        }
    };
}

codes! {
    E0101, Error, "syntax error";
    E0102, Error, "invalid escape in a string";
    E0103, Error, "number out of range";
    E0104, Error, "invalid date, time or duration";
    E0105, Error, "clause given more than once";
    E0106, Error, "nested too deeply";
    E0107, Error, "unterminated string";
    E0108, Error, "unbalanced brackets";
    E0201, Error, "unknown system";
    E0202, Error, "unknown table";
    E0203, Error, "unknown column";
    E0204, Error, "unknown function";
    E0205, Error, "unknown table mapping";
    E0206, Error, "unknown value map";
    E0207, Error, "name defined twice";
    E0208, Error, "imported file cannot be read";
    E0209, Error, "schema cannot be loaded";
    E0210, Error, "unknown option label or enum member";
    E0211, Error, "unknown system kind";
    E0212, Error, "system is not a side of this table mapping";
    E0213, Error, "unknown type";
    E0214, Error, "invalid system setting";
    E0215, Error, "path leads outside the project";
    E0301, Error, "type mismatch";
    E0302, Error, "wrong number of arguments";
    E0303, Error, "field direction disagrees with the table";
    E0304, Error, "two-way field does not round-trip";
    E0305, Error, "write to a read-only column";
    E0306, Error, "column written by two field mappings";
    E0307, Error, "the destination of a field mapping must be a column";
    E0308, Error, "lookup does not fit the table mapping it goes through";
    E0309, Error, "dependency cycle between table mappings";
    E0310, Error, "modifiers that contradict each other";
    E0311, Error, "invalid value map";
    E0312, Error, "invalid match rule";
    E0313, Error, "recursive function";
    E0314, Error, "modifier not allowed here";
    E0315, Error, "invalid test";
    E0316, Error, "invalid option mapping";
    E0501, Error, "test expectation not met";
    E0601, Error, "table missing in the live system";
    E0602, Error, "column missing in the live system";
    E0603, Error, "column type differs in the live system";
    E0604, Error, "column written by the plan is read-only in the live system";
    E0701, Error, "plan changed after it was compiled";
    W0001, Warning, "value may be truncated";
    W0002, Warning, "value map does not cover every value";
    W0003, Warning, "setting has no effect";
    W0004, Warning, "required column never set on create";
    W0005, Warning, "unused definition";
    W0006, Warning, "value may not fit a decimal column";
    W0601, Warning, "maximum length is shorter in the live system";
    W0602, Warning, "option value, enum member or lookup target missing in the live system";
}

impl Code {
    /// Finds a code by its printed form, ignoring case.
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syncmap::{}", self.as_str())
    }
}
