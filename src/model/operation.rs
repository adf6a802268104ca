//! The kinds of operation opshub runs, and each kind's scope (`item_ids`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An operation kind, named `resource.action` like the run's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationKind {
    InventorySync,
    DriftGenerate,
    BackupSetAddPolicies,
}

impl OperationKind {
    pub const ALL: [OperationKind; 3] = [
        OperationKind::InventorySync,
        OperationKind::DriftGenerate,
        OperationKind::BackupSetAddPolicies,
    ];

    pub fn resource(self) -> &'static str {
        match self {
            OperationKind::InventorySync => "inventory",
            OperationKind::DriftGenerate => "drift",
            OperationKind::BackupSetAddPolicies => "backup_set",
        }
    }

    pub fn action(self) -> &'static str {
        match self {
            OperationKind::InventorySync => "sync",
            OperationKind::DriftGenerate => "generate",
            OperationKind::BackupSetAddPolicies => "add_policies",
        }
    }

    /// `resource.action`, e.g. `drift.generate`.
    pub fn key(self) -> &'static str {
        match self {
            OperationKind::InventorySync => "inventory.sync",
            OperationKind::DriftGenerate => "drift.generate",
            OperationKind::BackupSetAddPolicies => "backup_set.add_policies",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OperationKind::InventorySync => "Inventory import",
            OperationKind::DriftGenerate => "Drift generation",
            OperationKind::BackupSetAddPolicies => "Add policies to backup set",
        }
    }

    pub fn parse(key: &str) -> Option<OperationKind> {
        OperationKind::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn from_parts(resource: &str, action: &str) -> Option<OperationKind> {
        OperationKind::ALL
            .into_iter()
            .find(|k| k.resource() == resource && k.action() == action)
    }
}

/// A label for any `resource.action`, including kinds this build does not know.
pub fn operation_label(resource: &str, action: &str) -> String {
    match OperationKind::from_parts(resource, action) {
        Some(kind) => kind.label().to_string(),
        None => format!("{resource}.{action}"),
    }
}

/// How many of a scope's item ids the run detail carries.
pub const SCOPE_IDS_SHOWN: usize = 50;

/// A run's scope, read from `item_ids` according to its kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RunScope {
    InventorySync {
        selection_hash: Option<String>,
        source: Option<String>,
        policy_count: Option<u64>,
    },
    DriftGenerate {
        scope_key: Option<String>,
        baseline_run_id: Option<i64>,
        current_run_id: Option<i64>,
    },
    BackupSetAddPolicies {
        backup_set_id: Option<i64>,
        backup_set_name: Option<String>,
        /// The first [`SCOPE_IDS_SHOWN`] policy ids of the scope.
        policy_ids: Vec<i64>,
        /// How many policies the scope names in all.
        policy_count: u64,
        include_assignments: bool,
    },
    /// A kind this build cannot render specially: shown as its keys.
    Other { keys: Vec<String> },
}

impl RunScope {
    /// Reads `item_ids` for the given kind. Missing or mistyped fields become
    /// `None` rather than errors: the page shows what is there.
    pub fn from_item_ids(kind: Option<OperationKind>, item_ids: &Value) -> RunScope {
        let str_of = |k: &str| item_ids.get(k).and_then(Value::as_str).map(str::to_string);
        let id_of = |k: &str| item_ids.get(k).and_then(json_id);
        match kind {
            Some(OperationKind::InventorySync) => RunScope::InventorySync {
                selection_hash: str_of("selection_hash"),
                source: str_of("source"),
                policy_count: item_ids.get("policy_count").and_then(Value::as_u64),
            },
            Some(OperationKind::DriftGenerate) => RunScope::DriftGenerate {
                scope_key: str_of("scope_key"),
                baseline_run_id: id_of("baseline_run_id"),
                current_run_id: id_of("current_run_id"),
            },
            Some(OperationKind::BackupSetAddPolicies) => RunScope::BackupSetAddPolicies {
                backup_set_id: id_of("backup_set_id"),
                backup_set_name: None,
                policy_ids: item_ids
                    .get("policy_ids")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(json_id)
                            .take(SCOPE_IDS_SHOWN)
                            .collect()
                    })
                    .unwrap_or_default(),
                // Storage may send the count beside a trimmed list.
                policy_count: item_ids
                    .get("policy_count")
                    .and_then(Value::as_u64)
                    .or_else(|| {
                        item_ids
                            .get("policy_ids")
                            .and_then(Value::as_array)
                            .map(|ids| ids.len() as u64)
                    })
                    .unwrap_or(0),
                include_assignments: item_ids
                    .get("options")
                    .and_then(|o| o.get("include_assignments"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            None => RunScope::Other {
                keys: item_ids
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default(),
            },
        }
    }
}

/// An id stored as a JSON number or a numeric string.
pub fn json_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_through_resource_and_action() {
        for kind in OperationKind::ALL {
            assert_eq!(OperationKind::parse(kind.key()), Some(kind));
            assert_eq!(
                OperationKind::from_parts(kind.resource(), kind.action()),
                Some(kind)
            );
            assert_eq!(kind.key(), format!("{}.{}", kind.resource(), kind.action()));
        }
        assert_eq!(OperationKind::parse("drift.delete"), None);
    }

    #[test]
    fn unknown_kinds_are_labelled_by_their_key() {
        assert_eq!(operation_label("drift", "generate"), "Drift generation");
        assert_eq!(operation_label("report", "export"), "report.export");
    }

    #[test]
    fn drift_scope_reads_its_three_identifiers() {
        let scope = RunScope::from_item_ids(
            Some(OperationKind::DriftGenerate),
            &json!({"scope_key": "abc", "baseline_run_id": 3, "current_run_id": "7"}),
        );
        assert_eq!(
            scope,
            RunScope::DriftGenerate {
                scope_key: Some("abc".into()),
                baseline_run_id: Some(3),
                current_run_id: Some(7),
            }
        );
    }

    #[test]
    fn backup_scope_reads_policies_and_options() {
        let scope = RunScope::from_item_ids(
            Some(OperationKind::BackupSetAddPolicies),
            &json!({"backup_set_id": 4, "policy_ids": [1, 2, "x"], "options": {"include_assignments": true}}),
        );
        assert_eq!(
            scope,
            RunScope::BackupSetAddPolicies {
                backup_set_id: Some(4),
                backup_set_name: None,
                policy_ids: vec![1, 2],
                policy_count: 3,
                include_assignments: true,
            }
        );
    }

    #[test]
    fn malformed_scope_yields_empty_fields_not_a_panic() {
        let scope = RunScope::from_item_ids(Some(OperationKind::DriftGenerate), &json!([1, 2]));
        assert_eq!(
            scope,
            RunScope::DriftGenerate {
                scope_key: None,
                baseline_run_id: None,
                current_run_id: None
            }
        );
    }
}
