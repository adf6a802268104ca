//! Runs as the hub shows them.

use super::failure::FailureGroup;
use super::operation::{operation_label, OperationKind, RunScope};
use super::status::{RunStatus, StatusBucket};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Counters of a run; the database guarantees their invariants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    pub total_items: Option<i32>,
    pub processed_items: i32,
    pub succeeded: i32,
    pub failed: i32,
    pub skipped: i32,
}

impl RunCounters {
    /// Percent done, when the total is known.
    pub fn percent(&self) -> Option<u8> {
        let total = self.total_items?;
        if total <= 0 {
            return Some(100);
        }
        let pct = (i64::from(self.processed_items) * 100) / i64::from(total);
        Some(pct.clamp(0, 100) as u8)
    }
}

/// One row of the runs list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: i64,
    pub resource: String,
    pub action: String,
    pub status: RunStatus,
    pub initiator: String,
    pub idempotency_key: Option<String>,
    pub counters: RunCounters,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunSummary {
    pub fn kind(&self) -> Option<OperationKind> {
        OperationKind::from_parts(&self.resource, &self.action)
    }

    pub fn operation_key(&self) -> String {
        format!("{}.{}", self.resource, self.action)
    }

    pub fn operation_label(&self) -> String {
        operation_label(&self.resource, &self.action)
    }

    pub fn bucket(&self) -> StatusBucket {
        self.status.bucket()
    }

    /// For a queued run of a kind this build cannot execute (written by
    /// another version): what it waits for. Workers only claim kinds they
    /// know, so it stays queued until a worker that knows the kind runs.
    pub fn waiting_for_worker(&self) -> Option<String> {
        (self.status == RunStatus::Pending && self.kind().is_none()).then(|| {
            format!(
                "Waiting for a worker that can run {}: no worker of this version knows this kind.",
                self.operation_key()
            )
        })
    }
}

/// An audit entry about a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub action: String,
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Everything the run detail page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    pub scope: RunScope,
    /// Failures and skips per reason code, each with its first item ids
    /// (at most [`super::failure::MAX_GROUPS`] codes).
    pub failure_groups: Vec<FailureGroup>,
    /// More reason codes exist than `failure_groups` lists.
    pub more_failure_groups: bool,
    pub audit: Vec<AuditEntry>,
    pub attempts: i32,
    pub deduplicated_starts: i32,
    pub updated_at: DateTime<Utc>,
    /// An operator asked a running run to stop; its worker ends it shortly.
    pub cancel_requested: bool,
    /// For a drift run: how many findings its scope and syncs have.
    pub related_findings: Option<i64>,
}

impl RunDetail {
    /// Queued, or running and not yet asked to stop.
    pub fn can_cancel(&self) -> bool {
        self.summary.status.is_active() && !self.cancel_requested
    }

    /// Finished, itemized, with failed items to run again.
    pub fn can_retry(&self) -> bool {
        !self.summary.status.is_active()
            && matches!(self.scope, RunScope::BackupSetAddPolicies { .. })
            && self
                .failure_groups
                .iter()
                .any(|g| !g.skipped && !g.items.items.is_empty())
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;

    #[test]
    fn only_queued_runs_of_unknown_kinds_wait_for_a_worker_that_knows_them() {
        let run = |resource: &str, action: &str, status| RunSummary {
            id: 1,
            resource: resource.into(),
            action: action.into(),
            status,
            initiator: "a".into(),
            idempotency_key: None,
            counters: RunCounters {
                total_items: None,
                processed_items: 0,
                succeeded: 0,
                failed: 0,
                skipped: 0,
            },
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
        };
        let waiting = run("backup_set", "restore", RunStatus::Pending).waiting_for_worker();
        assert!(waiting.unwrap().contains("backup_set.restore"));
        assert_eq!(
            run("backup_set", "restore", RunStatus::Aborted).waiting_for_worker(),
            None
        );
        assert_eq!(
            run("drift", "generate", RunStatus::Pending).waiting_for_worker(),
            None
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_known_only_with_a_total() {
        let mut c = RunCounters {
            processed_items: 5,
            succeeded: 5,
            ..Default::default()
        };
        assert_eq!(c.percent(), None);
        c.total_items = Some(20);
        assert_eq!(c.percent(), Some(25));
        c.total_items = Some(0);
        assert_eq!(c.percent(), Some(100));
    }
}
