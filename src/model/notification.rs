//! What the bell and the notifications page show.

use super::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most entries the bell lists.
pub const BELL_SIZE: i64 = 8;
/// Unread counts are exact up to this; above, the badge says "99+".
pub const UNREAD_CAP: i64 = 100;

/// A run notification's `data`: what the engine stores and the bell reads.
/// Every field has a default, so entries written by other versions (or
/// missing fields) still read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunNoticeData {
    pub tenant: NoticeTenant,
    pub run: NoticeRun,
    pub title: Option<String>,
    pub status: Option<String>,
    pub status_bucket: Option<String>,
    pub counts: NoticeCounts,
    pub error_summary: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeTenant {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeRun {
    pub id: Option<i64>,
    /// Always `bulk_operation_run`.
    #[serde(rename = "type")]
    pub subject_type: String,
    /// `resource.action`.
    pub operation: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeCounts {
    pub total: Option<i64>,
    pub processed: Option<i64>,
    pub succeeded: Option<i64>,
    pub failed: Option<i64>,
    pub skipped: Option<i64>,
}

/// The parts of a run notice an entry shows. The rest of the payload
/// (tenant, operation, url) is skipped, not copied out.
#[derive(Default, Deserialize)]
#[serde(default)]
struct NoticeShown {
    title: Option<String>,
    status: Option<String>,
    counts: NoticeCounts,
    error_summary: Option<String>,
    run: NoticeRunId,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct NoticeRunId {
    id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationItem {
    /// The notification's uuid.
    pub id: String,
    pub title: String,
    pub status: Option<RunStatus>,
    /// e.g. "6 of 8 items · 1 failed · 1 skipped".
    pub summary: String,
    pub error_summary: Option<String>,
    pub run_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

impl NotificationItem {
    /// Builds an item from a stored notification's `data` as JSON text (the
    /// run notice payload); fields it lacks, or a payload that does not
    /// read, are left out rather than failing.
    pub fn from_data(
        id: String,
        data: &str,
        created_at: DateTime<Utc>,
        read: bool,
    ) -> NotificationItem {
        let d: NoticeShown = serde_json::from_str(data).unwrap_or_default();
        let counts = &d.counts;
        let mut parts = Vec::new();
        match (counts.processed, counts.total) {
            (Some(p), Some(t)) => parts.push(format!("{p} of {t} items")),
            (Some(p), None) if p > 0 => parts.push(format!("{p} items")),
            _ => {}
        }
        for (key, n) in [("failed", counts.failed), ("skipped", counts.skipped)] {
            if let Some(n) = n.filter(|n| *n > 0) {
                parts.push(format!("{n} {key}"));
            }
        }
        NotificationItem {
            id,
            title: d.title.unwrap_or_else(|| "Run update".to_string()),
            status: d.status.as_deref().and_then(RunStatus::parse),
            summary: parts.join(" · "),
            error_summary: d.error_summary,
            run_id: d.run.id,
            created_at,
            read,
        }
    }

    /// Where the entry leads: its run.
    pub fn href(&self) -> String {
        match self.run_id {
            Some(id) => format!("/runs/{id}"),
            None => "/notifications".to_string(),
        }
    }
}

/// The bell: how many are unread (capped) and the latest entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bell {
    pub unread: i64,
    pub latest: Vec<NotificationItem>,
}

impl Bell {
    pub fn badge(&self) -> Option<String> {
        match self.unread {
            0 => None,
            n if n >= UNREAD_CAP => Some("99+".into()),
            n => Some(n.to_string()),
        }
    }
}

/// The notifications list's query, parsed once from its URL
/// (`/notifications?older=…`): the page cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NotificationQueryParams", into = "NotificationQueryParams")]
pub struct NotificationQuery {
    pub older: Option<super::cursor::Cursor<uuid::Uuid>>,
}

/// [`NotificationQuery`] as the URL carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationQueryParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older: Option<String>,
}

impl TryFrom<NotificationQueryParams> for NotificationQuery {
    type Error = String;
    fn try_from(p: NotificationQueryParams) -> Result<NotificationQuery, String> {
        NotificationQuery::parse(p.older.as_deref())
    }
}

impl From<NotificationQuery> for NotificationQueryParams {
    fn from(q: NotificationQuery) -> NotificationQueryParams {
        NotificationQueryParams {
            older: q.older.map(|c| c.encode()),
        }
    }
}

impl NotificationQuery {
    /// Reads the URL's `older` value (absent when missing or empty).
    pub fn parse(older: Option<&str>) -> Result<NotificationQuery, String> {
        let older = older
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(super::cursor::Cursor::parse)
            .transpose()?;
        Ok(NotificationQuery { older })
    }

    /// The URL of this page of the list.
    pub fn to_url(&self) -> String {
        match self.older {
            None => "/notifications".into(),
            Some(c) => format!("/notifications?older={c}"),
        }
    }
}

/// One page of the notifications list, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPage {
    pub items: Vec<NotificationItem>,
    /// The cursor of the next (older) page, if there is one.
    pub older: Option<super::cursor::Cursor<uuid::Uuid>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_item_reads_the_run_notice_payload() {
        let data = json!({
            "title": "Add policies to backup set partially succeeded",
            "status": "completed_with_errors",
            "counts": {"total": 8, "processed": 8, "succeeded": 6, "failed": 1, "skipped": 1},
            "error_summary": "1 failure: policy_not_found (1)",
            "run": {"id": 42, "type": "bulk_operation_run"},
        });
        let item = NotificationItem::from_data("n1".into(), &data.to_string(), Utc::now(), false);
        assert_eq!(item.summary, "8 of 8 items · 1 failed · 1 skipped");
        assert_eq!(item.status, Some(RunStatus::CompletedWithErrors));
        assert_eq!(item.href(), "/runs/42");
        let bare = NotificationItem::from_data("n2".into(), "{}", Utc::now(), true);
        assert_eq!(bare.title, "Run update");
        assert_eq!(bare.href(), "/notifications");
    }

    #[test]
    fn a_payload_that_does_not_read_is_a_bare_update() {
        for data in ["not json", r#"{"title": 7}"#, "[]"] {
            let item = NotificationItem::from_data("n3".into(), data, Utc::now(), false);
            assert_eq!(item.title, "Run update", "{data}");
            assert_eq!(
                (item.status, item.run_id, item.summary.as_str()),
                (None, None, "")
            );
        }
    }

    #[test]
    fn the_badge_caps_large_counts() {
        let bell = |unread| Bell {
            unread,
            latest: vec![],
        };
        assert_eq!(bell(0).badge(), None);
        assert_eq!(bell(7).badge().as_deref(), Some("7"));
        assert_eq!(bell(UNREAD_CAP).badge().as_deref(), Some("99+"));
    }
}
