//! syncmap compiles `.map` files into plans that keep two business systems in step.

pub mod diagnostics;
pub mod functions;
pub mod plan;
pub mod schema;
pub mod source;
pub mod syntax;
