//! Stage 4: the compiled, versioned, serializable plan, built from the checked model.

mod build;
pub mod company;
pub mod diff;
pub mod display;
mod model;
pub mod odata;

pub use build::{build, digest, from_json, to_json, PlanError, SourceText};
pub use model::*;
