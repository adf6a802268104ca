//! The run engine's domain logic. Operations build on these pieces.

pub mod canonical;
pub mod drift;
pub mod notify;
