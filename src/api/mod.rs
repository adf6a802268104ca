//! Server functions: the only data path from the UI. Each is thin: resolve
//! who is asking, call the storage or domain layer, return a safe error.

pub mod runs;
pub mod tenants;
