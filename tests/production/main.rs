//! Running syncmap in production: the scheduler with its logs and metrics, the HTML report, and
//! `doctor` with the CI workflow — each through the real binary, against the sandboxes where a
//! system is needed. One test binary; one module per concern.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod doctor;
mod events;
mod report;
mod schedule;
mod stores;
