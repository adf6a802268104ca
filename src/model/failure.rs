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

/// How many item ids of each reason the run detail carries.
pub const FIRST_PAGE_ITEMS: usize = 20;
/// How many item ids a further page of one reason carries.
pub const PAGE_ITEMS: usize = 100;
/// How many reason codes the run detail lists (the export has them all).
pub const MAX_GROUPS: usize = 50;

/// Failures (or skips) sharing one reason code: their count, and a page of
/// their item ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureGroup {
    pub reason_code: String,
    pub skipped: bool,
    /// The first reason recorded under this code.
    pub reason: String,
    /// Every entry with this code, item or run-level.
    pub count: u64,
    /// A page of the group's items, in recording order.
    pub items: FailurePage,
}

impl FailureGroup {
    pub fn key(&self) -> FailureKey {
        FailureKey {
            reason_code: self.reason_code.clone(),
            skipped: self.skipped,
        }
    }
}

/// One failed or skipped item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureItem {
    pub item_id: String,
    /// The item's own reason, when it differs from its group's.
    pub reason: Option<String>,
}

/// A page of one reason's items and the cursor of the next page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailurePage {
    pub items: Vec<FailureItem>,
    /// Present when more items follow: pass it as `after`.
    pub next_after: Option<i64>,
}

/// Which group of a run's failures: a reason code, failed or skipped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FailureKey {
    pub reason_code: String,
    pub skipped: bool,
}

impl FailureKey {
    /// Reads a reason code and skip flag from user input (URL or form).
    pub fn parse(reason_code: &str, skipped: Option<&str>) -> Result<FailureKey, String> {
        let code = reason_code.trim();
        let valid = (1..=64).contains(&code.len())
            && code.starts_with(|c: char| c.is_ascii_lowercase())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err("reason_code must be a snake_case reason code".into());
        }
        let skipped = match skipped.map(str::trim) {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err("skipped must be true or false".into()),
        };
        Ok(FailureKey {
            reason_code: code.to_string(),
            skipped,
        })
    }

    /// The run page's URL showing the page of this group after `after`.
    pub fn page_url(&self, run_id: i64, after: Option<i64>) -> String {
        let mut url = format!("/runs/{run_id}?reason_code={}", self.reason_code);
        if self.skipped {
            url.push_str("&skipped=true");
        }
        if let Some(after) = after {
            url.push_str(&format!("&after={after}"));
        }
        url.push_str("#failures-heading");
        url
    }
}

/// Reads a page cursor from user input: a positive whole number, or none.
pub fn parse_after(raw: Option<&str>) -> Result<Option<i64>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => super::id::parse_id(raw)
            .map(Some)
            .map_err(|_| "after must be a cursor from a previous page".into()),
    }
}

/// Orders groups: failures first, then skips, each by descending count,
/// then by code so the order is stable.
pub fn sort_groups(groups: &mut [FailureGroup]) {
    groups.sort_by(|a, b| {
        a.skipped
            .cmp(&b.skipped)
            .then(b.count.cmp(&a.count))
            .then(a.reason_code.cmp(&b.reason_code))
    });
}

/// Counts entries by (skipped, reason code), without item pages.
pub fn group_failures(entries: &[FailureEntry]) -> Vec<FailureGroup> {
    let mut groups: Vec<FailureGroup> = Vec::new();
    for e in entries {
        match groups
            .iter_mut()
            .find(|g| g.reason_code == e.reason_code && g.skipped == e.skipped)
        {
            Some(g) => g.count += 1,
            None => groups.push(FailureGroup {
                reason_code: e.reason_code.clone(),
                skipped: e.skipped,
                reason: e.reason.clone(),
                count: 1,
                items: FailurePage::default(),
            }),
        }
    }
    sort_groups(&mut groups);
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
        assert_eq!(groups[0].reason, "policy_not_found happened");
    }

    #[test]
    fn failure_keys_and_cursors_come_only_from_well_formed_input() {
        let key = FailureKey::parse("policy_not_found", Some("true")).unwrap();
        assert!(key.skipped);
        assert!(!FailureKey::parse("policy_not_found", None).unwrap().skipped);
        for bad in ["", "Policy", "1abc", "a-b", "a b", &"a".repeat(65), "x';--"] {
            assert!(FailureKey::parse(bad, None).is_err(), "{bad}");
        }
        assert!(FailureKey::parse("x", Some("maybe")).is_err());
        assert_eq!(parse_after(None), Ok(None));
        assert_eq!(parse_after(Some("42")), Ok(Some(42)));
        assert!(parse_after(Some("-1")).is_err());
        assert!(parse_after(Some("abc")).is_err());
        assert_eq!(
            key.page_url(7, Some(9)),
            "/runs/7?reason_code=policy_not_found&skipped=true&after=9#failures-heading"
        );
    }
}
