//! Deterministic hashing of JSON values, the basis of idempotency keys,
//! selection hashes and finding fingerprints.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Canonical text of a JSON value: object keys sorted (serde_json's map is
/// ordered), no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    value.to_string()
}

/// Hex SHA-256 of the given parts, separated so that ("ab","c") != ("a","bc").
pub fn hash_parts<I, S>(parts: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut hasher = Sha256::new();
    for part in parts {
        let part = part.as_ref();
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Hex SHA-256 of a JSON value's canonical text.
pub fn hash_json(value: &Value) -> String {
    hash_parts([canonical_json(value)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": [1, 2], "b": 1}"#).unwrap();
        assert_eq!(hash_json(&a), hash_json(&b));
        assert_ne!(hash_json(&a), hash_json(&json!({"a": [2, 1], "b": 1})));
    }

    #[test]
    fn part_boundaries_matter() {
        assert_ne!(hash_parts(["ab", "c"]), hash_parts(["a", "bc"]));
        assert_eq!(hash_parts(["x"]).len(), 64);
    }
}

/// The active-run idempotency key of an operation: stable for a tenant, an
/// operation (`resource.action`) and a canonical scope.
pub fn idempotency_key(tenant_id: i64, operation: &str, scope: &Value) -> String {
    let digest = hash_parts([
        tenant_id.to_string().as_str(),
        operation,
        &canonical_json(scope),
    ]);
    format!("{operation}:{}", &digest[..40])
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn idempotency_keys_depend_on_tenant_operation_and_scope_only() {
        let scope = json!({"scope_key": "s", "baseline_run_id": 1, "current_run_id": 2});
        let k = idempotency_key(1, "drift.generate", &scope);
        assert!(k.starts_with("drift.generate:"));
        assert_eq!(k, idempotency_key(1, "drift.generate", &scope.clone()));
        assert_ne!(k, idempotency_key(2, "drift.generate", &scope));
        assert_ne!(k, idempotency_key(1, "backup_set.add_policies", &scope));
        assert_ne!(
            k,
            idempotency_key(1, "drift.generate", &json!({"scope_key": "t"}))
        );
    }
}
