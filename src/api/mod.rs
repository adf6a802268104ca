//! Server functions: the only data path from the UI. Each is thin: take the
//! signed-in actor (tenant, user, role) from the session, call the storage or
//! domain layer, return a safe error.

pub mod backup_sets;
pub mod findings;
pub mod notifications;
pub mod operations;
pub mod overview;
pub mod runs;
pub mod session;

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod fuzz_tests;
