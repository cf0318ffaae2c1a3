//! Runs plans: [`eval`] computes field values and filters over one row (pure, so `syncmap test`
//! and runs share it and agree), [`shape`] fits a value to its destination column, [`systems`]
//! opens a connector per system, and [`engine`] runs full, modified-only, one-table and
//! one-record syncs against them, keeping the state store.

mod builtins;
pub mod engine;
mod error;
pub mod eval;
pub mod shape;
pub mod systems;
