//! The web server: configuration, shared state, routes, and request context.

pub use application::{Application, HubConfig};

pub mod application;
pub mod assets;
pub mod auth;
pub mod client_addr;
pub mod context;
pub mod exports;
pub mod http;
pub mod live;
pub mod metrics;
pub mod password;
pub mod security;
pub mod shutdown;
pub mod state;
pub mod telemetry;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod failures_tests;
#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod restart_tests;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod shutdown_tests;
#[cfg(any(test, feature = "bench"))]
pub mod test_client;
#[cfg(test)]
mod wire_tests;
