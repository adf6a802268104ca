//! `opshub bench`: measurements on a real Postgres, each printed as a
//! Markdown table.
//!
//! - `engine`: the run engine's throughput (tiny runs, one large run)
//! - `hub`: the hub's read paths over HTTP against a million runs

mod engine;
mod hub;

pub use engine::{run_engine, EngineBench};
pub use hub::{run_hub, HubBench};

/// A short random tag that names the tenants and users of one benchmark, so
/// it can run next to any other data.
fn new_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}
