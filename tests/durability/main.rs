//! Durability: real `syncmap run` processes killed with SIGKILL at random moments, many times
//! over, then one run to the end that must leave both systems and the state store as if nothing
//! had been interrupted — between two SQLite systems (`sqlite`), and over HTTP against the
//! Business Central and Dataverse sandboxes, whose keys, echoes and lost answers the SQLite
//! stand-in does not have (`wire`).

// Test helpers may panic on broken fixtures: that is a test failure with a clear message.
#![allow(clippy::expect_used, clippy::unwrap_used)]
#![cfg(unix)]

#[path = "../support/mod.rs"]
mod support;

mod companies;
mod postgres;
mod sqlite;
mod windows;
mod wire;
mod workers;
