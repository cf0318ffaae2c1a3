//! Stage 4: the compiled, versioned, serializable plan, built from the checked model.

mod build;
pub mod diff;
pub mod display;
mod model;
pub mod odata;

pub use build::{build, to_json, SourceText};
pub use model::*;
