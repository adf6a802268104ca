//! The overview of one tenant over a time window: runs per hour by status
//! bucket, outcomes and median duration per operation type, the most common
//! failure reasons, and running runs that stopped making progress.

use super::run_query::TimeRange;
use super::{operation_label, RunSummary, StatusBucket};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

/// Reason codes the overview lists at most.
pub const TOP_REASONS: usize = 8;
/// Latest runs linked per reason code.
pub const RUNS_PER_REASON: usize = 5;
/// Stalled runs listed at most (the count covers all of them).
pub const STALLED_LISTED: usize = 20;

/// The windows the overview offers: `24h` (the default) and `7d`.
pub fn overview_range(raw: Option<&str>) -> Result<TimeRange, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(TimeRange::LastDay),
        Some(s) => match TimeRange::parse(s) {
            Some(r @ (TimeRange::LastDay | TimeRange::LastWeek)) => Ok(r),
            _ => Err(format!(
                "unknown overview window '{}': use 24h or 7d",
                s.chars().take(40).collect::<String>()
            )),
        },
    }
}

/// The first hour of a window ending in the hour of `now`: the window holds
/// `range.hours()` whole hours, the current one included.
pub fn window_start(range: TimeRange, now: DateTime<Utc>) -> DateTime<Utc> {
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    this_hour - Duration::hours(range.hours() - 1)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub range: TimeRange,
    /// Start of the first hour shown (UTC, on the hour).
    pub since: DateTime<Utc>,
    /// One entry per hour from `since`, oldest first.
    pub hours: Vec<HourCounts>,
    /// Finished runs per operation type, busiest first.
    pub operations: Vec<OperationStats>,
    /// The most frequent failure reason codes, by runs hit.
    pub reasons: Vec<ReasonStats>,
    /// Running runs without progress for `stalled_after_mins`, longest
    /// quiet first (at most [`STALLED_LISTED`]).
    pub stalled: Vec<StalledRun>,
    /// All stalled runs, listed or not.
    pub stalled_total: u32,
    pub stalled_after_mins: u64,
}

impl Overview {
    pub fn total_runs(&self) -> u64 {
        self.hours.iter().map(|h| u64::from(h.total())).sum()
    }
}

/// Runs created in one hour, counted per status bucket (indexed like
/// [`StatusBucket::ALL`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourCounts {
    pub hour: DateTime<Utc>,
    pub counts: [u32; 5],
}

impl HourCounts {
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    pub fn count(&self, bucket: StatusBucket) -> u32 {
        self.counts[bucket_index(bucket)]
    }
}

fn bucket_index(bucket: StatusBucket) -> usize {
    StatusBucket::ALL
        .iter()
        .position(|b| *b == bucket)
        .unwrap_or_default()
}

/// Spreads sparse `(hour, bucket, count)` rows over every hour of the window,
/// so hours without runs are present with zero counts. Rows outside the
/// window are ignored.
pub fn fill_hours(
    since: DateTime<Utc>,
    hours: i64,
    rows: impl IntoIterator<Item = (DateTime<Utc>, StatusBucket, u32)>,
) -> Vec<HourCounts> {
    let mut filled: Vec<HourCounts> = (0..hours.max(0))
        .map(|i| HourCounts {
            hour: since + Duration::hours(i),
            counts: [0; 5],
        })
        .collect();
    for (hour, bucket, count) in rows {
        let offset = (hour - since).num_hours();
        if let Some(slot) = usize::try_from(offset).ok().and_then(|i| filled.get_mut(i)) {
            slot.counts[bucket_index(bucket)] += count;
        }
    }
    filled
}

/// Outcomes of one operation type's runs that finished in the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationStats {
    pub resource: String,
    pub action: String,
    pub succeeded: u32,
    pub partial: u32,
    /// Failed or cancelled: the failed bucket.
    pub failed: u32,
    /// Median of finished - started, in milliseconds.
    pub median_ms: Option<i64>,
}

impl OperationStats {
    pub fn label(&self) -> String {
        operation_label(&self.resource, &self.action)
    }

    pub fn key(&self) -> String {
        format!("{}.{}", self.resource, self.action)
    }

    pub fn finished(&self) -> u32 {
        self.succeeded + self.partial + self.failed
    }

    /// Share of finished runs in the failed bucket, in percent.
    pub fn failure_rate(&self) -> Option<f64> {
        let finished = self.finished();
        (finished > 0).then(|| f64::from(self.failed) * 100.0 / f64::from(finished))
    }
}

/// One failure reason code across the window's runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonStats {
    pub reason_code: String,
    /// Failure entries (items) with this code.
    pub failures: u32,
    /// Runs with at least one such failure.
    pub runs: u32,
    /// The newest of those runs, newest first (at most [`RUNS_PER_REASON`]).
    pub latest_runs: Vec<i64>,
}

/// A running run with no recorded progress since `progressed_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StalledRun {
    pub run: RunSummary,
    pub progressed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, h, m, 0).unwrap()
    }

    #[test]
    fn the_window_ends_with_the_current_hour() {
        let now = at(14, 37);
        assert_eq!(
            window_start(TimeRange::LastDay, now),
            at(14, 0) - Duration::hours(23)
        );
        assert_eq!(
            window_start(TimeRange::LastWeek, now),
            at(14, 0) - Duration::hours(167)
        );
    }

    #[test]
    fn only_the_day_and_week_windows_are_accepted() {
        assert_eq!(overview_range(None), Ok(TimeRange::LastDay));
        assert_eq!(overview_range(Some(" ")), Ok(TimeRange::LastDay));
        assert_eq!(overview_range(Some("7d")), Ok(TimeRange::LastWeek));
        assert!(overview_range(Some("1h"))
            .unwrap_err()
            .contains("24h or 7d"));
        assert!(overview_range(Some("<script>")).is_err());
    }

    #[test]
    fn hours_without_runs_are_zero_and_rows_outside_the_window_are_ignored() {
        let since = at(10, 0);
        let hours = fill_hours(
            since,
            3,
            [
                (at(10, 0), StatusBucket::Failed, 2),
                (at(12, 0), StatusBucket::Succeeded, 5),
                (at(12, 0), StatusBucket::Failed, 1),
                (at(9, 0), StatusBucket::Failed, 7),
                (at(13, 0), StatusBucket::Failed, 7),
            ],
        );
        assert_eq!(hours.len(), 3);
        assert_eq!(hours[0].hour, at(10, 0));
        assert_eq!(hours[0].count(StatusBucket::Failed), 2);
        assert_eq!(hours[1].total(), 0);
        assert_eq!(hours[2].count(StatusBucket::Succeeded), 5);
        assert_eq!(hours[2].total(), 6);
    }

    #[test]
    fn the_failure_rate_counts_the_failed_bucket_among_finished_runs() {
        let stats = OperationStats {
            resource: "drift".into(),
            action: "generate".into(),
            succeeded: 6,
            partial: 1,
            failed: 1,
            median_ms: Some(1200),
        };
        assert_eq!(stats.finished(), 8);
        assert_eq!(stats.failure_rate(), Some(12.5));
        let none = OperationStats {
            succeeded: 0,
            failed: 0,
            partial: 0,
            ..stats
        };
        assert_eq!(none.failure_rate(), None);
    }
}
