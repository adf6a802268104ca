//! What the start-operation forms offer.

use serde::{Deserialize, Serialize};

/// Largest upload an operation takes (an inventory snapshot), from the
/// import form, the command line or any other caller of the engine.
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOption {
    pub id: i64,
    /// e.g. "#4 · 2026-11-29 10:00 UTC · 7 items".
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeOption {
    pub scope_key: String,
    /// A readable name of the selection, when it has one.
    pub name: String,
    /// Completed syncs of the scope, newest first.
    pub syncs: Vec<SyncOption>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartOptions {
    pub scopes: Vec<ScopeOption>,
    pub backup_sets: Vec<(i64, String)>,
    /// (id, display name, type)
    pub policies: Vec<(i64, String, String)>,
}
