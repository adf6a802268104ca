//! Run statuses as stored, and the status buckets operators see.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A run's stored status (`bulk_operation_runs.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
    Aborted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::CompletedWithErrors,
        RunStatus::Failed,
        RunStatus::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::CompletedWithErrors => "completed_with_errors",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Pending and running runs are active; the rest are finished for good.
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running)
    }

    pub fn bucket(self) -> StatusBucket {
        StatusBucket::from(self)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What operators see: the one mapping from stored status to bucket, used by
/// the server (notifications, filters) and the browser alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusBucket {
    Queued,
    Running,
    Succeeded,
    PartiallySucceeded,
    Failed,
}

impl From<RunStatus> for StatusBucket {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Pending => StatusBucket::Queued,
            RunStatus::Running => StatusBucket::Running,
            RunStatus::Completed => StatusBucket::Succeeded,
            RunStatus::CompletedWithErrors => StatusBucket::PartiallySucceeded,
            RunStatus::Failed | RunStatus::Aborted => StatusBucket::Failed,
        }
    }
}

impl StatusBucket {
    pub const ALL: [StatusBucket; 5] = [
        StatusBucket::Queued,
        StatusBucket::Running,
        StatusBucket::Succeeded,
        StatusBucket::PartiallySucceeded,
        StatusBucket::Failed,
    ];

    /// Human label, as shown in badges.
    pub fn label(self) -> &'static str {
        match self {
            StatusBucket::Queued => "queued",
            StatusBucket::Running => "running",
            StatusBucket::Succeeded => "succeeded",
            StatusBucket::PartiallySucceeded => "partially succeeded",
            StatusBucket::Failed => "failed",
        }
    }

    /// Stable machine name, used in URLs, CSS classes and notification payloads.
    pub fn slug(self) -> &'static str {
        match self {
            StatusBucket::Queued => "queued",
            StatusBucket::Running => "running",
            StatusBucket::Succeeded => "succeeded",
            StatusBucket::PartiallySucceeded => "partial",
            StatusBucket::Failed => "failed",
        }
    }

    pub fn parse(slug: &str) -> Option<StatusBucket> {
        StatusBucket::ALL.into_iter().find(|b| b.slug() == slug)
    }

    /// The stored statuses that fall into this bucket.
    pub fn statuses(self) -> Vec<RunStatus> {
        RunStatus::ALL
            .into_iter()
            .filter(|s| StatusBucket::from(*s) == self)
            .collect()
    }
}

impl fmt::Display for StatusBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_the_bucket_of_the_spec() {
        assert_eq!(RunStatus::Pending.bucket(), StatusBucket::Queued);
        assert_eq!(RunStatus::Running.bucket(), StatusBucket::Running);
        assert_eq!(RunStatus::Completed.bucket(), StatusBucket::Succeeded);
        assert_eq!(
            RunStatus::CompletedWithErrors.bucket(),
            StatusBucket::PartiallySucceeded
        );
        assert_eq!(RunStatus::Failed.bucket(), StatusBucket::Failed);
        assert_eq!(RunStatus::Aborted.bucket(), StatusBucket::Failed);
    }

    #[test]
    fn bucket_labels_are_the_operator_words() {
        let labels: Vec<_> = StatusBucket::ALL.iter().map(|b| b.label()).collect();
        assert_eq!(
            labels,
            [
                "queued",
                "running",
                "succeeded",
                "partially succeeded",
                "failed"
            ]
        );
    }

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(RunStatus::parse("done"), None);
        assert_eq!(RunStatus::parse("Pending"), None);
    }

    #[test]
    fn bucket_statuses_invert_the_mapping() {
        assert_eq!(
            StatusBucket::Failed.statuses(),
            vec![RunStatus::Failed, RunStatus::Aborted]
        );
        for bucket in StatusBucket::ALL {
            assert_eq!(StatusBucket::parse(bucket.slug()), Some(bucket));
            for status in bucket.statuses() {
                assert_eq!(status.bucket(), bucket);
            }
        }
    }

    #[test]
    fn only_pending_and_running_are_active() {
        let active: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(active, vec![RunStatus::Pending, RunStatus::Running]);
    }
}
