//! The run engine: starts operations idempotently, executes them on workers
//! that claim runs from Postgres, and records every lifecycle change.
//!
//! Public surface: [`queue::start`], [`queue::cancel`], [`queue::retry_failed`]
//! and [`worker::WorkerPool`]. Operations implement [`operation::Operation`].
//! Every status change and what goes with it is written by [`lifecycle`].

pub mod canonical;
pub mod drift;
pub mod failures;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod operation;
pub mod operations;
pub mod queue;
pub mod sanitize;
pub mod worker;

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod tests;

pub use queue::{cancel, retry_failed, start, Cancelled, StartRequest, Started};
pub use worker::{WorkerConfig, WorkerPool};
