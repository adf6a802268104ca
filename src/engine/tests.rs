//! The engine against a real Postgres: idempotent starts, workers, progress,
//! cancel, recovery and the three operations.

use super::operation::RequestError;
use super::queue::{cancel, retry_failed, start, Cancelled, StartRequest};
use super::worker::{WorkerConfig, WorkerPool};
use crate::db::testing::{tenant, user};
use crate::model::{FailureEntry, OperationKind};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub(super) struct Fx {
    pub(super) tenant: i64,
    pub(super) operator: i64,
    pub(super) viewer: i64,
    pub(super) backup_set: i64,
    pub(super) policies: Vec<i64>,
}

pub(super) async fn fixture(pool: &PgPool, slug: &str, policies: usize) -> Fx {
    let t = tenant(pool, slug).await;
    let operator = user(pool, &format!("op@{slug}.example")).await;
    let viewer = user(pool, &format!("viewer@{slug}.example")).await;
    for (u, role) in [(operator, "operator"), (viewer, "viewer")] {
        sqlx::query(
            "INSERT INTO tenant_memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)",
        )
        .bind(t)
        .bind(u)
        .bind(role)
        .execute(pool)
        .await
        .unwrap();
    }
    let backup_set: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'Set') RETURNING id",
    )
    .bind(t)
    .fetch_one(pool)
    .await
    .unwrap();
    let policies: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO policies (tenant_id, external_id, policy_type, display_name, settings, settings_hash) \
         SELECT $1, 'p-' || g, 'compliance_policy', 'Policy ' || g, jsonb_build_object('n', g), md5(g::text) \
         FROM generate_series(1, $2) g RETURNING id",
    )
    .bind(t)
    .bind(policies as i32)
    .fetch_all(pool)
    .await
    .unwrap();
    Fx {
        tenant: t,
        operator,
        viewer,
        backup_set,
        policies,
    }
}

pub(super) fn backup(fx: &Fx, ids: &[i64]) -> StartRequest {
    StartRequest {
        tenant_id: fx.tenant,
        user_id: fx.operator,
        kind: OperationKind::BackupSetAddPolicies,
        scope: json!({"backup_set_id": fx.backup_set, "policy_ids": ids, "options": {"include_assignments": true}}),
        payload: None,
    }
}

pub(super) fn limits(runs: i64) -> super::lifecycle::ClaimLimits {
    super::lifecycle::ClaimLimits {
        slots: runs,
        small_items: 0,
        group: 1,
        groups: runs,
        // Claims of the tests keep runs running that no group executes.
        group_parallelism: i64::from(u16::MAX),
        lease: Duration::from_secs(30),
        tenant_concurrency: None,
        rescue: true,
    }
}

pub(super) fn fast_workers() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
        max_attempts: 3,
        max_batch: 500,
        batch_pause: Duration::ZERO,
        shutdown_grace: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(200),
        tenant_concurrency: None,
        small_run_items: 64,
        group_size: 32,
        group_parallelism: 8,
        claim_cooldown: Duration::from_millis(5),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RunRow {
    pub(super) status: String,
    pub(super) total_items: Option<i32>,
    pub(super) processed_items: i32,
    pub(super) succeeded: i32,
    pub(super) failed: i32,
    pub(super) skipped: i32,
    pub(super) failures: Option<Value>,
    pub(super) attempts: i32,
}

pub(super) async fn run_row(pool: &PgPool, id: i64) -> RunRow {
    sqlx::query_as(
        "SELECT status, total_items, processed_items, succeeded, failed, skipped, failures, attempts \
         FROM bulk_operation_runs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub(super) async fn wait_until(
    pool: &PgPool,
    id: i64,
    what: &str,
    done: impl Fn(&RunRow) -> bool,
    limit: Duration,
) -> RunRow {
    let until = Instant::now() + limit;
    loop {
        let row = run_row(pool, id).await;
        if done(&row) {
            return row;
        }
        assert!(Instant::now() < until, "run {id} never got {what}: {row:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(super) async fn finished(pool: &PgPool, id: i64) -> RunRow {
    wait_until(
        pool,
        id,
        "finished",
        |r| !["pending", "running"].contains(&r.status.as_str()),
        Duration::from_secs(30),
    )
    .await
}

pub(super) async fn count(pool: &PgPool, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn concurrent_starts_yield_one_active_run_for_every_caller(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let mut calls = Vec::new();
    for _ in 0..200 {
        let (pool, req) = (pool.clone(), backup(&fx, &fx.policies));
        calls.push(tokio::spawn(
            async move { start(&pool, req).await.unwrap() },
        ));
    }
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    let id = results[0].run_id;
    assert!(results.iter().all(|r| r.run_id == id));
    assert_eq!(results.iter().filter(|r| !r.deduplicated).count(), 1);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT deduplicated_starts::bigint FROM bulk_operation_runs WHERE id = $1",
            id
        )
        .await,
        199
    );
    // The start is audited and its initiator notified once; every joined
    // start leaves an audit entry of its own.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_logs WHERE subject_id = $1 AND action = 'bulk_operation_run.started'",
            id
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_logs WHERE subject_id = $1 AND action = 'bulk_operation_run.start_joined'",
            id
        )
        .await,
        199
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM notifications WHERE (data->'run'->>'id')::bigint = $1 AND type = 'opshub.run_queued'", id).await, 1);
}

#[sqlx::test]
async fn backup_items_succeed_skip_or_fail_with_reason_codes(pool: PgPool) {
    let fx = fixture(&pool, "acme", 4).await;
    let other = fixture(&pool, "globex", 1).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());

    let first = start(&pool, backup(&fx, &fx.policies[..2])).await.unwrap();
    assert_eq!(finished(&pool, first.run_id).await.status, "completed");
    // Two already present, two new, one unknown, one of another tenant.
    let ids = [fx.policies.clone(), vec![987_654, other.policies[0]]].concat();
    let second = start(&pool, backup(&fx, &ids)).await.unwrap();
    let row = finished(&pool, second.run_id).await;
    workers.shutdown().await;

    assert_eq!(row.status, "completed_with_errors");
    assert_eq!((row.total_items, row.processed_items), (Some(6), 6));
    assert_eq!((row.succeeded, row.skipped, row.failed), (2, 2, 2));
    let failures = FailureEntry::list_from_json(row.failures.as_ref());
    let codes = |skipped: bool| {
        let mut v: Vec<_> = failures
            .iter()
            .filter(|f| f.skipped == skipped)
            .map(|f| (f.reason_code.clone(), f.item_id.clone().unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        codes(false),
        [
            (
                "policy_not_found".to_string(),
                other.policies[0].to_string()
            ),
            ("policy_not_found".to_string(), "987654".to_string())
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert!(codes(true)
        .iter()
        .all(|(code, _)| code == "already_in_backup_set"));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
            other.tenant
        )
        .await,
        0
    );
    // Finishing wrote the audit entry and the completed notification.
    assert_eq!(count(&pool, "SELECT count(*) FROM audit_logs WHERE subject_id = $1 AND action = 'bulk_operation_run.finished'", second.run_id).await, 1);
    let payload: Value = sqlx::query_scalar(
        "SELECT data FROM notifications WHERE type = 'opshub.run_completed' AND (data->'run'->>'id')::bigint = $1",
    )
    .bind(second.run_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(payload["status_bucket"], "partial");
    assert_eq!(payload["error_summary"], "2 failures: policy_not_found (2)");
    assert_eq!(payload["url"], format!("/runs/{}", second.run_id));
}

#[sqlx::test]
async fn two_worker_pools_never_process_the_same_run(pool: PgPool) {
    let fx = fixture(&pool, "acme", 30).await;
    let mut ids = Vec::new();
    for p in &fx.policies {
        ids.push(start(&pool, backup(&fx, &[*p])).await.unwrap().run_id);
    }
    let (a, b) = (
        WorkerPool::spawn(pool.clone(), fast_workers()),
        WorkerPool::spawn(pool.clone(), fast_workers()),
    );
    for id in &ids {
        let row = finished(&pool, *id).await;
        assert_eq!(
            (row.status.as_str(), row.attempts, row.succeeded),
            ("completed", 1, 1)
        );
    }
    a.shutdown().await;
    b.shutdown().await;
    let finishes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'bulk_operation_run.finished'",
    )
    .bind(fx.tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(finishes, ids.len() as i64);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        30
    );
}

#[sqlx::test]
async fn cancelling_a_pending_run_aborts_it_at_once(pool: PgPool) {
    let fx = fixture(&pool, "acme", 2).await;
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    assert_eq!(
        cancel(&pool, fx.tenant, fx.operator, run.run_id)
            .await
            .unwrap(),
        Cancelled::Aborted
    );
    let row = run_row(&pool, run.run_id).await;
    assert_eq!((row.status.as_str(), row.processed_items), ("aborted", 0));
    assert!(matches!(
        cancel(&pool, fx.tenant, fx.operator, run.run_id).await,
        Err(RequestError::Conflict(_))
    ));
    // A viewer and another tenant cannot cancel.
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    assert!(matches!(
        cancel(&pool, fx.tenant, fx.viewer, run.run_id).await,
        Err(RequestError::Forbidden(_))
    ));
    let other = fixture(&pool, "globex", 1).await;
    assert!(matches!(
        cancel(&pool, other.tenant, other.operator, run.run_id).await,
        Err(RequestError::NotFound(_))
    ));
    assert_eq!(run_row(&pool, run.run_id).await.status, "pending");
}

#[sqlx::test]
async fn cancelling_a_running_run_stops_it_promptly_and_keeps_its_work(pool: PgPool) {
    let fx = fixture(&pool, "acme", 20_000).await;
    let config = WorkerConfig {
        max_batch: 20,
        ..fast_workers()
    };
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    let workers = WorkerPool::spawn(pool.clone(), config);
    wait_until(
        &pool,
        run.run_id,
        "progress",
        |r| r.processed_items > 0,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        cancel(&pool, fx.tenant, fx.operator, run.run_id)
            .await
            .unwrap(),
        Cancelled::Requested
    );
    let asked = Instant::now();
    let row = finished(&pool, run.run_id).await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        asked.elapsed()
    );
    workers.shutdown().await;
    assert_eq!(row.status, "aborted");
    assert!(
        row.processed_items > 0 && row.processed_items < 20_000,
        "{row:?}"
    );
    assert_eq!(row.succeeded, row.processed_items);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        row.succeeded as i64
    );
}

#[sqlx::test]
async fn a_killed_workers_run_is_recovered_without_duplicated_effects(pool: PgPool) {
    let fx = fixture(&pool, "acme", 20_000).await;
    let config = WorkerConfig {
        max_batch: 50,
        lease: Duration::from_secs(1),
        ..fast_workers()
    };
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    let doomed = WorkerPool::spawn(pool.clone(), config.clone());
    wait_until(
        &pool,
        run.run_id,
        "progress",
        |r| r.processed_items >= 500,
        Duration::from_secs(20),
    )
    .await;
    doomed.kill();
    let killed_at = Instant::now();
    let survivor = WorkerPool::spawn(pool.clone(), config);
    wait_until(
        &pool,
        run.run_id,
        "a second attempt",
        |r| r.attempts == 2,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "recovery took {:?}",
        killed_at.elapsed()
    );
    let row = finished(&pool, run.run_id).await;
    survivor.shutdown().await;
    assert_eq!(row.status, "completed");
    assert_eq!(
        (row.processed_items, row.succeeded, row.failed, row.skipped),
        (20_000, 20_000, 0, 0)
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        20_000
    );
}

#[sqlx::test]
async fn a_large_runs_batches_commit_in_order_so_its_effects_are_always_a_prefix(pool: PgPool) {
    // Batches are applied two at a time; whatever is committed at any moment
    // must be the first `processed_items` items of the scope, or a run
    // resumed after a crash would skip some items and redo others.
    let fx = fixture(&pool, "acme", 5_000).await;
    let config = WorkerConfig {
        max_batch: 20,
        ..fast_workers()
    };
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    let workers = WorkerPool::spawn(pool.clone(), config);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut looks = 0;
    loop {
        // One snapshot: the run's count and the items copied so far.
        let (status, processed, copied, in_prefix): (String, i32, i64, i64) = sqlx::query_as(
            "SELECT r.status, r.processed_items, \
                    (SELECT count(*) FROM backup_items b WHERE b.tenant_id = r.tenant_id AND b.backup_set_id = $3), \
                    (SELECT count(*) FROM backup_items b WHERE b.tenant_id = r.tenant_id AND b.backup_set_id = $3 \
                        AND b.policy_id = ANY(($4::bigint[])[1:r.processed_items])) \
             FROM bulk_operation_runs r WHERE r.tenant_id = $1 AND r.id = $2",
        )
        .bind(fx.tenant)
        .bind(run.run_id)
        .bind(fx.backup_set)
        .bind(&fx.policies)
        .fetch_one(&pool)
        .await
        .unwrap();
        looks += 1;
        assert_eq!(
            (copied, in_prefix),
            (i64::from(processed), i64::from(processed)),
            "look {looks}: {processed} items counted, {copied} copied, {in_prefix} of them the first {processed}"
        );
        if status == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not finish");
    }
    workers.shutdown().await;
    assert!(looks > 10, "only {looks} looks at the run while it ran");
}

#[sqlx::test]
async fn a_claim_planned_without_its_values_updates_its_runs_by_key_on_a_large_table(pool: PgPool) {
    // Workers plan the claim once per connection, without the values of its
    // parameters. Planned so, it must still reach the runs it takes through
    // their key: a scan of the run table grows with every run ever kept.
    let fx = fixture(&pool, "acme", 1).await;
    sqlx::query(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids) \
         SELECT $1, $2, 'backup_set', 'add_policies', 'k-' || g, '{}' FROM generate_series(1, 50000) g",
    )
    .bind(fx.tenant)
    .bind(fx.operator)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE bulk_operation_runs")
        .execute(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "PREPARE claim_probe AS {}",
        *super::lifecycle::CLAIM_SQL
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN EXECUTE claim_probe('w', 30, 32, ARRAY['backup_set.add_policies'], NULL, \
         'bulk_operation_run.recovered', 64, 32, 256, true, 8, 8)",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(!plan.is_empty(), "no plan");
    let scans: Vec<&String> = plan
        .iter()
        .filter(|line| line.contains("Seq Scan on bulk_operation_runs"))
        .collect();
    assert!(
        scans.is_empty(),
        "the claim scans the run table:\n{}",
        plan.join("\n")
    );
}

#[sqlx::test]
async fn a_run_lost_too_often_fails_with_worker_lost(pool: PgPool) {
    let fx = fixture(&pool, "acme", 1).await;
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    // Three claims whose workers vanished.
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = 'running', started_at = now(), attempts = 3, \
         lease_owner = 'gone', lease_expires_at = now() - interval '1 second' WHERE id = $1",
    )
    .bind(run.run_id)
    .execute(&pool)
    .await
    .unwrap();
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = finished(&pool, run.run_id).await;
    workers.shutdown().await;
    assert_eq!(row.status, "failed");
    let failures = FailureEntry::list_from_json(row.failures.as_ref());
    assert_eq!(failures[0].reason_code, "worker_lost");
}

#[sqlx::test]
async fn retry_starts_a_run_scoped_to_the_failed_items(pool: PgPool) {
    let fx = fixture(&pool, "acme", 2).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let first = start(&pool, backup(&fx, &[fx.policies[0], 555_001, 555_002]))
        .await
        .unwrap();
    assert_eq!(
        finished(&pool, first.run_id).await.status,
        "completed_with_errors"
    );
    let retry = retry_failed(&pool, fx.tenant, fx.operator, first.run_id)
        .await
        .unwrap();
    assert_ne!(retry.run_id, first.run_id);
    let scope: Value = sqlx::query_scalar("SELECT item_ids FROM bulk_operation_runs WHERE id = $1")
        .bind(retry.run_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(scope["policy_ids"], json!([555_001, 555_002]));
    assert_eq!(finished(&pool, retry.run_id).await.status, "failed");
    workers.shutdown().await;
}

pub(super) async fn import(pool: &PgPool, fx: &Fx, policies: Value) -> i64 {
    let req = StartRequest {
        tenant_id: fx.tenant,
        user_id: fx.operator,
        kind: OperationKind::InventorySync,
        scope: json!({"source": "test.json"}),
        payload: Some(json!({"selection": {"policy_types": ["all"]}, "policies": policies})),
    };
    start(pool, req).await.unwrap().run_id
}

#[sqlx::test]
async fn inventory_import_and_drift_find_changes_once(pool: PgPool) {
    let fx = fixture(&pool, "acme", 0).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let p = |id: &str, pin: i64| json!({"external_id": id, "policy_type": "compliance_policy", "display_name": id, "settings": {"pin": pin}});
    let first = import(&pool, &fx, json!([p("a", 4), p("b", 6), p("c", 8)])).await;
    assert_eq!(finished(&pool, first).await.status, "completed");
    let second = import(
        &pool,
        &fx,
        json!([p("a", 4), p("b", 7), p("d", 1), {"external_id": "broken"}, 42]),
    )
    .await;
    let row = finished(&pool, second).await;
    assert_eq!(row.status, "completed_with_errors");
    assert_eq!((row.succeeded, row.failed), (3, 2));
    let failures = FailureEntry::list_from_json(row.failures.as_ref());
    assert!(failures
        .iter()
        .all(|f| f.reason_code == "invalid_policy_entry"));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM policies WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        4
    );

    let scope_key: String = sqlx::query_scalar(
        "SELECT item_ids->>'selection_hash' FROM bulk_operation_runs WHERE id = $1",
    )
    .bind(second)
    .fetch_one(&pool)
    .await
    .unwrap();
    let drift = || StartRequest {
        tenant_id: fx.tenant,
        user_id: fx.operator,
        kind: OperationKind::DriftGenerate,
        scope: json!({"scope_key": scope_key}),
        payload: None,
    };
    let d1 = start(&pool, drift()).await.unwrap();
    let row = finished(&pool, d1.run_id).await;
    assert_eq!(
        (row.status.as_str(), row.total_items),
        ("completed", Some(4))
    );
    let changes: Vec<(String, String)> = sqlx::query_as(
        "SELECT subject_external_id, evidence_jsonb->>'change_type' FROM findings WHERE tenant_id = $1 ORDER BY 1",
    )
    .bind(fx.tenant)
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected = [("b", "modified"), ("c", "removed"), ("d", "added")];
    assert_eq!(
        changes,
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Regenerating on the same inputs updates, never duplicates.
    let d2 = start(&pool, drift()).await.unwrap();
    assert_ne!(d1.run_id, d2.run_id);
    assert_eq!(finished(&pool, d2.run_id).await.status, "completed");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM findings WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        3
    );
    workers.shutdown().await;
}

#[sqlx::test]
async fn bad_start_requests_are_refused_and_write_nothing(pool: PgPool) {
    let fx = fixture(&pool, "acme", 2).await;
    let other = fixture(&pool, "globex", 1).await;
    let viewer = StartRequest {
        user_id: fx.viewer,
        ..backup(&fx, &fx.policies)
    };
    assert!(matches!(
        start(&pool, viewer).await,
        Err(RequestError::Forbidden(_))
    ));
    let outsider = StartRequest {
        user_id: other.operator,
        ..backup(&fx, &fx.policies)
    };
    assert!(matches!(
        start(&pool, outsider).await,
        Err(RequestError::NotFound(_))
    ));
    let foreign_set = StartRequest {
        scope: json!({"backup_set_id": other.backup_set, "policy_ids": [1]}),
        ..backup(&fx, &fx.policies)
    };
    assert!(matches!(
        start(&pool, foreign_set).await,
        Err(RequestError::NotFound(_))
    ));
    for scope in [
        json!([1, 2]),
        json!({"backup_set_id": "x", "policy_ids": [1]}),
        json!({"backup_set_id": fx.backup_set, "policy_ids": []}),
        json!({"backup_set_id": fx.backup_set, "policy_ids": [-1]}),
        json!({"backup_set_id": fx.backup_set, "policy_ids": [1], "surprise": true}),
        json!({"backup_set_id": fx.backup_set, "policy_ids": [1], "options": {"include_assignments": "yes"}}),
        json!({"backup_set_id": fx.backup_set, "policy_ids": vec![1; 300_000]}),
    ] {
        let req = StartRequest {
            scope,
            ..backup(&fx, &fx.policies)
        };
        assert!(matches!(
            start(&pool, req).await,
            Err(RequestError::Invalid(_))
        ));
    }
    let drift = StartRequest {
        kind: OperationKind::DriftGenerate,
        scope: json!({"scope_key": "no-such-scope"}),
        ..backup(&fx, &fx.policies)
    };
    assert!(matches!(
        start(&pool, drift).await,
        Err(RequestError::Invalid(_))
    ));
    let import = StartRequest {
        kind: OperationKind::InventorySync,
        scope: json!({}),
        ..backup(&fx, &fx.policies)
    };
    assert!(matches!(
        start(&pool, import).await,
        Err(RequestError::Invalid(_))
    ));
    for table in [
        "bulk_operation_runs",
        "audit_logs",
        "notifications",
        "inventory_snapshots",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

#[sqlx::test]
async fn claiming_a_run_announces_that_it_started(pool: PgPool) {
    let fx = fixture(&pool, "acme", 1).await;
    let run = crate::db::testing::pending_run(&pool, fx.tenant, fx.operator, None)
        .await
        .unwrap();
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener
        .listen(crate::engine::queue::EVENTS_CHANNEL)
        .await
        .unwrap();
    let claimed = super::lifecycle::claim(&pool, "test", limits(5))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let note = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("an event within 5 s")
        .unwrap();
    let event: crate::model::RunEvent = serde_json::from_str(note.payload()).unwrap();
    assert_eq!(
        event,
        crate::model::RunEvent::new(fx.tenant, run, crate::model::RunEventKind::Started)
    );
}

#[sqlx::test]
async fn a_paced_run_shows_progress_between_its_batches(pool: PgPool) {
    let fx = fixture(&pool, "paced", 6).await;
    let config = WorkerConfig {
        max_batch: 1,
        batch_pause: Duration::from_millis(150),
        ..fast_workers()
    };
    let run = start(&pool, backup(&fx, &fx.policies)).await.unwrap();
    let workers = WorkerPool::spawn(pool.clone(), config);
    // One item a batch, a pause after each: the run is seen part-way.
    let midway = wait_until(
        &pool,
        run.run_id,
        "part-way",
        |r| r.status == "running" && r.processed_items > 0 && r.processed_items < 6,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(midway.total_items, Some(6));
    let done = finished(&pool, run.run_id).await;
    workers.shutdown().await;
    assert_eq!((done.status.as_str(), done.succeeded), ("completed", 6));
}

#[sqlx::test]
async fn a_run_of_many_unknown_policies_keeps_a_bounded_sample_and_counts_them_all(pool: PgPool) {
    let fx = fixture(&pool, "acme", 1).await;
    let unknown: Vec<i64> = (0..5_000).map(|i| 7_000_000 + i).collect();
    let run = start(&pool, backup(&fx, &unknown)).await.unwrap();
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    let row = finished(&pool, run.run_id).await;
    workers.shutdown().await;
    assert_eq!((row.status.as_str(), row.failed), ("failed", 5_000));
    let sample = FailureEntry::list_from_json(row.failures.as_ref());
    assert_eq!(sample.len(), super::failures::SAMPLE_ITEMS as usize);
    assert_eq!(sample[0].item_id.as_deref(), Some("7000000"));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM bulk_operation_run_failures WHERE run_id = $1",
            run.run_id
        )
        .await,
        5_000
    );
    let payload: Value = sqlx::query_scalar(
        "SELECT data FROM notifications WHERE type = 'opshub.run_completed' AND (data->'run'->>'id')::bigint = $1",
    )
    .bind(run.run_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        payload["error_summary"],
        "5000 failures: policy_not_found (5000)"
    );
}
