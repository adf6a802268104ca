//! Engine metrics, recorded through the `metrics` facade and exported in the
//! Prometheus text format by the web server's `/metrics`.

use crate::model::{OperationKind, RunStatus};
use std::time::Duration;

pub fn run_started(kind: OperationKind) {
    metrics::counter!("opshub_runs_started_total", "kind" => kind.key()).increment(1);
}

pub fn run_deduplicated(kind: OperationKind) {
    metrics::counter!("opshub_runs_deduplicated_total", "kind" => kind.key()).increment(1);
}

pub fn run_finished(kind: OperationKind, status: RunStatus) {
    metrics::counter!("opshub_runs_finished_total", "kind" => kind.key(), "status" => status.as_str())
        .increment(1);
}

pub fn items_processed(kind: OperationKind, n: u64) {
    metrics::counter!("opshub_items_processed_total", "kind" => kind.key()).increment(n);
}

/// How long the claim statement took.
pub fn claim_latency(took: Duration) {
    metrics::histogram!("opshub_claim_duration_seconds").record(took.as_secs_f64());
}

/// A run claimed again after its worker's lease expired.
pub fn run_recovered(kind: OperationKind) {
    metrics::counter!("opshub_run_recoveries_total", "kind" => kind.key()).increment(1);
}

/// A run handed back by its worker (`shutdown` or `transient_error`).
pub fn run_released(kind: OperationKind, reason: &'static str) {
    metrics::counter!("opshub_run_releases_total", "kind" => kind.key(), "reason" => reason)
        .increment(1);
}

/// A run failed by an error retrying cannot fix.
pub fn permanent_failure(kind: OperationKind) {
    metrics::counter!("opshub_run_permanent_failures_total", "kind" => kind.key()).increment(1);
}

pub fn cancellation(kind: Option<OperationKind>) {
    let kind = kind.map(|k| k.key()).unwrap_or("unknown");
    metrics::counter!("opshub_cancellations_total", "kind" => kind).increment(1);
}

/// Queue depth and the age of the oldest pending run, read at scrape time.
pub async fn record_queue_gauges(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let (depth, oldest): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), extract(epoch FROM now() - min(created_at))::float8 \
         FROM bulk_operation_runs WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("opshub_queue_pending_runs").set(depth as f64);
    metrics::gauge!("opshub_queue_oldest_pending_age_seconds").set(oldest.unwrap_or(0.0));
    Ok(())
}
