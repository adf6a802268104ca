//! What a run's lifecycle notification says: the payload stored in
//! `notifications.data` and shown by the bell.

use crate::model::notification::{NoticeCounts, NoticeRun, NoticeTenant, RunNoticeData};
use crate::model::{operation_label, FailureGroup, RunCounters, RunStatus};
use serde_json::Value;

/// Notification `type` values.
pub const RUN_QUEUED: &str = "opshub.run_queued";
pub const RUN_COMPLETED: &str = "opshub.run_completed";

/// The subject of a run notification.
pub struct RunNotice<'a> {
    pub tenant_id: i64,
    pub tenant_slug: &'a str,
    pub tenant_name: &'a str,
    pub run_id: i64,
    pub resource: &'a str,
    pub action: &'a str,
    pub status: RunStatus,
    pub counters: RunCounters,
    /// The run's failures and skips per reason code.
    pub failures: &'a [FailureGroup],
}

impl RunNotice<'_> {
    /// The notification type for this run's current status.
    pub fn notification_type(&self) -> &'static str {
        if self.status.is_active() {
            RUN_QUEUED
        } else {
            RUN_COMPLETED
        }
    }

    pub fn payload(&self) -> Value {
        let bucket = self.status.bucket();
        let label = operation_label(self.resource, self.action);
        let title = if self.status.is_active() {
            format!("{label} queued")
        } else {
            format!("{label} {}", bucket.label())
        };
        let data = RunNoticeData {
            tenant: NoticeTenant {
                id: self.tenant_id,
                slug: self.tenant_slug.to_string(),
                name: self.tenant_name.to_string(),
            },
            run: NoticeRun {
                id: Some(self.run_id),
                subject_type: "bulk_operation_run".to_string(),
                operation: format!("{}.{}", self.resource, self.action),
            },
            title: Some(title),
            status: Some(self.status.as_str().to_string()),
            status_bucket: Some(bucket.slug().to_string()),
            counts: NoticeCounts {
                total: self.counters.total_items.map(i64::from),
                processed: Some(self.counters.processed_items.into()),
                succeeded: Some(self.counters.succeeded.into()),
                failed: Some(self.counters.failed.into()),
                skipped: Some(self.counters.skipped.into()),
            },
            error_summary: error_summary(self.failures),
            url: Some(format!("/runs/{}", self.run_id)),
        };
        serde_json::to_value(data).unwrap_or_default()
    }
}

/// A short, safe summary of a run's failures: their count by reason code.
/// Built from sanitized reason codes only, never from raw messages.
pub fn error_summary(groups: &[FailureGroup]) -> Option<String> {
    let groups: Vec<_> = groups.iter().filter(|g| !g.skipped).collect();
    if groups.is_empty() {
        return None;
    }
    let total: u64 = groups.iter().map(|g| g.count).sum();
    let shown: Vec<String> = groups
        .iter()
        .take(3)
        .map(|g| format!("{} ({})", g.reason_code, g.count))
        .collect();
    let more = if groups.len() > 3 { ", …" } else { "" };
    let noun = if total == 1 { "failure" } else { "failures" };
    Some(format!("{total} {noun}: {}{more}", shown.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{group_failures, FailureEntry};

    fn failure(code: &str, skipped: bool) -> FailureEntry {
        FailureEntry {
            reason_code: code.into(),
            reason: "x".into(),
            item_id: None,
            skipped,
        }
    }

    #[test]
    fn summary_counts_failures_by_code_and_ignores_skips() {
        let f = [
            failure("policy_not_found", false),
            failure("policy_not_found", false),
            failure("already_in_backup_set", true),
            failure("snapshot_too_large", false),
        ];
        assert_eq!(
            error_summary(&group_failures(&f)).as_deref(),
            Some("3 failures: policy_not_found (2), snapshot_too_large (1)")
        );
        assert_eq!(
            error_summary(&group_failures(&[failure("already_in_backup_set", true)])),
            None
        );
    }

    #[test]
    fn payload_links_the_run_and_carries_the_bucket() {
        let notice = RunNotice {
            tenant_id: 1,
            tenant_slug: "contoso",
            tenant_name: "Contoso",
            run_id: 42,
            resource: "backup_set",
            action: "add_policies",
            status: RunStatus::CompletedWithErrors,
            counters: RunCounters {
                total_items: Some(2),
                processed_items: 2,
                succeeded: 1,
                failed: 1,
                skipped: 0,
            },
            failures: &group_failures(&[failure("policy_not_found", false)]),
        };
        let p = notice.payload();
        assert_eq!(p["run"]["type"], "bulk_operation_run");
        assert_eq!(p["status_bucket"], "partial");
        assert_eq!(p["url"], "/runs/42");
        assert_eq!(p["counts"]["failed"], 1);
        assert_eq!(notice.notification_type(), RUN_COMPLETED);
    }
}
