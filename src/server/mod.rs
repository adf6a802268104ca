//! The web server: configuration, shared state, routes, and request context.

pub mod context;
pub mod http;
pub mod metrics;
pub mod password;
pub mod state;
pub mod telemetry;

#[cfg(test)]
mod http_tests;
