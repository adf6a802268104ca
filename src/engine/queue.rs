//! The run lifecycle in Postgres: start (idempotent), claim, progress,
//! finish, cancel and retry. Every change writes its audit entry and
//! notifications in the same transaction and is announced with NOTIFY.

use super::canonical::idempotency_key;
use super::metrics;
use super::notify::RunNotice;
use super::operation::{ClaimedRun, Reason, StartError};
use super::operations;
use crate::db::audit::{notify_user, record_run_event};
use crate::model::{OperationKind, RunCounters, RunStatus};
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

/// Wakes workers: a run is ready to be claimed.
pub const QUEUE_CHANNEL: &str = "opshub_queue";
/// Tells the hub (and workers, for cancels) that a run changed.
pub const EVENTS_CHANNEL: &str = "opshub_run_events";

/// Largest accepted scope, serialized.
pub const MAX_SCOPE_BYTES: usize = 2 * 1024 * 1024;
/// Largest accepted payload (inventory snapshot), serialized.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

pub struct StartRequest {
    pub tenant_id: i64,
    pub user_id: i64,
    pub kind: OperationKind,
    pub scope: Value,
    pub payload: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub run_id: i64,
    /// True when an active run with the same key existed and was returned.
    pub deduplicated: bool,
}

/// The caller's role in the tenant; refuses non-members and viewers.
pub async fn require_operator(
    conn: &mut PgConnection,
    tenant_id: i64,
    user_id: i64,
) -> Result<(), StartError> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    match role.as_deref() {
        Some("operator") => Ok(()),
        Some(_) => Err(StartError::Forbidden(
            "viewers cannot start, cancel or retry operations".into(),
        )),
        None => Err(StartError::NotFound("tenant not found".into())),
    }
}

/// Starts an operation, or returns the active run with the same idempotency
/// key. Safe under any number of concurrent callers.
pub async fn start(pool: &PgPool, req: StartRequest) -> Result<Started, StartError> {
    if req.scope.to_string().len() > MAX_SCOPE_BYTES {
        return Err(StartError::Invalid(format!(
            "the scope is larger than {} MiB",
            MAX_SCOPE_BYTES >> 20
        )));
    }
    if req
        .payload
        .as_ref()
        .is_some_and(|p| p.to_string().len() > MAX_PAYLOAD_BYTES)
    {
        return Err(StartError::Invalid(format!(
            "the payload is larger than {} MiB",
            MAX_PAYLOAD_BYTES >> 20
        )));
    }
    let op = operations::find(req.kind);
    let mut tx = pool.begin().await?;
    require_operator(&mut tx, req.tenant_id, req.user_id).await?;
    let scope = op
        .validate(&mut tx, req.tenant_id, &req.scope, req.payload.as_ref())
        .await?;
    let key = idempotency_key(req.tenant_id, req.kind.key(), &scope);

    // Insert, or join the active run. A concurrent insert that commits while
    // we wait makes ours a no-op that our snapshot cannot see yet: the next
    // statement (a fresh snapshot) finds it. If that run finished meanwhile,
    // try the insert again.
    for _ in 0..10 {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, idempotency_key) WHERE status IN ('pending', 'running') DO NOTHING \
             RETURNING id",
        )
        .bind(req.tenant_id)
        .bind(req.user_id)
        .bind(req.kind.resource())
        .bind(req.kind.action())
        .bind(&key)
        .bind(&scope)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(run_id) = inserted {
            let audit_id = record_run_event(
                &mut tx,
                req.tenant_id,
                Some(req.user_id),
                "bulk_operation_run.started",
                run_id,
                json!({"operation": req.kind.key()}),
                Utc::now(),
            )
            .await?;
            sqlx::query(
                "UPDATE bulk_operation_runs SET audit_log_id = $3 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(req.tenant_id)
            .bind(run_id)
            .bind(audit_id)
            .execute(&mut *tx)
            .await?;
            notify_run(&mut tx, req.tenant_id, run_id).await?;
            announce(&mut tx, QUEUE_CHANNEL, &run_id.to_string()).await?;
            tx.commit().await?;
            metrics::run_started(req.kind);
            return Ok(Started {
                run_id,
                deduplicated: false,
            });
        }
        let existing: Option<i64> = sqlx::query_scalar(
            "UPDATE bulk_operation_runs SET deduplicated_starts = deduplicated_starts + 1 \
             WHERE tenant_id = $1 AND idempotency_key = $2 AND status IN ('pending', 'running') RETURNING id",
        )
        .bind(req.tenant_id)
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(run_id) = existing {
            announce_run(&mut tx, req.tenant_id, run_id, "deduplicated").await?;
            tx.commit().await?;
            metrics::run_deduplicated(req.kind);
            return Ok(Started {
                run_id,
                deduplicated: true,
            });
        }
    }
    Err(StartError::Conflict(
        "the operation is being started and finished repeatedly; try again".into(),
    ))
}

/// Stores the lifecycle notification for the run's initiator, matching its
/// current status (queued while active, completed once finished), and
/// announces the change.
pub async fn notify_run(
    conn: &mut PgConnection,
    tenant_id: i64,
    run_id: i64,
) -> Result<(), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        user_id: i64,
        resource: String,
        action: String,
        status: String,
        total_items: Option<i32>,
        processed_items: i32,
        succeeded: i32,
        failed: i32,
        skipped: i32,
        slug: String,
        name: String,
    }
    let r: Row = sqlx::query_as(
        "SELECT r.user_id, r.resource, r.action, r.status, r.total_items, r.processed_items, r.succeeded, \
                r.failed, r.skipped, t.slug, t.name \
         FROM bulk_operation_runs r JOIN tenants t ON t.id = r.tenant_id \
         WHERE r.tenant_id = $1 AND r.id = $2",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_one(&mut *conn)
    .await?;
    let status = RunStatus::parse(&r.status).unwrap_or(RunStatus::Failed);
    let failures = crate::db::run_failures::counts(&mut *conn, tenant_id, run_id).await?;
    let notice = RunNotice {
        tenant_id,
        tenant_slug: &r.slug,
        tenant_name: &r.name,
        run_id,
        resource: &r.resource,
        action: &r.action,
        status,
        counters: RunCounters {
            total_items: r.total_items,
            processed_items: r.processed_items,
            succeeded: r.succeeded,
            failed: r.failed,
            skipped: r.skipped,
        },
        failures: &failures,
    };
    notify_user(
        &mut *conn,
        tenant_id,
        r.user_id,
        notice.notification_type(),
        notice.payload(),
        Utc::now(),
        None,
    )
    .await?;
    // Everyone watching the tenant sees the status change; only the
    // initiator gets the new notification.
    let change = if status.is_active() {
        "queued"
    } else {
        "finished"
    };
    announce_run(&mut *conn, tenant_id, run_id, change).await?;
    let payload = json!({"tenant_id": tenant_id, "run_id": run_id, "event": "notification", "user_id": r.user_id});
    announce(conn, EVENTS_CHANNEL, &payload.to_string()).await
}

/// NOTIFY inside the transaction: delivered only if it commits.
pub async fn announce(
    conn: &mut PgConnection,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Announces a change of a run to the hub.
pub async fn announce_run(
    conn: &mut PgConnection,
    tenant_id: i64,
    run_id: i64,
    what: &str,
) -> Result<(), sqlx::Error> {
    let payload = json!({"tenant_id": tenant_id, "run_id": run_id, "event": what}).to_string();
    announce(conn, EVENTS_CHANNEL, &payload).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// A pending run, aborted at once.
    Aborted,
    /// A running run, asked to stop; its worker ends it shortly.
    Requested,
}

/// Cancels a pending run at once, or asks a running run's worker to stop.
pub async fn cancel(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    run_id: i64,
) -> Result<Cancelled, StartError> {
    let mut tx = pool.begin().await?;
    require_operator(&mut tx, tenant_id, user_id).await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT status, resource, action FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await?;
    let kind = row
        .as_ref()
        .and_then(|(_, r, a)| OperationKind::from_parts(r, a));
    let outcome = match row
        .as_ref()
        .and_then(|(status, _, _)| RunStatus::parse(status))
    {
        None => return Err(StartError::NotFound(format!("run {run_id} does not exist"))),
        Some(RunStatus::Pending) => {
            let reason = Reason::new("cancelled", "Cancelled by an operator before it started.");
            super::failures::record(&mut tx, tenant_id, run_id, &[reason.failure(None, false)])
                .await?;
            sqlx::query(
                "UPDATE bulk_operation_runs SET status = 'aborted', finished_at = now(), cancel_requested_at = now() \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            record_run_event(
                &mut tx,
                tenant_id,
                Some(user_id),
                "bulk_operation_run.cancelled",
                run_id,
                json!({"status": "aborted"}),
                Utc::now(),
            )
            .await?;
            notify_run(&mut tx, tenant_id, run_id).await?;
            Cancelled::Aborted
        }
        Some(RunStatus::Running) => {
            sqlx::query(
                "UPDATE bulk_operation_runs SET cancel_requested_at = coalesce(cancel_requested_at, now()) \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            record_run_event(
                &mut tx,
                tenant_id,
                Some(user_id),
                "bulk_operation_run.cancel_requested",
                run_id,
                json!({}),
                Utc::now(),
            )
            .await?;
            announce_run(&mut tx, tenant_id, run_id, "cancel_requested").await?;
            Cancelled::Requested
        }
        Some(_) => {
            return Err(StartError::Conflict(format!(
                "run {run_id} has already finished"
            )))
        }
    };
    tx.commit().await?;
    metrics::cancellation(kind);
    Ok(outcome)
}

/// Starts a new run of the same kind scoped to the failed items of a
/// finished run.
pub async fn retry_failed(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    run_id: i64,
) -> Result<Started, StartError> {
    let row: Option<(String, String, String, Value)> = sqlx::query_as(
        "SELECT resource, action, status, item_ids FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    let Some((resource, action, status, item_ids)) = row else {
        return Err(StartError::NotFound(format!("run {run_id} does not exist")));
    };
    if RunStatus::parse(&status).is_none_or(RunStatus::is_active) {
        return Err(StartError::Conflict(format!(
            "run {run_id} has not finished yet"
        )));
    }
    if OperationKind::from_parts(&resource, &action) != Some(OperationKind::BackupSetAddPolicies) {
        return Err(StartError::Invalid(
            "only itemized operations (adding policies to a backup set) can retry failed items"
                .into(),
        ));
    }
    let failed: Vec<i64> = crate::db::run_failures::failed_item_ids(pool, tenant_id, run_id)
        .await?
        .into_iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    if failed.is_empty() {
        return Err(StartError::Conflict(format!(
            "run {run_id} has no failed items to retry"
        )));
    }
    let mut scope = item_ids;
    scope["policy_ids"] = json!(failed);
    start(
        pool,
        StartRequest {
            tenant_id,
            user_id,
            kind: OperationKind::BackupSetAddPolicies,
            scope,
            payload: None,
        },
    )
    .await
}

/// Claims up to `limit` runs in one statement: running runs whose lease
/// expired (their worker died) first, else the oldest pending runs; sets
/// this worker's lease on each.
pub async fn claim_runs(
    pool: &PgPool,
    worker: &str,
    lease_secs: f64,
    limit: i64,
) -> Result<Vec<ClaimedRun>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        tenant_id: i64,
        id: i64,
        user_id: i64,
        resource: String,
        action: String,
        item_ids: Value,
        total_items: Option<i32>,
        processed_items: i32,
        attempts: i32,
        lease_owner: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "WITH stale AS ( \
             SELECT tenant_id, id FROM bulk_operation_runs WHERE status = 'running' AND lease_expires_at < now() \
             ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
         pending AS ( \
             SELECT tenant_id, id FROM bulk_operation_runs WHERE status = 'pending' \
               AND NOT EXISTS (SELECT 1 FROM stale) \
             ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
         pick AS (SELECT tenant_id, id FROM stale UNION ALL SELECT tenant_id, id FROM pending), \
         claimed AS ( \
             UPDATE bulk_operation_runs r SET status = 'running', started_at = coalesce(r.started_at, now()), \
                 lease_owner = $1 || '/' || gen_random_uuid(), \
                 lease_expires_at = now() + make_interval(secs => $2), heartbeat_at = now(), progressed_at = now(), \
                 attempts = r.attempts + 1 \
             FROM pick WHERE r.tenant_id = pick.tenant_id AND r.id = pick.id \
             RETURNING r.tenant_id, r.id, r.user_id, r.resource, r.action, r.item_ids, r.total_items, r.lease_owner, \
                       r.processed_items, r.attempts) \
         SELECT c.* FROM claimed c \
         WHERE pg_notify($4, json_build_object('tenant_id', c.tenant_id, 'run_id', c.id, 'event', 'started')::text) IS NOT NULL",
    )
    .bind(worker)
    .bind(lease_secs)
    .bind(limit.max(1))
    .bind(EVENTS_CHANNEL)
    .fetch_all(pool)
    .await?;
    // Kinds this build does not know stay claimed until their lease expires
    // and fail with worker_lost after the last attempt.
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let kind = OperationKind::from_parts(&r.resource, &r.action)?;
            Some(ClaimedRun {
                tenant_id: r.tenant_id,
                id: r.id,
                user_id: r.user_id,
                kind,
                item_ids: r.item_ids,
                total_items: r.total_items,
                processed_items: r.processed_items,
                attempts: r.attempts,
                lease: r.lease_owner,
            })
        })
        .collect())
}
