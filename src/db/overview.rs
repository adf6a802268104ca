//! The overview's aggregates for one tenant. Each query is a range scan of
//! the tenant's `(tenant_id, created_at)` index over the window, except the
//! stalled runs (a tenant's few running runs).

use super::runs::{SummaryRow, SUMMARY_COLUMNS};
use crate::model::overview::{
    fill_hours, window_start, HourCounts, OperationStats, Overview, ReasonStats, StalledRun,
    RUNS_PER_REASON, STALLED_LISTED, TOP_REASONS,
};
use crate::model::run_query::TimeRange;
use crate::model::RunStatus;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(sqlx::FromRow)]
struct StalledRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    progressed_at: DateTime<Utc>,
    total: i64,
}

/// The overview of a tenant over `range` (ending in the hour of `now`):
/// four independent queries, one after the other on the request's one
/// connection.
pub async fn load(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    range: TimeRange,
    stalled_after: Duration,
    now: DateTime<Utc>,
) -> Result<Overview, sqlx::Error> {
    let since = window_start(range, now);
    let hours = per_hour(&mut *conn, tenant_id, range, since).await?;
    let operations = per_operation(&mut *conn, tenant_id, since).await?;
    let reasons = top_reasons(&mut *conn, tenant_id, since).await?;
    let (stalled, stalled_total) = stalled_runs(&mut *conn, tenant_id, stalled_after).await?;
    Ok(Overview {
        range,
        since,
        hours,
        operations,
        reasons,
        stalled,
        stalled_total,
        stalled_after_mins: stalled_after.as_secs() / 60,
    })
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

async fn per_hour(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    range: TimeRange,
    since: DateTime<Utc>,
) -> Result<Vec<HourCounts>, sqlx::Error> {
    let per_hour: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(
        "SELECT date_trunc('hour', created_at, 'UTC'), status, count(*) FROM bulk_operation_runs \
         WHERE tenant_id = $1 AND created_at >= $2 GROUP BY 1, 2",
    )
    .bind(tenant_id)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(fill_hours(
        since,
        range.hours(),
        per_hour.into_iter().filter_map(|(hour, status, n)| {
            Some((hour, RunStatus::parse(&status)?.bucket(), count(n)))
        }),
    ))
}

/// Runs created in the window that have finished; the buckets are those of
/// `RunStatus::bucket` (aborted counts as failed).
async fn per_operation(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<OperationStats>, sqlx::Error> {
    let per_kind: Vec<(String, String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT resource, action, \
                count(*) FILTER (WHERE status = 'completed'), \
                count(*) FILTER (WHERE status = 'completed_with_errors'), \
                count(*) FILTER (WHERE status IN ('failed', 'aborted')), \
                round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) \
                      FILTER (WHERE started_at IS NOT NULL))::int8 \
         FROM bulk_operation_runs \
         WHERE tenant_id = $1 AND created_at >= $2 AND finished_at IS NOT NULL \
         GROUP BY resource, action ORDER BY count(*) DESC, resource, action",
    )
    .bind(tenant_id)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(per_kind
        .into_iter()
        .map(
            |(resource, action, succeeded, partial, failed, median_ms)| OperationStats {
                resource,
                action,
                succeeded: count(succeeded),
                partial: count(partial),
                failed: count(failed),
                median_ms,
            },
        )
        .collect())
}

/// Failures (not skips) per reason code, counted once per run for the
/// ranking, with the newest runs that hit each.
async fn top_reasons(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<ReasonStats>, sqlx::Error> {
    let reasons: Vec<(String, i64, i64, Vec<i64>)> = sqlx::query_as(
        "WITH hits AS ( \
             SELECT r.id, r.created_at, c.reason_code AS code, c.entries AS n \
             FROM bulk_operation_runs r JOIN bulk_operation_run_failure_counts c \
                  ON c.tenant_id = r.tenant_id AND c.run_id = r.id AND NOT c.skipped \
             WHERE r.tenant_id = $1 AND r.created_at >= $2) \
         SELECT code, sum(n)::int8, count(*), \
                (array_agg(id ORDER BY created_at DESC, id DESC))[1:$4] \
         FROM hits GROUP BY code ORDER BY count(*) DESC, sum(n) DESC, code LIMIT $3",
    )
    .bind(tenant_id)
    .bind(since)
    .bind(TOP_REASONS as i64)
    .bind(RUNS_PER_REASON as i32)
    .fetch_all(&mut *conn)
    .await?;
    Ok(reasons
        .into_iter()
        .map(|(reason_code, failures, runs, latest_runs)| ReasonStats {
            reason_code,
            failures: count(failures),
            runs: count(runs),
            latest_runs,
        })
        .collect())
}

/// The quietest stalled runs (at most [`STALLED_LISTED`]) and how many
/// there are in all.
async fn stalled_runs(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    stalled_after: Duration,
) -> Result<(Vec<StalledRun>, u32), sqlx::Error> {
    let stalled_rows: Vec<StalledRow> = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS}, coalesce(r.progressed_at, r.started_at) AS progressed_at, \
                count(*) OVER () AS total \
         FROM bulk_operation_runs r JOIN users u ON u.id = r.user_id \
         WHERE r.tenant_id = $1 AND r.status = 'running' \
           AND coalesce(r.progressed_at, r.started_at) < now() - make_interval(secs => $2) \
         ORDER BY coalesce(r.progressed_at, r.started_at), r.id LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(stalled_after.as_secs_f64())
    .bind(STALLED_LISTED as i64)
    .fetch_all(&mut *conn)
    .await?;
    let total = stalled_rows.first().map_or(0, |r| count(r.total));
    let stalled = stalled_rows
        .into_iter()
        .map(|row| {
            Ok(StalledRun {
                run: row.summary.into_summary()?,
                progressed_at: row.progressed_at,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok((stalled, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{set_status, tenant, user};
    use crate::model::StatusBucket;
    use sqlx::PgPool;

    /// A run created `minutes_ago`, taken to `status`; a finished one took
    /// `secs` and, when given, failed items with `codes`.
    async fn run(
        pool: &PgPool,
        (t, u): (i64, i64),
        (resource, action): (&str, &str),
        minutes_ago: i32,
        status: &str,
        secs: i32,
        codes: &[&str],
    ) -> i64 {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, created_at) \
             VALUES ($1, $2, $3, $4, now() - make_interval(mins => $5)) RETURNING id",
        )
        .bind(t)
        .bind(u)
        .bind(resource)
        .bind(action)
        .bind(minutes_ago)
        .fetch_one(pool)
        .await
        .unwrap();
        if status == "pending" {
            return id;
        }
        set_status(pool, id, "running").await.unwrap();
        if status == "running" {
            return id;
        }
        let failures: Vec<_> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| crate::model::FailureEntry {
                reason_code: c.to_string(),
                reason: "r".into(),
                item_id: Some(i.to_string()),
                skipped: false,
            })
            // A skip never counts as a failure reason.
            .chain((!codes.is_empty()).then(|| crate::model::FailureEntry {
                reason_code: "already_in_backup_set".into(),
                reason: "r".into(),
                item_id: Some("99".into()),
                skipped: true,
            }))
            .collect();
        let mut conn = pool.acquire().await.unwrap();
        crate::engine::failures::record(&mut conn, t, id, &failures)
            .await
            .unwrap();
        // A finished run is immutable: its times come with the final status.
        sqlx::query(
            "UPDATE bulk_operation_runs SET status = $3, started_at = created_at, \
             finished_at = created_at + make_interval(secs => $2) WHERE id = $1",
        )
        .bind(id)
        .bind(secs)
        .bind(status)
        .execute(pool)
        .await
        .unwrap();
        id
    }

    const DRIFT: (&str, &str) = ("drift", "generate");
    const BACKUP: (&str, &str) = ("backup_set", "add_policies");

    #[sqlx::test]
    async fn counts_per_hour_outcomes_and_reasons_cover_the_window_of_one_tenant(pool: PgPool) {
        let (a, b) = (tenant(&pool, "a").await, tenant(&pool, "b").await);
        let u = user(&pool, "o@example.com").await;
        run(&pool, (a, u), DRIFT, 5, "completed", 2, &[]).await;
        run(&pool, (a, u), DRIFT, 6, "completed", 4, &[]).await;
        run(&pool, (a, u), DRIFT, 7, "failed", 10, &["graph_throttled"]).await;
        let older = run(
            &pool,
            (a, u),
            BACKUP,
            120,
            "completed_with_errors",
            1,
            &["policy_not_found"; 2],
        )
        .await;
        let newer = run(
            &pool,
            (a, u),
            BACKUP,
            61,
            "completed_with_errors",
            1,
            &["policy_not_found", "graph_throttled"],
        )
        .await;
        run(&pool, (a, u), BACKUP, 3, "pending", 0, &[]).await;
        // Outside the day, inside the week.
        run(&pool, (a, u), DRIFT, 60 * 30, "failed", 1, &["too_old"]).await;
        // Another tenant's failures never count.
        run(&pool, (b, u), DRIFT, 5, "failed", 1, &["foreign"]).await;

        let now = Utc::now();
        let day = load(
            &mut pool.acquire().await.unwrap(),
            a,
            TimeRange::LastDay,
            Duration::from_secs(600),
            now,
        )
        .await
        .unwrap();
        assert_eq!(day.hours.len(), 24);
        assert_eq!(day.total_runs(), 6);
        let failed: u32 = day
            .hours
            .iter()
            .map(|h| h.count(StatusBucket::Failed))
            .sum();
        assert_eq!(failed, 1);
        let queued: u32 = day
            .hours
            .iter()
            .map(|h| h.count(StatusBucket::Queued))
            .sum();
        assert_eq!(queued, 1);

        let drift = &day
            .operations
            .iter()
            .find(|o| o.resource == "drift")
            .unwrap();
        assert_eq!((drift.succeeded, drift.partial, drift.failed), (2, 0, 1));
        assert_eq!(drift.median_ms, Some(4_000));
        let backup = &day
            .operations
            .iter()
            .find(|o| o.resource == "backup_set")
            .unwrap();
        assert_eq!((backup.succeeded, backup.partial, backup.failed), (0, 2, 0));

        let codes: Vec<_> = day.reasons.iter().map(|r| r.reason_code.as_str()).collect();
        // Both hit two runs; more failed items rank first.
        assert_eq!(codes, ["policy_not_found", "graph_throttled"]);
        let not_found = &day.reasons[0];
        assert_eq!((not_found.failures, not_found.runs), (3, 2));
        assert_eq!(not_found.latest_runs, vec![newer, older]);

        let week = load(
            &mut pool.acquire().await.unwrap(),
            a,
            TimeRange::LastWeek,
            Duration::from_secs(600),
            now,
        )
        .await
        .unwrap();
        assert_eq!(week.hours.len(), 168);
        assert_eq!(week.total_runs(), 7);
        assert!(week.reasons.iter().any(|r| r.reason_code == "too_old"));
        assert!(!week.reasons.iter().any(|r| r.reason_code == "foreign"));
    }

    #[sqlx::test]
    async fn a_running_run_without_progress_past_the_threshold_is_stalled(pool: PgPool) {
        let (a, b) = (tenant(&pool, "a").await, tenant(&pool, "b").await);
        let u = user(&pool, "o@example.com").await;
        let quiet = run(&pool, (a, u), BACKUP, 30, "running", 0, &[]).await;
        let busy = run(&pool, (a, u), BACKUP, 30, "running", 0, &[]).await;
        let foreign = run(&pool, (b, u), BACKUP, 30, "running", 0, &[]).await;
        for (id, mins) in [(quiet, 25), (busy, 1), (foreign, 25)] {
            sqlx::query(
                "UPDATE bulk_operation_runs SET started_at = created_at, \
                 progressed_at = now() - make_interval(mins => $2) WHERE id = $1",
            )
            .bind(id)
            .bind(mins)
            .execute(&pool)
            .await
            .unwrap();
        }
        let overview = load(
            &mut pool.acquire().await.unwrap(),
            a,
            TimeRange::LastDay,
            Duration::from_secs(600),
            Utc::now(),
        )
        .await
        .unwrap();
        let ids: Vec<_> = overview.stalled.iter().map(|s| s.run.id).collect();
        assert_eq!(ids, vec![quiet]);
        assert_eq!(overview.stalled_total, 1);
        assert_eq!(overview.stalled_after_mins, 10);

        // A lower threshold takes in the busy one too, the quietest first.
        let overview = load(
            &mut pool.acquire().await.unwrap(),
            a,
            TimeRange::LastDay,
            Duration::from_secs(30),
            Utc::now(),
        )
        .await
        .unwrap();
        let ids: Vec<_> = overview.stalled.iter().map(|s| s.run.id).collect();
        assert_eq!(ids, vec![quiet, busy]);
    }
}
