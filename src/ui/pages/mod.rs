pub mod findings;
pub mod not_found;
pub mod notifications;
pub mod run_detail;
pub mod runs;
pub mod sign_in;
pub mod start;
