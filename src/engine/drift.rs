//! Drift: what changed between a baseline and a current inventory of a scope.

use super::canonical::hash_parts;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One subject as an inventory sync observed it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedItem {
    pub subject_type: String,
    pub subject_external_id: String,
    pub display_name: String,
    pub settings: Value,
    pub settings_hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Removed,
    Modified,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "added",
            ChangeType::Removed => "removed",
            ChangeType::Modified => "modified",
        }
    }
}

/// A subject that differs between baseline and current.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftChange {
    pub subject_type: String,
    pub subject_external_id: String,
    pub display_name: String,
    pub change: ChangeType,
    /// Top-level setting keys whose values differ (never the values).
    pub changed_keys: Vec<String>,
    pub baseline_hash: Option<String>,
    pub current_hash: Option<String>,
}

impl DriftChange {
    /// Deterministic per tenant: the same inputs give the same fingerprint,
    /// so regenerating drift updates findings instead of duplicating them.
    pub fn fingerprint(
        &self,
        scope_key: &str,
        baseline_run_id: i64,
        current_run_id: i64,
    ) -> String {
        hash_parts([
            "drift",
            scope_key,
            &baseline_run_id.to_string(),
            &current_run_id.to_string(),
            &self.subject_type,
            &self.subject_external_id,
            self.change.as_str(),
        ])
    }

    /// The allowlisted evidence summary: change type, changed keys, hashes and
    /// display name. Raw setting values never leave the inventory tables.
    pub fn evidence(&self) -> Value {
        json!({
            "change_type": self.change.as_str(),
            "display_name": self.display_name,
            "changed_keys": self.changed_keys,
            "baseline_hash": self.baseline_hash,
            "current_hash": self.current_hash,
        })
    }
}

/// Compares two inventories subject by subject, in a stable order.
pub fn compare(baseline: &[ObservedItem], current: &[ObservedItem]) -> Vec<DriftChange> {
    let key = |i: &ObservedItem| (i.subject_type.clone(), i.subject_external_id.clone());
    let base: BTreeMap<_, _> = baseline.iter().map(|i| (key(i), i)).collect();
    let curr: BTreeMap<_, _> = current.iter().map(|i| (key(i), i)).collect();
    let subjects: BTreeSet<_> = base.keys().chain(curr.keys()).cloned().collect();

    let mut changes = Vec::new();
    for subject in subjects {
        let (b, c) = (base.get(&subject).copied(), curr.get(&subject).copied());
        let change = match (b, c) {
            (None, Some(_)) => ChangeType::Added,
            (Some(_), None) => ChangeType::Removed,
            (Some(b), Some(c)) if b.settings_hash != c.settings_hash => ChangeType::Modified,
            _ => continue,
        };
        let shown = c.or(b).expect("one side exists");
        changes.push(DriftChange {
            subject_type: subject.0,
            subject_external_id: subject.1,
            display_name: shown.display_name.clone(),
            change,
            changed_keys: match (b, c) {
                (Some(b), Some(c)) => changed_keys(&b.settings, &c.settings),
                _ => Vec::new(),
            },
            baseline_hash: b.map(|i| i.settings_hash.clone()),
            current_hash: c.map(|i| i.settings_hash.clone()),
        });
    }
    changes
}

fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::canonical::hash_json;

    fn item(id: &str, settings: Value) -> ObservedItem {
        ObservedItem {
            subject_type: "compliance_policy".into(),
            subject_external_id: id.into(),
            display_name: format!("Policy {id}"),
            settings_hash: hash_json(&settings),
            settings,
        }
    }

    #[test]
    fn classifies_added_removed_and_modified_subjects() {
        let baseline = [
            item("a", json!({"pin": 4})),
            item("b", json!({"pin": 6, "wipe": true})),
            item("c", json!({"x": 1})),
        ];
        let current = [
            item("b", json!({"pin": 8, "wipe": true, "lock": 5})),
            item("c", json!({"x": 1})),
            item("d", json!({})),
        ];
        let changes = compare(&baseline, &current);
        let summary: Vec<_> = changes
            .iter()
            .map(|c| (c.subject_external_id.as_str(), c.change))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", ChangeType::Removed),
                ("b", ChangeType::Modified),
                ("d", ChangeType::Added)
            ]
        );
        assert_eq!(changes[1].changed_keys, ["lock", "pin"]);
    }

    #[test]
    fn evidence_never_carries_setting_values() {
        let baseline = [item("a", json!({"secret_value": "hunter2"}))];
        let current = [item("a", json!({"secret_value": "correct-horse"}))];
        let evidence = compare(&baseline, &current)[0].evidence().to_string();
        assert!(evidence.contains("secret_value"));
        assert!(!evidence.contains("hunter2"));
        assert!(!evidence.contains("correct-horse"));
    }

    #[test]
    fn fingerprints_are_deterministic_and_input_specific() {
        let changes = compare(&[], &[item("a", json!({}))]);
        let f1 = changes[0].fingerprint("scope", 1, 2);
        assert_eq!(f1, changes[0].fingerprint("scope", 1, 2));
        assert_ne!(f1, changes[0].fingerprint("scope", 1, 3));
        assert_ne!(f1, changes[0].fingerprint("other", 1, 2));
    }
}
