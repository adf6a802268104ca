//! The engine under what could wedge it: malformed snapshots, storage
//! errors, runs of unknown kinds, one tenant's backlog, cancels racing the
//! last batch, recoveries and shutdown. Real Postgres; interleavings are
//! forced with locks held from another connection, not with sleeps.

use super::lifecycle;
use super::queue::{cancel, start, Cancelled, StartRequest};
use super::tests::{backup, count, fast_workers, finished, fixture, run_row, wait_until, Fx};
use super::worker::{WorkerConfig, WorkerPool};
use crate::model::{FailureEntry, OperationKind};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool};
use std::time::{Duration, Instant};

fn codes(failures: &Option<Value>) -> Vec<String> {
    FailureEntry::list_from_json(failures.as_ref())
        .into_iter()
        .map(|f| f.reason_code)
        .collect()
}

async fn import_snapshot(pool: &PgPool, fx: &Fx, snapshot: Value) -> i64 {
    let req = StartRequest {
        tenant_id: fx.tenant,
        user_id: fx.operator,
        kind: OperationKind::InventorySync,
        scope: json!({"source": "poison.json"}),
        payload: Some(snapshot),
    };
    start(pool, req).await.unwrap().run_id
}

/// The run, once it ended: within seconds, or the test fails.
async fn ended_soon(pool: &PgPool, run: i64) -> super::tests::RunRow {
    wait_until(
        pool,
        run,
        "finished within 10 s",
        |r| !["pending", "running"].contains(&r.status.as_str()),
        Duration::from_secs(10),
    )
    .await
}

/// The status of the inventory sync a run opened.
async fn sync_status(pool: &PgPool, run: i64) -> String {
    sqlx::query_scalar("SELECT status FROM inventory_sync_runs WHERE bulk_operation_run_id = $1")
        .bind(run)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn audit_actions(pool: &PgPool, run_id: i64) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT action, metadata FROM audit_logs WHERE subject_type = 'bulk_operation_run' \
         AND subject_id = $1 ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Holds the backup set's row lock from another connection: a batch that
/// adds to the set waits on it (its foreign-key check) until released.
pub(super) async fn hold_backup_set(pool: &PgPool, fx: &Fx) -> PgConnection {
    let opts = pool.connect_options();
    let mut conn = PgConnection::connect_with(&opts).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT 1 FROM backup_sets WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
        .bind(fx.tenant)
        .bind(fx.backup_set)
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// The backend of a worker's batch that waits on a lock, once it does.
pub(super) async fn blocked_batch(pool: &PgPool) -> i32 {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() \
             AND query LIKE '%INSERT INTO backup_items%' LIMIT 1",
        )
        .fetch_optional(pool)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        assert!(Instant::now() < until, "no batch ever waited on the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn a_poison_snapshot_ends_within_seconds_with_its_valid_entry_imported(pool: PgPool) {
    let fx = fixture(&pool, "acme", 0).await;
    // The malformed entry's position label is the valid entry's external id.
    let run = import_snapshot(
        &pool,
        &fx,
        json!({"selection": {"k": "poison"}, "policies": [
            42,
            {"external_id": "entry-1", "policy_type": "t", "display_name": "d"}
        ]}),
    )
    .await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = ended_soon(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "completed_with_errors", "{row:?}");
    assert_eq!((row.succeeded, row.failed, row.attempts), (1, 1, 1));
    assert_eq!(codes(&row.failures), ["invalid_policy_entry"]);
    let imported: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM policies WHERE tenant_id = $1")
            .bind(fx.tenant)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(imported, ["entry-1"]);
    let sync = sync_status(&pool, run).await;
    assert_eq!(sync, "completed");
}

#[sqlx::test]
async fn duplicate_external_ids_and_malformed_entries_fail_one_by_one(pool: PgPool) {
    let fx = fixture(&pool, "acme", 0).await;
    let entry =
        |id: &str, name: &str| json!({"external_id": id, "policy_type": "t", "display_name": name});
    let run = import_snapshot(
        &pool,
        &fx,
        json!({"selection": {"k": "dups"}, "policies": [
            entry("a", "first a"),
            entry("b", "b"),
            entry("a", "second a"),
            {"external_id": "c"},
            entry("entry-3", "looks like a label"),
            "not an object",
        ]}),
    )
    .await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = ended_soon(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "completed_with_errors", "{row:?}");
    assert_eq!((row.succeeded, row.failed, row.attempts), (3, 3, 1));
    let mut failed = FailureEntry::list_from_json(row.failures.as_ref());
    failed.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    let got: Vec<(String, String)> = failed
        .into_iter()
        .map(|f| (f.item_id.unwrap_or_default(), f.reason_code))
        .collect();
    assert_eq!(
        got,
        [
            ("entry-3~2".to_string(), "duplicate_external_id".to_string()),
            ("entry-4".to_string(), "invalid_policy_entry".to_string()),
            ("entry-6".to_string(), "invalid_policy_entry".to_string()),
        ]
    );
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT external_id, display_name FROM policies WHERE tenant_id = $1 ORDER BY external_id",
    )
    .bind(fx.tenant)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        names,
        [
            ("a".to_string(), "first a".to_string()),
            ("b".to_string(), "b".to_string()),
            ("entry-3".to_string(), "looks like a label".to_string()),
        ]
    );
}

/// A trigger that refuses backup items of the given policies, as a
/// constraint the operation does not know about would.
pub(super) async fn refuse_policies(pool: &PgPool, ids: &[i64]) {
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(&format!(
        "CREATE FUNCTION refuse_items() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.policy_id IN ({list}) THEN RAISE EXCEPTION 'secret-token-123 refused' \
         USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_items BEFORE INSERT ON backup_items \
         FOR EACH ROW EXECUTE FUNCTION refuse_items()",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test]
async fn an_item_the_storage_refuses_fails_alone_and_is_never_retried(pool: PgPool) {
    let fx = fixture(&pool, "acme", 5).await;
    refuse_policies(&pool, &fx.policies[2..3]).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = ended_soon(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "completed_with_errors");
    assert_eq!((row.succeeded, row.failed, row.attempts), (4, 1, 1));
    let failures = FailureEntry::list_from_json(row.failures.as_ref());
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].reason_code, "item_rejected");
    assert_eq!(failures[0].item_id, Some(fx.policies[2].to_string()));
    // The server's message (which may quote data) never reaches the run.
    assert!(
        !failures[0].reason.contains("secret"),
        "{}",
        failures[0].reason
    );
    assert!(
        failures[0].reason.contains("23514"),
        "{}",
        failures[0].reason
    );
}

#[sqlx::test]
async fn a_run_whose_every_write_is_refused_fails_once_without_a_retry_loop(pool: PgPool) {
    let fx = fixture(&pool, "acme", 5).await;
    refuse_policies(&pool, &fx.policies).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = ended_soon(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "failed");
    assert_eq!((row.processed_items, row.attempts), (0, 1));
    assert_eq!(codes(&row.failures), ["operation_error"]);
    let releases = audit_actions(&pool, run)
        .await
        .into_iter()
        .filter(|(a, _)| a == "bulk_operation_run.released")
        .count();
    assert_eq!(releases, 0);
}

#[sqlx::test]
async fn a_terminated_backend_is_retried_after_a_backoff_and_the_run_succeeds(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let mut lock = hold_backup_set(&pool, &fx).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let pid = blocked_batch(&pool).await;
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(killed);
    // Released for a retry, audited, with the attempt counted.
    let until = Instant::now() + Duration::from_secs(10);
    while audit_actions(&pool, run)
        .await
        .iter()
        .all(|(a, _)| a != "bulk_operation_run.released")
    {
        assert!(Instant::now() < until, "the run was never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(run_row(&pool, run).await.processed_items, 0);
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let row = finished(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "completed", "{row:?}");
    assert_eq!((row.succeeded, row.attempts), (3, 2));
    let audit = audit_actions(&pool, run).await;
    let release = audit
        .iter()
        .find(|(a, _)| a == "bulk_operation_run.released")
        .expect("the release is audited");
    assert_eq!(release.1["reason"], "transient_error");
    assert!(release.1["retry_after_secs"].as_f64().unwrap() > 0.0);
}

#[sqlx::test]
async fn runs_of_unknown_kinds_wait_without_attempts_and_delay_nobody(pool: PgPool) {
    let fx = fixture(&pool, "acme", 1).await;
    // Written by a newer version: 200 waiting, and 5 that a worker of that
    // version held when it died.
    sqlx::query(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids) \
         SELECT $1, $2, 'backup_set', 'restore', 'restore-' || g, '{}'::jsonb FROM generate_series(1, 205) g",
    )
    .bind(fx.tenant)
    .bind(fx.operator)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = 'running', started_at = now(), attempts = 1, \
         lease_owner = 'newer/1', lease_expires_at = now() - interval '1 minute' \
         WHERE action = 'restore' AND idempotency_key IN ('restore-1','restore-2','restore-3','restore-4','restore-5')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let began = Instant::now();
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    let row = wait_until(
        &pool,
        run,
        "finished",
        |r| r.status == "completed",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(row.attempts, 1);
    // Give the loop a few more polls to touch them if it would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    workers.shutdown().await;
    let (pending, attempts, stale_attempts): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'pending'), \
                coalesce(sum(attempts) FILTER (WHERE status = 'pending'), 0), \
                coalesce(sum(attempts) FILTER (WHERE status = 'running'), 0) \
         FROM bulk_operation_runs WHERE action = 'restore'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((pending, attempts, stale_attempts), (200, 0, 5));
}

#[sqlx::test]
async fn one_tenants_backlog_does_not_delay_another_tenants_run(pool: PgPool) {
    let busy = fixture(&pool, "contoso", 1).await;
    let quiet = fixture(&pool, "fabrikam", 1).await;
    // 5,000 pending runs in one tenant, oldest first.
    sqlx::query(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids, created_at) \
         SELECT $1, $2, 'backup_set', 'add_policies', 'backlog-' || g, \
                jsonb_build_object('backup_set_id', $3::bigint, 'policy_ids', jsonb_build_array($4::bigint), \
                                   'options', jsonb_build_object('include_assignments', false)), \
                now() - interval '1 hour' + g * interval '1 ms' \
         FROM generate_series(1, 5000) g",
    )
    .bind(busy.tenant)
    .bind(busy.operator)
    .bind(busy.backup_set)
    .bind(busy.policies[0])
    .execute(&pool)
    .await
    .unwrap();
    let config = WorkerConfig {
        concurrency: 2,
        // Slow the backlog's runs so it cannot drain in time by itself.
        batch_pause: Duration::from_millis(200),
        max_batch: 1,
        ..fast_workers()
    };
    let workers = WorkerPool::spawn(pool.clone(), config);
    // The backlog is being worked on.
    let first_busy = count(
        &pool,
        "SELECT id FROM bulk_operation_runs WHERE tenant_id = $1 ORDER BY created_at LIMIT 1",
        busy.tenant,
    )
    .await;
    wait_until(
        &pool,
        first_busy,
        "claimed",
        |r| r.status != "pending",
        Duration::from_secs(10),
    )
    .await;
    let began = Instant::now();
    let run = start(&pool, backup(&quiet, &quiet.policies))
        .await
        .unwrap()
        .run_id;
    wait_until(
        &pool,
        run,
        "started",
        |r| r.status != "pending",
        Duration::from_secs(10),
    )
    .await;
    let waited = began.elapsed();
    workers.shutdown().await;
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    let left = count(
        &pool,
        "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND status = 'pending'",
        busy.tenant,
    )
    .await;
    assert!(left > 4_900, "the backlog drained first: {left} left");
}

#[sqlx::test]
async fn a_tenant_concurrency_cap_holds_across_claims(pool: PgPool) {
    let fx = fixture(&pool, "acme", 6).await;
    for p in &fx.policies {
        start(&pool, backup(&fx, &[*p])).await.unwrap();
    }
    let claimed = lifecycle::claim(
        &pool,
        "test",
        lifecycle::ClaimLimits {
            tenant_concurrency: Some(2),
            ..super::tests::limits(10)
        },
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 2);
    let again = lifecycle::claim(
        &pool,
        "test",
        lifecycle::ClaimLimits {
            tenant_concurrency: Some(2),
            ..super::tests::limits(10)
        },
    )
    .await
    .unwrap();
    assert!(again.is_empty(), "the cap is reached: {}", again.len());
}

#[sqlx::test]
async fn a_cancel_that_loses_the_race_to_the_last_batch_leaves_the_run_completed(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let mut lock = hold_backup_set(&pool, &fx).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    // The one (last) batch is under way, waiting on the lock.
    blocked_batch(&pool).await;
    assert_eq!(
        cancel(&pool, fx.tenant, fx.operator, run).await.unwrap(),
        Cancelled::Requested
    );
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let row = finished(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "completed", "{row:?}");
    assert_eq!(row.succeeded, 3);
    assert!(codes(&row.failures).is_empty());
    let audit = audit_actions(&pool, run).await;
    let (action, meta) = audit.last().unwrap();
    assert_eq!(action, "bulk_operation_run.finished");
    assert_eq!(meta["late_cancel"], true);
}

/// Puts a run in the state its worker left it in when it died.
async fn as_if_its_worker_died(pool: &PgPool, run: i64, attempts: i32, cancel_requested: bool) {
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = 'running', started_at = now(), attempts = $2, \
         lease_owner = 'gone/1', lease_expires_at = now() - interval '1 second', \
         cancel_requested_at = CASE WHEN $3 THEN now() END WHERE id = $1",
    )
    .bind(run)
    .bind(attempts)
    .bind(cancel_requested)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test]
async fn a_recovered_run_honours_an_earlier_cancel_before_executing_anything(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    as_if_its_worker_died(&pool, run, 1, true).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = finished(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "aborted");
    assert_eq!(row.processed_items, 0);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        0
    );
    let actions: Vec<String> = audit_actions(&pool, run)
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert!(
        actions.contains(&"bulk_operation_run.recovered".to_string()),
        "{actions:?}"
    );
}

#[sqlx::test]
async fn worker_lost_after_a_cancel_request_ends_aborted(pool: PgPool) {
    let fx = fixture(&pool, "acme", 1).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    as_if_its_worker_died(&pool, run, 3, true).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = finished(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "aborted");
}

#[sqlx::test]
async fn an_inventory_sync_never_outlives_its_run(pool: PgPool) {
    let fx = fixture(&pool, "acme", 0).await;
    let run = import_snapshot(
        &pool,
        &fx,
        json!({"selection": {"k": "lost"}, "policies": [
            {"external_id": "a", "policy_type": "t", "display_name": "a"}
        ]}),
    )
    .await;
    // An earlier attempt opened the sync, then its workers kept dying.
    sqlx::query(
        "INSERT INTO inventory_sync_runs (tenant_id, selection_hash, status, bulk_operation_run_id) \
         VALUES ($1, 'lost', 'running', $2)",
    )
    .bind(fx.tenant)
    .bind(run)
    .execute(&pool)
    .await
    .unwrap();
    as_if_its_worker_died(&pool, run, 3, false).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = finished(&pool, run).await;
    workers.shutdown().await;
    assert_eq!(row.status, "failed");
    assert_eq!(codes(&row.failures), ["worker_lost"]);
    let sync = sync_status(&pool, run).await;
    assert_eq!(sync, "failed");
}

#[sqlx::test]
async fn shutdown_releases_a_run_whose_batch_outlives_the_grace_period(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let mut lock = hold_backup_set(&pool, &fx).await;
    let run = start(&pool, backup(&fx, &fx.policies))
        .await
        .unwrap()
        .run_id;
    let workers = WorkerPool::spawn(
        pool.clone(),
        WorkerConfig {
            shutdown_grace: Duration::from_millis(300),
            ..fast_workers()
        },
    );
    blocked_batch(&pool).await;
    let stopping = Instant::now();
    // The aborted batch's transaction ends when its connection is closed;
    // the lock holder lets go so the release can take the row.
    let release_lock = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    });
    workers.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "{:?}",
        stopping.elapsed()
    );
    release_lock.await.unwrap();
    let row = run_row(&pool, run).await;
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("running", 0),
        "{row:?}"
    );
    let owner: Option<String> =
        sqlx::query_scalar("SELECT lease_owner FROM bulk_operation_runs WHERE id = $1")
            .bind(run)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owner, None);
    let audit = audit_actions(&pool, run).await;
    assert!(audit
        .iter()
        .any(|(a, m)| a == "bulk_operation_run.released" && m["reason"] == "shutdown"));
    // Another worker finishes it.
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = finished(&pool, run).await;
    workers.shutdown().await;
    assert_eq!((row.status.as_str(), row.succeeded), ("completed", 3));
}
