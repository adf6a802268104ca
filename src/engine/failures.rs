//! Recording a run's failures and skips. Every writer of them (batches,
//! the run's end, cancel, the demo seed) goes through [`record`], so the
//! three places they live stay consistent:
//!
//! - `bulk_operation_run_failures`: one row per item entry, appended;
//! - `bulk_operation_run_failure_counts`: entries per (skipped, reason code),
//!   upserted;
//! - `bulk_operation_runs.failures`: a bounded sample — every run-level
//!   entry (no item id: a fatal reason, a cancel) and the first
//!   [`SAMPLE_ITEMS`] item entries.
//!
//! Writing a batch's entries thus costs the same however many the run
//! already has: nothing is rewritten once the sample is full.

use crate::model::FailureEntry;
use sqlx::PgConnection;

/// Item entries kept on the run row itself.
pub const SAMPLE_ITEMS: i32 = 50;

/// Longest item id stored, in characters (longer ones are cut).
const MAX_ITEM_ID_CHARS: usize = 300;

/// Appends `entries` to the run's failures, in one statement. Call it inside
/// the transaction that records the entries' outcome, before the run is
/// finished (a finished run's failures cannot change).
pub async fn record(
    conn: &mut PgConnection,
    tenant_id: i64,
    run_id: i64,
    entries: &[FailureEntry],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let codes: Vec<&str> = entries.iter().map(|e| e.reason_code.as_str()).collect();
    let reasons: Vec<&str> = entries.iter().map(|e| e.reason.as_str()).collect();
    let item_ids: Vec<Option<String>> = entries
        .iter()
        .map(|e| {
            e.item_id
                .as_deref()
                .map(|id| id.chars().take(MAX_ITEM_ID_CHARS).collect())
        })
        .collect();
    let skipped: Vec<bool> = entries.iter().map(|e| e.skipped).collect();
    sqlx::query(
        "WITH e AS ( \
             SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::bool[]) \
                 WITH ORDINALITY AS e(reason_code, reason, item_id, skipped, ord)), \
         items AS ( \
             INSERT INTO bulk_operation_run_failures (tenant_id, run_id, skipped, reason_code, reason, item_id) \
             SELECT $1, $2, skipped, reason_code, reason, item_id FROM e WHERE item_id IS NOT NULL ORDER BY ord), \
         counts AS ( \
             INSERT INTO bulk_operation_run_failure_counts AS c (tenant_id, run_id, skipped, reason_code, reason, entries) \
             SELECT $1, $2, skipped, reason_code, (array_agg(reason ORDER BY ord))[1], count(*) \
             FROM e GROUP BY skipped, reason_code \
             ON CONFLICT (tenant_id, run_id, skipped, reason_code) DO UPDATE SET entries = c.entries + excluded.entries), \
         sampled AS ( \
             SELECT (SELECT count(*) FROM jsonb_array_elements(coalesce(r.failures, '[]')) x WHERE x ? 'item_id') AS n \
             FROM bulk_operation_runs r WHERE r.tenant_id = $1 AND r.id = $2), \
         added AS ( \
             SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object( \
                        'reason_code', reason_code, 'reason', reason, 'item_id', item_id, \
                        'type', CASE WHEN skipped THEN 'skipped' END)) ORDER BY ord) AS entries \
             FROM (SELECT e.*, count(item_id) OVER (ORDER BY ord) AS nth FROM e) numbered, sampled \
             WHERE item_id IS NULL OR sampled.n + nth <= $7) \
         UPDATE bulk_operation_runs r SET failures = coalesce(r.failures, '[]'::jsonb) || added.entries \
         FROM added WHERE r.tenant_id = $1 AND r.id = $2 AND added.entries IS NOT NULL",
    )
    .bind(tenant_id)
    .bind(run_id)
    .bind(&codes)
    .bind(&reasons)
    .bind(&item_ids)
    .bind(&skipped)
    .bind(SAMPLE_ITEMS)
    .execute(conn)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{set_status, tenant, user};
    use sqlx::PgPool;

    fn failed(i: usize) -> FailureEntry {
        FailureEntry {
            reason_code: "policy_not_found".into(),
            reason: "No policy with this id exists in this tenant.".into(),
            item_id: Some((1_000_000 + i).to_string()),
            skipped: false,
        }
    }

    /// A running `backup_set.add_policies` run naming `items` policies.
    async fn running_backup_run(pool: &PgPool, items: usize) -> (i64, i64) {
        let t = tenant(pool, "acme").await;
        let u = user(pool, "op@acme.example").await;
        let ids: Vec<usize> = (0..items).map(|i| 1_000_000 + i).collect();
        let run: i64 = sqlx::query_scalar(
            "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, item_ids) \
             VALUES ($1, $2, 'backup_set', 'add_policies', $3) RETURNING id",
        )
        .bind(t)
        .bind(u)
        .bind(serde_json::json!({"backup_set_id": 1, "policy_ids": ids}))
        .fetch_one(pool)
        .await
        .unwrap();
        set_status(pool, run, "running").await.unwrap();
        (t, run)
    }

    /// WAL written by one batch as a worker commits it: the counters and the
    /// batch's failures, in one transaction.
    async fn batch_wal(pool: &PgPool, t: i64, run: i64, entries: &[FailureEntry]) -> i64 {
        let mut conn = pool.acquire().await.unwrap();
        let before: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        sqlx::query(
            "UPDATE bulk_operation_runs SET processed_items = processed_items + $3, failed = failed + $3, \
             heartbeat_at = now(), progressed_at = now() WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t)
        .bind(run)
        .bind(entries.len() as i32)
        .execute(&mut *tx)
        .await
        .unwrap();
        record(&mut tx, t, run, entries).await.unwrap();
        tx.commit().await.unwrap();
        sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::int8")
            .bind(before)
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    /// The cost of a failure must not grow with the failures before it:
    /// rewriting a growing array per batch made the last batches of a
    /// 100,000-failure run write many times the WAL of the first.
    #[sqlx::test]
    async fn a_100k_failure_run_writes_as_much_wal_per_failure_late_as_early(pool: PgPool) {
        const ITEMS: usize = 100_000;
        const BATCH: usize = 1_000;
        let (t, run) = running_backup_run(&pool, ITEMS).await;
        let all: Vec<FailureEntry> = (0..ITEMS).map(failed).collect();
        let mut wal = Vec::new();
        for batch in all.chunks(BATCH) {
            wal.push(batch_wal(&pool, t, run, batch).await);
        }
        // Other sessions of the cluster only add to a measurement: compare
        // the quietest batch of the first and of the last 10,000 failures.
        let early = *wal[..10].iter().min().unwrap() as f64 / BATCH as f64;
        let late = *wal[wal.len() - 10..].iter().min().unwrap() as f64 / BATCH as f64;
        eprintln!("WAL per failure: {early:.0} bytes in the first 10,000, {late:.0} in the last");
        // Rewriting the failures per batch made the late ones cost ~35× the
        // early ones; 3× leaves room for WAL that other tests of a parallel
        // run write during the measured batches.
        assert!(
            late <= early * 3.0,
            "WAL per failure grew from {early:.0} to {late:.0} bytes"
        );
        let (stored, counted, sampled): (i64, i32, i32) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM bulk_operation_run_failures WHERE tenant_id = $1 AND run_id = $2), \
                    (SELECT entries FROM bulk_operation_run_failure_counts WHERE tenant_id = $1 AND run_id = $2), \
                    (SELECT jsonb_array_length(failures) FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2)",
        )
        .bind(t)
        .bind(run)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            (stored, counted, sampled),
            (ITEMS as i64, ITEMS as i32, SAMPLE_ITEMS)
        );
    }

    #[sqlx::test]
    async fn the_run_keeps_its_run_level_entries_and_a_bounded_sample(pool: PgPool) {
        let (t, run) = running_backup_run(&pool, 120).await;
        let mut conn = pool.acquire().await.unwrap();
        let skip = FailureEntry {
            reason_code: "already_in_backup_set".into(),
            reason: "The policy is already in this backup set.".into(),
            item_id: Some("7".into()),
            skipped: true,
        };
        let batch: Vec<FailureEntry> = (0..40).map(failed).chain([skip]).collect();
        record(&mut conn, t, run, &batch).await.unwrap();
        let more: Vec<FailureEntry> = (40..120).map(failed).collect();
        record(&mut conn, t, run, &more).await.unwrap();
        let cancelled = FailureEntry {
            reason_code: "cancelled".into(),
            reason: "Cancelled by an operator.".into(),
            item_id: None,
            skipped: false,
        };
        record(&mut conn, t, run, std::slice::from_ref(&cancelled))
            .await
            .unwrap();
        record(&mut conn, t, run, &[]).await.unwrap();

        let sample: serde_json::Value = sqlx::query_scalar(
            "SELECT failures FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t)
        .bind(run)
        .fetch_one(&pool)
        .await
        .unwrap();
        let sample = FailureEntry::list_from_json(Some(&sample));
        assert_eq!(sample.len(), SAMPLE_ITEMS as usize + 1);
        assert_eq!(sample[40], batch[40], "the skip keeps its place and marker");
        assert_eq!(
            sample.last(),
            Some(&cancelled),
            "run-level entries are always kept"
        );
        let groups = crate::db::run_failures::counts(&mut conn, t, run)
            .await
            .unwrap();
        let counts: Vec<_> = groups
            .iter()
            .map(|g| (g.reason_code.as_str(), g.skipped, g.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("policy_not_found", false, 120),
                ("cancelled", false, 1),
                ("already_in_backup_set", true, 1)
            ]
        );

        // Once the run is finished its failures cannot change.
        set_status(&pool, run, "aborted").await.unwrap();
        let late = record(&mut conn, t, run, &[failed(999)]).await;
        assert!(late.is_err(), "a finished run took new failures");
        for sql in [
            "DELETE FROM bulk_operation_run_failures WHERE run_id = $1",
            "UPDATE bulk_operation_run_failure_counts SET entries = 1 WHERE run_id = $1",
        ] {
            assert!(
                sqlx::query(sql).bind(run).execute(&pool).await.is_err(),
                "{sql}"
            );
        }
        // Deleting the run takes its failures with it.
        sqlx::query("DELETE FROM bulk_operation_runs WHERE id = $1")
            .bind(run)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            crate::db::testing::rows_in(&pool, "bulk_operation_run_failures").await,
            0
        );
    }
}
