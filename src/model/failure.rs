//! Sanitized failure entries of a run, and their grouping by reason code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of a run's `failures`: a failure, or a skip (`type: "skipped"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureEntry {
    pub reason_code: String,
    pub reason: String,
    pub item_id: Option<String>,
    pub skipped: bool,
}

impl FailureEntry {
    /// The stored shape: `{reason_code, reason, item_id?, type?: "skipped"}`.
    pub fn to_json(&self) -> Value {
        let mut e = serde_json::Map::new();
        e.insert("reason_code".into(), Value::from(self.reason_code.as_str()));
        e.insert("reason".into(), Value::from(self.reason.as_str()));
        if let Some(id) = &self.item_id {
            e.insert("item_id".into(), Value::from(id.as_str()));
        }
        if self.skipped {
            e.insert("type".into(), Value::from("skipped"));
        }
        Value::Object(e)
    }

    /// Reads the stored jsonb array; entries without a reason code are ignored.
    pub fn list_from_json(failures: Option<&Value>) -> Vec<FailureEntry> {
        let Some(Value::Array(entries)) = failures else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let reason_code = e.get("reason_code")?.as_str()?.to_string();
                let reason = e
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let item_id = match e.get("item_id") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                let skipped = e.get("type").and_then(Value::as_str) == Some("skipped");
                Some(FailureEntry {
                    reason_code,
                    reason,
                    item_id,
                    skipped,
                })
            })
            .collect()
    }
}

/// Failures (or skips) sharing one reason code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureGroup {
    pub reason_code: String,
    pub skipped: bool,
    pub count: usize,
    /// Distinct reasons in first-seen order.
    pub reasons: Vec<String>,
    pub item_ids: Vec<String>,
}

/// Groups entries by (skipped, reason code): failures first, then skips, each
/// by descending count, then by code so the order is stable.
pub fn group_failures(entries: &[FailureEntry]) -> Vec<FailureGroup> {
    let mut groups: Vec<FailureGroup> = Vec::new();
    for e in entries {
        let group = match groups
            .iter_mut()
            .find(|g| g.reason_code == e.reason_code && g.skipped == e.skipped)
        {
            Some(g) => g,
            None => {
                groups.push(FailureGroup {
                    reason_code: e.reason_code.clone(),
                    skipped: e.skipped,
                    count: 0,
                    reasons: Vec::new(),
                    item_ids: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        group.count += 1;
        if !e.reason.is_empty() && !group.reasons.contains(&e.reason) {
            group.reasons.push(e.reason.clone());
        }
        if let Some(id) = &e.item_id {
            group.item_ids.push(id.clone());
        }
    }
    groups.sort_by(|a, b| {
        a.skipped
            .cmp(&b.skipped)
            .then(b.count.cmp(&a.count))
            .then(a.reason_code.cmp(&b.reason_code))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_read_with_item_ids_and_skip_markers() {
        let json = json!([
            {"reason_code": "policy_not_found", "reason": "Policy 9 does not exist", "item_id": 9},
            {"reason_code": "already_in_backup_set", "reason": "Already backed up", "item_id": "4", "type": "skipped"},
            {"reason": "no code: ignored"},
            {"reason_code": "baseline_missing", "reason": "No baseline"}
        ]);
        let entries = FailureEntry::list_from_json(Some(&json));
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].item_id.as_deref(), Some("9"));
        assert!(!entries[0].skipped);
        assert!(entries[1].skipped);
        assert_eq!(entries[2].item_id, None);
    }

    #[test]
    fn non_array_failures_read_as_empty() {
        assert!(FailureEntry::list_from_json(None).is_empty());
        assert!(FailureEntry::list_from_json(Some(&json!({"a": 1}))).is_empty());
    }

    #[test]
    fn groups_put_failures_before_skips_and_larger_groups_first() {
        let e = |code: &str, id: &str, skipped: bool| FailureEntry {
            reason_code: code.into(),
            reason: format!("{code} happened"),
            item_id: Some(id.into()),
            skipped,
        };
        let groups = group_failures(&[
            e("already_in_backup_set", "1", true),
            e("policy_not_found", "2", false),
            e("snapshot_too_large", "3", false),
            e("policy_not_found", "4", false),
        ]);
        let codes: Vec<_> = groups
            .iter()
            .map(|g| (g.reason_code.as_str(), g.count))
            .collect();
        assert_eq!(
            codes,
            [
                ("policy_not_found", 2),
                ("snapshot_too_large", 1),
                ("already_in_backup_set", 1)
            ]
        );
        assert_eq!(groups[0].item_ids, ["2", "4"]);
        assert_eq!(groups[0].reasons, ["policy_not_found happened"]);
    }
}
