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

/// Whether any key or string of `value` holds a NUL character (`\u0000`),
/// which Postgres cannot store in text or jsonb: such input is refused
/// before anything is written.
pub fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod nul_tests {
    use super::holds_nul;
    use serde_json::json;

    #[test]
    fn nul_characters_are_found_in_keys_and_strings_at_any_depth() {
        assert!(!holds_nul(&json!({"a": ["b", 1, null, {"c": "d"}]})));
        assert!(holds_nul(&json!("a\u{0}")));
        assert!(holds_nul(&json!({"a": [{"b": "\u{0}"}]})));
        assert!(holds_nul(&json!({"k\u{0}": 1})));
    }
}
