//! Engine metrics, recorded through the `metrics` facade and exported in the
//! Prometheus text format by `/metrics` (of the hub, and of `opshub worker
//! --metrics-addr`).

use crate::model::{OperationKind, RunStatus};
use std::collections::BTreeSet;
use std::sync::Mutex;
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

/// A run taken over by a worker after the worker that held it was lost
/// (its lease expired).
pub fn run_recovered(kind: OperationKind) {
    metrics::counter!("opshub_run_recoveries_total", "kind" => kind.key()).increment(1);
}

/// A worker gave a claimed run back to the queue for another worker to
/// continue. `reason`: `shutdown` (the process is stopping) or
/// `transient_error` (storage trouble that a later attempt may not meet).
pub fn run_released(kind: OperationKind, reason: &'static str) {
    metrics::counter!("opshub_run_releases_total", "kind" => kind.key(), "reason" => reason)
        .increment(1);
}

/// A run failed by an error that retrying cannot fix.
pub fn permanent_failure(kind: OperationKind) {
    metrics::counter!("opshub_run_permanent_failures_total", "kind" => kind.key()).increment(1);
}

pub fn cancellation(kind: Option<OperationKind>) {
    let kind = kind.map(|k| k.key()).unwrap_or("unknown");
    metrics::counter!("opshub_cancellations_total", "kind" => kind).increment(1);
}

/// Most tenants the per-tenant queue depth is reported for (the deepest).
pub const TENANT_DEPTH_LIMIT: i64 = 50;

/// The tenants whose queue depth the last scrape reported.
static REPORTED_TENANTS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Queue depth, in all and for the deepest tenants, and the age of the
/// oldest pending run, read at scrape time.
pub async fn record_queue_gauges(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    record_queue_gauges_for(pool, &REPORTED_TENANTS).await
}

/// [`record_queue_gauges`], remembering the reported tenants in `reported`:
/// a tenant that leaves the top (or the queue) is set to 0 once, rather than
/// keeping its last depth.
async fn record_queue_gauges_for(
    pool: &sqlx::PgPool,
    reported: &Mutex<BTreeSet<String>>,
) -> Result<(), sqlx::Error> {
    // One statement: depth per tenant, the totals over all tenants (window
    // aggregates see every tenant, before the limit), the deepest first.
    let rows: Vec<(String, i64, i64, Option<f64>)> = sqlx::query_as(
        "WITH per_tenant AS ( \
           SELECT tenant_id, count(*) AS depth, min(created_at) AS oldest \
           FROM bulk_operation_runs WHERE status = 'pending' GROUP BY tenant_id) \
         SELECT t.slug, p.depth, (sum(p.depth) OVER ())::int8, \
                extract(epoch FROM now() - min(p.oldest) OVER ())::float8 \
         FROM per_tenant p JOIN tenants t ON t.id = p.tenant_id \
         ORDER BY p.depth DESC, t.slug LIMIT $1",
    )
    .bind(TENANT_DEPTH_LIMIT)
    .fetch_all(pool)
    .await?;
    let (depth, oldest) = rows
        .first()
        .map(|(_, _, total, oldest)| (*total, oldest.unwrap_or(0.0)))
        .unwrap_or((0, 0.0));
    metrics::gauge!("opshub_queue_pending_runs").set(depth as f64);
    metrics::gauge!("opshub_queue_oldest_pending_age_seconds").set(oldest);
    let now: BTreeSet<String> = rows.iter().map(|(slug, ..)| slug.clone()).collect();
    for (slug, depth, ..) in rows {
        metrics::gauge!("opshub_queue_pending_runs_by_tenant", "tenant" => slug).set(depth as f64);
    }
    let mut reported = reported
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for gone in reported.difference(&now) {
        metrics::gauge!("opshub_queue_pending_runs_by_tenant", "tenant" => gone.clone()).set(0.0);
    }
    *reported = now;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    #[test]
    fn releases_recoveries_and_permanent_failures_are_exported() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            run_released(OperationKind::BackupSetAddPolicies, "shutdown");
            run_released(OperationKind::BackupSetAddPolicies, "shutdown");
            run_released(OperationKind::DriftGenerate, "transient_error");
            run_recovered(OperationKind::InventorySync);
            run_recovered(OperationKind::InventorySync);
            permanent_failure(OperationKind::DriftGenerate);
        });
        let out = handle.render();
        for line in [
            "opshub_run_releases_total{kind=\"backup_set.add_policies\",reason=\"shutdown\"} 2",
            "opshub_run_releases_total{kind=\"drift.generate\",reason=\"transient_error\"} 1",
            "opshub_run_recoveries_total{kind=\"inventory.sync\"} 2",
            "opshub_run_permanent_failures_total{kind=\"drift.generate\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "no `{line}` in:\n{out}");
        }
    }

    /// The value of `series` (name and labels) in the exported text.
    fn value(out: &str, series: &str) -> Option<f64> {
        out.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn tenant_series(slug: &str) -> String {
        format!("opshub_queue_pending_runs_by_tenant{{tenant=\"{slug}\"}}")
    }

    #[sqlx::test]
    async fn queue_depth_is_reported_for_the_deepest_fifty_tenants(pool: sqlx::PgPool) {
        use crate::db::testing::{pending_run, set_status, tenant, user};
        let owner = user(&pool, "owner@example.com").await;
        let deep = tenant(&pool, "deep").await;
        let shallow = tenant(&pool, "shallow").await;
        let mut deep_runs = Vec::new();
        for _ in 0..3 {
            deep_runs.push(pending_run(&pool, deep, owner, None).await.unwrap());
        }
        pending_run(&pool, shallow, owner, None).await.unwrap();
        for i in 0..50 {
            let t = tenant(&pool, &format!("even-{i:02}")).await;
            for _ in 0..2 {
                pending_run(&pool, t, owner, None).await.unwrap();
            }
        }

        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let reported = Mutex::new(BTreeSet::new());

        record_queue_gauges_for(&pool, &reported).await.unwrap();
        let out = handle.render();
        assert_eq!(value(&out, "opshub_queue_pending_runs"), Some(104.0));
        assert_eq!(value(&out, &tenant_series("deep")), Some(3.0));
        assert_eq!(value(&out, &tenant_series("even-00")), Some(2.0));
        assert_eq!(value(&out, &tenant_series("even-48")), Some(2.0));
        // Fifty tenants at most: the shallowest two are left out.
        assert_eq!(value(&out, &tenant_series("even-49")), None, "{out}");
        assert_eq!(value(&out, &tenant_series("shallow")), None, "{out}");
        let series = out
            .lines()
            .filter(|l| l.starts_with("opshub_queue_pending_runs_by_tenant{"))
            .count();
        assert_eq!(series, 50);

        // A tenant whose queue drained reads 0, not its last depth.
        for run in deep_runs {
            set_status(&pool, run, "aborted").await.unwrap();
        }
        record_queue_gauges_for(&pool, &reported).await.unwrap();
        let out = handle.render();
        assert_eq!(value(&out, "opshub_queue_pending_runs"), Some(101.0));
        assert_eq!(value(&out, &tenant_series("deep")), Some(0.0));
        assert_eq!(value(&out, &tenant_series("even-49")), Some(2.0));
        assert!(
            value(&out, "opshub_queue_oldest_pending_age_seconds").is_some_and(|age| age >= 0.0)
        );
    }
}
