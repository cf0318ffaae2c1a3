//! Stage 4: the compiled, versioned, serializable plan, built from the checked model.

mod model;

pub use model::*;
