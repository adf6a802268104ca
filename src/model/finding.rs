//! Drift findings as the hub shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most findings a page of the list shows.
pub const FINDINGS_PAGE_SIZE: i64 = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSummary {
    pub id: i64,
    pub scope_key: String,
    pub baseline_run_id: Option<i64>,
    pub current_run_id: Option<i64>,
    pub subject_type: String,
    pub subject_external_id: String,
    /// `new` or `acknowledged`.
    pub status: String,
    pub evidence: FindingEvidence,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The allowlisted parts of a finding's evidence; anything else stored in
/// `evidence_jsonb` is never read out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingEvidence {
    /// `added`, `removed` or `modified`.
    pub change_type: Option<String>,
    pub display_name: Option<String>,
    pub changed_keys: Vec<String>,
    pub baseline_hash: Option<String>,
    pub current_hash: Option<String>,
}

impl FindingEvidence {
    pub fn from_json(v: &serde_json::Value) -> FindingEvidence {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(|x| x.chars().take(200).collect())
        };
        FindingEvidence {
            change_type: s("change_type"),
            display_name: s("display_name"),
            changed_keys: v
                .get("changed_keys")
                .and_then(|x| x.as_array())
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| k.as_str())
                        .take(100)
                        .map(|k| k.chars().take(200).collect())
                        .collect()
                })
                .unwrap_or_default(),
            baseline_hash: s("baseline_hash"),
            current_hash: s("current_hash"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingDetail {
    pub summary: FindingSummary,
    pub fingerprint: String,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

/// The findings list's query, parsed once from the URL
/// (`/findings?scope=…&baseline=…&current=…&status=new&before=…`) and
/// carried as is to the server function and the query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FindingQueryParams", into = "FindingQueryParams")]
pub struct FindingQuery {
    pub scope_key: Option<String>,
    pub baseline_run_id: Option<i64>,
    pub current_run_id: Option<i64>,
    pub status: Option<String>,
    /// Keyset cursor: findings with a smaller id.
    pub before: Option<i64>,
}

/// [`FindingQuery`] as the URL carries it: each value as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingQueryParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

impl TryFrom<FindingQueryParams> for FindingQuery {
    type Error = String;
    fn try_from(p: FindingQueryParams) -> Result<FindingQuery, String> {
        FindingQuery::from_query(
            p.scope.as_deref(),
            p.baseline.as_deref(),
            p.current.as_deref(),
            p.status.as_deref(),
            p.before.as_deref(),
        )
    }
}

impl From<FindingQuery> for FindingQueryParams {
    fn from(q: FindingQuery) -> FindingQueryParams {
        FindingQueryParams {
            scope: q.scope_key,
            baseline: q.baseline_run_id.map(|b| b.to_string()),
            current: q.current_run_id.map(|c| c.to_string()),
            status: q.status,
            before: q.before.map(|b| b.to_string()),
        }
    }
}

impl FindingQuery {
    /// Reads the query of a URL, given how to look a parameter up.
    pub fn from_url(get: impl Fn(&str) -> Option<String>) -> Result<FindingQuery, String> {
        FindingQuery::try_from(FindingQueryParams {
            scope: get("scope"),
            baseline: get("baseline"),
            current: get("current"),
            status: get("status"),
            before: get("before"),
        })
    }

    pub fn from_query(
        scope: Option<&str>,
        baseline: Option<&str>,
        current: Option<&str>,
        status: Option<&str>,
        before: Option<&str>,
    ) -> Result<FindingQuery, String> {
        fn present(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let id = |v: Option<&str>, what: &str| -> Result<Option<i64>, String> {
            present(v)
                .map(|s| super::parse_id(s).map_err(|_| format!("the {what} must be a run id")))
                .transpose()
        };
        let scope_key = present(scope).map(str::to_string);
        if scope_key.as_ref().is_some_and(|s| s.len() > 128) {
            return Err("a scope key has at most 128 characters".into());
        }
        let status = match present(status) {
            None => None,
            Some(s @ ("new" | "acknowledged")) => Some(s.to_string()),
            Some(_) => return Err("status is new or acknowledged".into()),
        };
        Ok(FindingQuery {
            scope_key,
            baseline_run_id: id(baseline, "baseline")?,
            current_run_id: id(current, "current sync")?,
            status,
            before: id(before, "page cursor")?,
        })
    }

    pub fn to_url(&self) -> String {
        let mut params = Vec::new();
        if let Some(s) = &self.scope_key {
            params.push(format!("scope={}", super::url::encode(s)));
        }
        if let Some(b) = self.baseline_run_id {
            params.push(format!("baseline={b}"));
        }
        if let Some(c) = self.current_run_id {
            params.push(format!("current={c}"));
        }
        if let Some(s) = &self.status {
            params.push(format!("status={s}"));
        }
        if let Some(b) = self.before {
            params.push(format!("before={b}"));
        }
        if params.is_empty() {
            "/findings".into()
        } else {
            format!("/findings?{}", params.join("&"))
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingPage {
    pub findings: Vec<FindingSummary>,
    pub older: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_reads_and_writes_its_url() {
        let f = FindingQuery::from_query(Some("sel 1"), Some("3"), Some("4"), Some("new"), None)
            .unwrap();
        assert_eq!(
            f.to_url(),
            "/findings?scope=sel%201&baseline=3&current=4&status=new"
        );
        assert!(FindingQuery::from_query(None, Some("x"), None, None, None).is_err());
        assert!(FindingQuery::from_query(None, None, None, Some("closed"), None).is_err());
        assert!(FindingQuery::from_query(Some(&"k".repeat(200)), None, None, None, None).is_err());
        assert_eq!(FindingQuery::default().to_url(), "/findings");
    }

    #[test]
    fn evidence_reads_only_allowlisted_fields() {
        let ev = FindingEvidence::from_json(&serde_json::json!({
            "change_type": "modified",
            "changed_keys": ["a", 3, "b"],
            "secret": "never shown",
        }));
        assert_eq!(ev.change_type.as_deref(), Some("modified"));
        assert_eq!(ev.changed_keys, ["a", "b"]);
        assert!(!serde_json::to_string(&ev).unwrap().contains("never shown"));
    }
}
