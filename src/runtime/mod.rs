//! Evaluates compiled plan expressions and filters over rows. Pure, so `syncmap test` and the
//! runtime share it and agree.

mod builtins;
pub mod engine;
pub mod eval;
pub mod shape;
pub mod systems;
