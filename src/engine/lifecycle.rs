//! The one owner of a run's lifecycle. Every change of a run's status (its
//! creation, claim, cancel, end) and every hand-over between workers
//! (release, recovery) is written here, together with what goes with it in
//! the same transaction: the audit entry, the initiator's notification and
//! the live event (`NOTIFY`, delivered only if the transaction commits).
//!
//! Callers decide *when* (the worker loop, the start and cancel requests);
//! this module decides *what is written*.

use super::failures;
use super::operation::{ClaimedRun, ItemOutcome, Reason, RequestError};
use super::operations;
use crate::db::audit::record_run_event;
use crate::db::notifications::notify_user;
use crate::engine::notify::RunNotice;
use crate::model::{
    FailureEntry, FailureGroup, OperationKind, RunAuditAction, RunCounters, RunEvent, RunEventKind,
    RunStatus,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;

/// Wakes workers: a run is ready to be claimed.
pub const QUEUE_CHANNEL: &str = "opshub_queue";
/// Tells the hub (and workers, for cancels) that a run changed.
pub const EVENTS_CHANNEL: &str = "opshub_run_events";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub run_id: i64,
    /// True when an active run with the same key existed and was returned.
    pub deduplicated: bool,
}

/// `NOTIFY`s to send once the transaction that wrote what they announce has
/// committed (see [`open`]).
#[derive(Debug, Default)]
#[must_use = "announce them after the commit"]
pub struct AfterCommit {
    channels: Vec<&'static str>,
    payloads: Vec<String>,
}

impl AfterCommit {
    fn push(&mut self, channel: &'static str, payload: String) {
        self.channels.push(channel);
        self.payloads.push(payload);
    }

    /// Sends them, in one statement. Run it after the commit: a failure here
    /// loses only a wake-up (workers poll) and a live update (open pages
    /// resync when their stream reconnects).
    pub async fn send(self, pool: &PgPool) -> Result<(), sqlx::Error> {
        if self.channels.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS a(c, p)")
            .bind(&self.channels)
            .bind(&self.payloads)
            .execute(pool)
            .await
            .map(|_| ())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// A pending run, aborted at once.
    Aborted,
    /// A running run, asked to stop; its worker ends it shortly.
    Requested,
}

/// A run to open: who asks, in which tenant, and the id the run gets (taken
/// when the caller was admitted, so the notification can name it).
pub struct Opening<'a> {
    pub tenant: TenantRef<'a>,
    pub run_id: i64,
    pub user_id: i64,
    pub kind: OperationKind,
    pub key: &'a str,
    pub scope: &'a Value,
    pub planned_items: Option<i32>,
}

/// Creates a pending run for `key`, or joins the active run with that key.
/// Both are audited with the caller as actor. Runs inside the caller's
/// transaction, which has validated the request. A new run is written in one
/// statement: the run, its audit entry and the initiator's notification.
///
/// Its live events (queued, the new notification, the workers' wake-up) are
/// returned to be sent after the commit: Postgres serializes the commits of
/// transactions that `NOTIFY`, their disk flush included, which would queue
/// concurrent starts one behind the other.
pub async fn open(
    tx: &mut PgConnection,
    o: &Opening<'_>,
) -> Result<(Started, AfterCommit), RequestError> {
    let (tenant_id, user_id, kind, key) = (o.tenant.id, o.user_id, o.kind, o.key);
    let notice = RunNotice {
        tenant_id,
        tenant_slug: o.tenant.slug,
        tenant_name: o.tenant.name,
        run_id: o.run_id,
        resource: kind.resource(),
        action: kind.action(),
        status: RunStatus::Pending,
        counters: RunCounters {
            total_items: o.planned_items,
            ..RunCounters::default()
        },
        failures: &[],
    };
    // A concurrent insert that commits while we wait makes ours a no-op that
    // our snapshot cannot see yet: the next statement (a fresh snapshot)
    // finds it. If that run finished meanwhile, try the insert again.
    for _ in 0..10 {
        let inserted: Option<i64> = sqlx::query_scalar(
            "WITH run AS ( \
                 INSERT INTO bulk_operation_runs (tenant_id, id, user_id, resource, action, idempotency_key, item_ids, \
                                                  total_items, audit_log_id) OVERRIDING SYSTEM VALUE \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nextval(pg_get_serial_sequence('audit_logs', 'id'))) \
                 ON CONFLICT (tenant_id, idempotency_key) WHERE status IN ('pending', 'running') DO NOTHING \
                 RETURNING tenant_id, id, user_id, audit_log_id), \
             audit AS ( \
                 INSERT INTO audit_logs (tenant_id, id, actor_user_id, action, subject_type, subject_id, metadata) \
                 OVERRIDING SYSTEM VALUE \
                 SELECT tenant_id, audit_log_id, user_id, $9, 'bulk_operation_run', id, $10 FROM run), \
             notice AS ( \
                 INSERT INTO notifications (tenant_id, id, type, notifiable_type, notifiable_id, data) \
                 SELECT tenant_id, gen_random_uuid(), $11, 'user', user_id, $12 FROM run) \
             SELECT id FROM run",
        )
        .bind(tenant_id)
        .bind(o.run_id)
        .bind(user_id)
        .bind(kind.resource())
        .bind(kind.action())
        .bind(key)
        .bind(o.scope)
        .bind(o.planned_items)
        .bind(RunAuditAction::Started.as_str())
        .bind(json!({"operation": kind.key()}))
        .bind(notice.notification_type())
        .bind(notice.payload())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(run_id) = inserted {
            let mut after = AfterCommit::default();
            let queued = RunEvent::new(tenant_id, run_id, RunEventKind::Queued);
            let for_initiator = RunEvent {
                user_id: Some(user_id),
                ..RunEvent::new(tenant_id, run_id, RunEventKind::Notification)
            };
            after.push(EVENTS_CHANNEL, event_json(&queued));
            after.push(EVENTS_CHANNEL, event_json(&for_initiator));
            after.push(QUEUE_CHANNEL, run_id.to_string());
            return Ok((
                Started {
                    run_id,
                    deduplicated: false,
                },
                after,
            ));
        }
        let existing: Option<i64> = sqlx::query_scalar(
            "UPDATE bulk_operation_runs SET deduplicated_starts = deduplicated_starts + 1 \
             WHERE tenant_id = $1 AND idempotency_key = $2 AND status IN ('pending', 'running') RETURNING id",
        )
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(run_id) = existing {
            audit(
                tx,
                tenant_id,
                Some(user_id),
                RunAuditAction::StartJoined,
                run_id,
                json!({"operation": kind.key()}),
            )
            .await?;
            announce_run(tx, tenant_id, run_id, RunEventKind::Deduplicated).await?;
            return Ok((
                Started {
                    run_id,
                    deduplicated: true,
                },
                AfterCommit::default(),
            ));
        }
    }
    Err(RequestError::Conflict(
        "the operation is being started and finished repeatedly; try again".into(),
    ))
}

/// Cancels a pending run at once, or asks a running run's worker to stop.
/// Returns the run's kind too (None for kinds this build does not know).
pub async fn cancel(
    tx: &mut PgConnection,
    tenant_id: i64,
    user_id: i64,
    run_id: i64,
) -> Result<(Cancelled, Option<OperationKind>), RequestError> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT status, resource, action FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, resource, action)) = row else {
        return Err(RequestError::NotFound(format!(
            "run {run_id} does not exist"
        )));
    };
    let kind = OperationKind::from_parts(&resource, &action);
    match RunStatus::parse(&status) {
        Some(RunStatus::Pending) => {
            let reason = Reason::new("cancelled", "Cancelled by an operator before it started.");
            failures::record(tx, tenant_id, run_id, &[reason.failure(None, false)]).await?;
            sqlx::query(
                "UPDATE bulk_operation_runs SET status = 'aborted', finished_at = now(), cancel_requested_at = now() \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            audit(
                tx,
                tenant_id,
                Some(user_id),
                RunAuditAction::Cancelled,
                run_id,
                json!({"status": "aborted"}),
            )
            .await?;
            notify_run(tx, tenant_id, run_id).await?;
            Ok((Cancelled::Aborted, kind))
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
            audit(
                tx,
                tenant_id,
                Some(user_id),
                RunAuditAction::CancelRequested,
                run_id,
                json!({}),
            )
            .await?;
            announce_run(tx, tenant_id, run_id, RunEventKind::CancelRequested).await?;
            Ok((Cancelled::Requested, kind))
        }
        _ => Err(RequestError::Conflict(format!(
            "run {run_id} has already finished"
        ))),
    }
}

/// What a claim may take.
#[derive(Clone, Copy, Debug)]
pub struct ClaimLimits {
    /// Free worker slots. A run takes a slot, except small runs, which share
    /// one slot per group.
    pub slots: i64,
    /// Runs of at most this many items are small (executed in groups).
    pub small_items: i32,
    /// Small runs executed together in one slot.
    pub group: i64,
    /// Groups of small runs this claim may start: the groups this process
    /// has room for (see `WorkerConfig::group_parallelism`).
    pub groups: i64,
    /// Most groups of small runs running at once on the database, across
    /// every worker process. The claim counts the small runs running (the
    /// claims take turns, so it sees every earlier claim's) as groups of
    /// `group` and takes no more small runs than that leaves room for.
    pub group_parallelism: i64,
    /// How long the claim holds without a heartbeat.
    pub lease: Duration,
    /// Most runs of one tenant running at once, across all workers (None:
    /// no cap). Checked at claim time: concurrent claims may pass it by
    /// the number of claiming processes.
    pub tenant_concurrency: Option<i32>,
    /// Whether this claim also looks for running runs whose lease expired
    /// or whose retry time came. That look reads every running run, so a
    /// busy worker takes it once per poll interval, not on every claim.
    pub rescue: bool,
}

/// Most runs one claim takes: a larger claim costs more than it saves, and
/// leaves less of a backlog to the other worker processes.
const MAX_CLAIM: i64 = 256;

/// The advisory lock claims take turns behind (hashed into its key). A
/// session holding it holds every claim back until it lets go.
const CLAIM_TURNS: &str = "opshub claim";

/// Holds every claim back on `conn`'s session until [`release_claims`] (or
/// the session's end): claims wait for their turn behind it.
pub async fn hold_claims(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(CLAIM_TURNS)
        .execute(conn)
        .await?;
    Ok(())
}

/// Lets the claims [`hold_claims`] held back go on.
pub async fn release_claims(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(CLAIM_TURNS)
        .execute(conn)
        .await?;
    Ok(())
}

impl ClaimLimits {
    /// The most runs one claim returns.
    fn most(&self) -> i64 {
        (self.slots.max(1) * self.group.max(1)).min(MAX_CLAIM)
    }
}

/// The claim statement. Its pick is capped by a constant, not only by a
/// parameter: workers plan it once per connection without the parameters'
/// values, and an estimate of thousands of picked runs made Postgres update
/// them through a scan of the whole run table, slower with every run kept.
pub(super) static CLAIM_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH RECURSIVE stale AS ( \
             SELECT r.tenant_id, r.id, r.lease_owner IS NOT NULL AS lost FROM bulk_operation_runs r \
             WHERE $10 AND r.status = 'running' AND r.lease_expires_at < now() \
               AND r.resource || '.' || r.action = ANY($4) \
             ORDER BY r.lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
         waiting AS ( \
             (SELECT tenant_id FROM bulk_operation_runs WHERE status = 'pending' ORDER BY tenant_id LIMIT 1) \
             UNION ALL \
             SELECT (SELECT r.tenant_id FROM bulk_operation_runs r \
                     WHERE r.status = 'pending' AND r.tenant_id > t.tenant_id ORDER BY r.tenant_id LIMIT 1) \
             FROM waiting t WHERE t.tenant_id IS NOT NULL), \
         per_tenant AS ( \
             SELECT greatest(ceil($9::numeric / greatest(count(*), 1)), 1)::bigint AS share \
             FROM waiting WHERE tenant_id IS NOT NULL), \
         group_room AS ( \
             SELECT least($11, $12 - count(*) / $8) AS groups FROM bulk_operation_runs \
             WHERE status = 'running' AND total_items <= $7), \
         locked AS ( \
             SELECT l.*, busy.n AS busy, coalesce(l.total_items <= $7, false) AS small FROM waiting t \
             CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM bulk_operation_runs b \
                                 WHERE b.tenant_id = t.tenant_id AND b.status = 'running') busy \
             CROSS JOIN LATERAL ( \
                 SELECT r.tenant_id, r.id, r.created_at, r.total_items FROM bulk_operation_runs r \
                 WHERE r.tenant_id = t.tenant_id AND r.status = 'pending' \
                   AND r.resource || '.' || r.action = ANY($4) \
                 ORDER BY r.created_at, r.id LIMIT (SELECT share FROM per_tenant) FOR UPDATE SKIP LOCKED) l \
             WHERE t.tenant_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stale)), \
         candidates AS ( \
             SELECT c.tenant_id, c.id, c.created_at, \
                    row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.created_at, c.id)::int + c.busy AS score, \
                    c.small, CASE WHEN c.small THEN 1.0 / $8 ELSE 1.0 END AS cost \
             FROM locked c), \
         admitted AS ( \
             SELECT c.*, sum(CASE WHEN c.small THEN c.cost ELSE 0 END) \
                         OVER (ORDER BY c.score, c.created_at, c.id) AS groups_used \
             FROM candidates c WHERE $5::int IS NULL OR c.score <= $5), \
         ranked AS ( \
             SELECT c.*, sum(c.cost) OVER (ORDER BY c.score, c.created_at, c.id) AS slots_used FROM admitted c \
             WHERE NOT c.small OR c.groups_used <= (SELECT groups FROM group_room) + 1e-9), \
         pending AS ( \
             SELECT tenant_id, id, false AS lost FROM ranked WHERE slots_used <= $3 + 1e-9 \
             ORDER BY score, created_at, id LIMIT $9), \
         pick AS (SELECT * FROM (SELECT * FROM stale UNION ALL SELECT * FROM pending) p LIMIT {MAX_CLAIM}), \
         claimed AS ( \
             UPDATE bulk_operation_runs r SET status = 'running', started_at = coalesce(r.started_at, now()), \
                 lease_owner = $1 || '/' || gen_random_uuid(), \
                 lease_expires_at = now() + make_interval(secs => $2), heartbeat_at = now(), progressed_at = now(), \
                 attempts = r.attempts + 1 \
             FROM pick WHERE r.tenant_id = pick.tenant_id AND r.id = pick.id \
             RETURNING r.tenant_id, r.id, r.user_id, r.resource, r.action, r.item_ids, r.total_items, r.lease_owner, \
                       r.processed_items, r.attempts, r.cancel_requested_at IS NOT NULL AS cancel_requested, \
                       pick.lost AS recovered), \
         recovered AS ( \
             INSERT INTO audit_logs (tenant_id, action, subject_type, subject_id, metadata) \
             SELECT tenant_id, $6, 'bulk_operation_run', id, jsonb_build_object('attempt', attempts) \
             FROM claimed WHERE recovered) \
         SELECT c.*, t.slug AS tenant_slug, t.name AS tenant_name FROM claimed c JOIN tenants t ON t.id = c.tenant_id"
    )
});

/// Claims runs in one statement, only of kinds this build executes:
///
/// 1. when `limits.rescue`: running runs whose lease expired (their worker
///    died) or whose retry time has come (released after a transient
///    error), oldest first, one per slot;
/// 2. otherwise pending runs, fairly between tenants: each tenant with
///    pending runs offers its oldest, ranked by how many of the tenant's runs
///    would then be running, so a tenant's backlog never delays another
///    tenant's first run by more than one claim. They fill the free slots,
///    small runs counting as a fraction of a slot, and as many groups of
///    small runs as `limits.groups` allows and the groups running on the
///    database leave room for (`limits.group_parallelism`). The runs a
///    tenant offers are the oldest no other claim holds at that moment
///    (locked as they are read), so claims of several workers take
///    different runs instead of all ranking the same ones and finding them
///    taken. Each tenant offers an even share of what one claim takes, so
///    a claim over many tenants locks about as many runs as it returns.
///
/// Sets this worker's lease on each, counts the attempt, audits recoveries
/// and announces that the runs started.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    limits: ClaimLimits,
) -> Result<Vec<ClaimedRun>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        tenant_id: i64,
        tenant_slug: String,
        tenant_name: String,
        id: i64,
        user_id: i64,
        resource: String,
        action: String,
        item_ids: Value,
        total_items: Option<i32>,
        processed_items: i32,
        attempts: i32,
        lease_owner: String,
        cancel_requested: bool,
        recovered: bool,
    }
    let kinds: Vec<&str> = OperationKind::ALL.iter().map(|k| k.key()).collect();
    // Claims take turns. A claim locks the pending runs it reads; one that
    // read a run as pending just before another process's claim took it
    // locks the run as it is now (running) and, finding it no longer
    // pending, leaves it, but keeps the lock until its statement ends: the
    // owner's group then waited for the other claim to commit before it
    // could end its runs, longer with every process added. Behind the
    // advisory lock, the claim's statement starts after the previous claim
    // committed, so every run it reads as pending still is.
    //
    // The claim's commit does not wait for its WAL to reach the disk, so the
    // next claim does not wait for that either. What it writes is safe to
    // lose in a crash: every change a worker makes to a run it claimed
    // commits later, and a durable commit makes the WAL written before it
    // (the claim's) durable too; a claim lost with the crash leaves its runs
    // pending, to be claimed again.
    let mut tx = crate::db::begin(pool).await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), \
                set_config('synchronous_commit', 'off', true)",
    )
    .bind(CLAIM_TURNS)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<Row> = sqlx::query_as(&CLAIM_SQL)
        .bind(worker)
        .bind(limits.lease.as_secs_f64())
        .bind(limits.slots.max(1))
        .bind(&kinds)
        .bind(limits.tenant_concurrency)
        .bind(RunAuditAction::Recovered.as_str())
        .bind(limits.small_items)
        .bind(limits.group.max(1) as f64)
        .bind(limits.most())
        .bind(limits.rescue)
        .bind(limits.groups.max(0) as f64)
        .bind(limits.group_parallelism.max(1) as f64)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    // Announced after the claim committed (see `open`).
    let mut started = AfterCommit::default();
    for r in &rows {
        let event = RunEvent::new(r.tenant_id, r.id, RunEventKind::Started);
        started.push(EVENTS_CHANNEL, event_json(&event));
    }
    if let Err(err) = started.send(pool).await {
        tracing::warn!(error = %err, runs = rows.len(), "could not announce claimed runs");
    }
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            // Only known kinds were claimed; the lookup cannot fail.
            let kind = OperationKind::from_parts(&r.resource, &r.action)?;
            Some(ClaimedRun {
                tenant_id: r.tenant_id,
                tenant_slug: r.tenant_slug,
                tenant_name: r.tenant_name,
                id: r.id,
                user_id: r.user_id,
                kind,
                item_ids: r.item_ids,
                total_items: r.total_items,
                processed_items: r.processed_items,
                attempts: r.attempts,
                lease: r.lease_owner,
                cancel_requested: r.cancel_requested,
                recovered: r.recovered,
            })
        })
        .collect())
}

/// Keeps a claim's lease alive. `Some(cancel requested)` while the claim
/// holds, `None` once it was lost.
pub async fn heartbeat(
    pool: &PgPool,
    run: &ClaimedRun,
    lease: Duration,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE bulk_operation_runs SET lease_expires_at = now() + make_interval(secs => $4), heartbeat_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running' \
         RETURNING cancel_requested_at IS NOT NULL",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(&run.lease)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Keeps the leases of a group of runs alive, in one statement. Rows the
/// group's own transaction holds (it is ending them) are skipped, never
/// waited for.
pub async fn heartbeat_group(
    pool: &PgPool,
    runs: &[ClaimedRun],
    lease: Duration,
) -> Result<(), sqlx::Error> {
    let tenants: Vec<i64> = runs.iter().map(|r| r.tenant_id).collect();
    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let leases: Vec<&str> = runs.iter().map(|r| r.lease.as_str()).collect();
    sqlx::query(
        "WITH held AS ( \
             SELECT r.tenant_id, r.id FROM bulk_operation_runs r \
             JOIN unnest($1::bigint[], $2::bigint[], $3::text[]) AS g(tenant_id, id, lease) \
               ON r.tenant_id = g.tenant_id AND r.id = g.id AND r.lease_owner = g.lease \
             WHERE r.status = 'running' FOR UPDATE OF r SKIP LOCKED) \
         UPDATE bulk_operation_runs r SET lease_expires_at = now() + make_interval(secs => $4), heartbeat_at = now() \
         FROM held WHERE r.tenant_id = held.tenant_id AND r.id = held.id",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(&leases)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await
    .map(|_| ())
}

/// One batch's outcomes, counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub succeeded: i32,
    pub failed: i32,
    pub skipped: i32,
    /// Failure and skip entries, in item order.
    pub entries: Vec<FailureEntry>,
}

impl Tally {
    /// Counts the outcomes of `items` (in the same order).
    pub fn of(items: &[String], outcomes: &[ItemOutcome]) -> Tally {
        let mut tally = Tally::default();
        for (item, outcome) in items.iter().zip(outcomes) {
            match outcome {
                ItemOutcome::Succeeded => tally.succeeded += 1,
                ItemOutcome::Skipped(r) => {
                    tally.skipped += 1;
                    tally.entries.push(r.failure(Some(item), true));
                }
                ItemOutcome::Failed(r) => {
                    tally.failed += 1;
                    tally.entries.push(r.failure(Some(item), false));
                }
            }
        }
        tally
    }

    pub fn processed(&self) -> i32 {
        self.succeeded + self.failed + self.skipped
    }
}

/// What recording a batch did to the run.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    Continue {
        cancel_requested: bool,
    },
    /// The last batch: the run ended with it, in the same transaction.
    Finished(RunStatus),
    /// This claim no longer holds the run: nothing was written.
    Lost,
}

/// Records a batch's counters and failures inside `tx` (which holds the
/// batch's effects), renews the lease, and with the last batch ends the run.
pub async fn record_batch(
    tx: &mut PgConnection,
    run: &ClaimedRun,
    tally: Tally,
    total: i32,
    last: bool,
    lease: Duration,
) -> Result<Recorded, sqlx::Error> {
    let row: Option<(bool, i32, i32, i32, i32)> = sqlx::query_as(
        "UPDATE bulk_operation_runs SET total_items = $9, processed_items = processed_items + $4, \
             succeeded = succeeded + $5, failed = failed + $6, skipped = skipped + $7, \
             heartbeat_at = now(), progressed_at = now(), lease_expires_at = now() + make_interval(secs => $8) \
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running' \
         RETURNING cancel_requested_at IS NOT NULL, processed_items, succeeded, failed, skipped",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(&run.lease)
    .bind(tally.processed())
    .bind(tally.succeeded)
    .bind(tally.failed)
    .bind(tally.skipped)
    .bind(lease.as_secs_f64())
    .bind(total)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((cancel_requested, processed_items, succeeded, failed, skipped)) = row else {
        return Ok(Recorded::Lost);
    };
    failures::record(tx, run.tenant_id, run.id, &tally.entries).await?;
    if last {
        let counters = RunCounters {
            total_items: Some(total),
            processed_items,
            succeeded,
            failed,
            skipped,
        };
        let status = end(tx, run, &Outcome::Done, &counters, cancel_requested).await?;
        return Ok(Recorded::Finished(status));
    }
    announce_run(tx, run.tenant_id, run.id, RunEventKind::Progress).await?;
    Ok(Recorded::Continue { cancel_requested })
}

/// A run of a group, executed whole: its outcomes and item count.
pub struct Executed<'a> {
    pub run: &'a ClaimedRun,
    pub tally: Tally,
    pub total: i32,
}

/// Ends a group of freshly claimed runs whose items were all processed in
/// `tx`: each run's failures, counters and final status, its audit entry,
/// the initiator's notification and the live events, in one statement for
/// the whole group. Returns each run's final status and the live events to
/// send once `tx` committed (see [`open`]), or `None` when a claim of the
/// group no longer holds: then roll `tx` back.
pub async fn complete_group(
    tx: &mut PgConnection,
    group: &[Executed<'_>],
) -> Result<Option<(Vec<RunStatus>, AfterCommit)>, sqlx::Error> {
    let mut tenants = Vec::with_capacity(group.len());
    let mut ids = Vec::with_capacity(group.len());
    let mut leases = Vec::with_capacity(group.len());
    let mut totals = Vec::with_capacity(group.len());
    let mut counts: [Vec<i32>; 3] = Default::default();
    let mut statuses = Vec::with_capacity(group.len());
    let mut notices = Vec::with_capacity(group.len());
    let mut events = AfterCommit::default();
    for Executed { run, tally, total } in group {
        debug_assert!(run.processed_items == 0 && !run.recovered);
        let counters = RunCounters {
            total_items: Some(*total),
            processed_items: tally.processed(),
            succeeded: tally.succeeded,
            failed: tally.failed,
            skipped: tally.skipped,
        };
        // A cancel that came meanwhile lost the race: every item is done.
        let status = final_status(&counters, &Outcome::Done, false);
        failures::record(tx, run.tenant_id, run.id, &tally.entries).await?;
        operations::find(run.kind).finish(tx, run, status).await?;
        let groups = crate::model::group_failures(&tally.entries);
        let notice = RunNotice {
            tenant_id: run.tenant_id,
            tenant_slug: &run.tenant_slug,
            tenant_name: &run.tenant_name,
            run_id: run.id,
            resource: run.kind.resource(),
            action: run.kind.action(),
            status,
            counters,
            failures: &groups,
        };
        tenants.push(run.tenant_id);
        ids.push(run.id);
        leases.push(run.lease.as_str());
        totals.push(*total);
        counts[0].push(tally.succeeded);
        counts[1].push(tally.failed);
        counts[2].push(tally.skipped);
        statuses.push(status);
        notices.push(notice.payload());
        let finished = RunEvent::new(run.tenant_id, run.id, RunEventKind::Finished);
        let for_initiator = RunEvent {
            user_id: Some(run.user_id),
            ..RunEvent::new(run.tenant_id, run.id, RunEventKind::Notification)
        };
        events.push(EVENTS_CHANNEL, event_json(&finished));
        events.push(EVENTS_CHANNEL, event_json(&for_initiator));
    }
    let ended: i64 = sqlx::query_scalar(
        "WITH g AS ( \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[], \
                                  $8::text[], $9::jsonb[]) \
                 AS g(tenant_id, id, lease, total, succeeded, failed, skipped, status, notice)), \
         ended AS ( \
             UPDATE bulk_operation_runs r SET status = g.status, finished_at = now(), lease_owner = NULL, \
                 lease_expires_at = NULL, total_items = g.total, \
                 processed_items = g.succeeded + g.failed + g.skipped, \
                 succeeded = g.succeeded, failed = g.failed, skipped = g.skipped, \
                 heartbeat_at = now(), progressed_at = now() \
             FROM g WHERE r.tenant_id = g.tenant_id AND r.id = g.id AND r.lease_owner = g.lease \
               AND r.status = 'running' AND r.processed_items = 0 \
             RETURNING r.tenant_id, r.id, r.user_id, r.status, r.cancel_requested_at IS NOT NULL AS late_cancel, \
                       g.notice), \
         audit AS ( \
             INSERT INTO audit_logs (tenant_id, action, subject_type, subject_id, metadata) \
             SELECT tenant_id, $10, 'bulk_operation_run', id, \
                    CASE WHEN late_cancel THEN jsonb_build_object('status', status, 'late_cancel', true) \
                         ELSE jsonb_build_object('status', status) END \
             FROM ended), \
         notice AS ( \
             INSERT INTO notifications (tenant_id, id, type, notifiable_type, notifiable_id, data) \
             SELECT tenant_id, gen_random_uuid(), $11, 'user', user_id, notice FROM ended) \
         SELECT count(*) FROM ended",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(&leases)
    .bind(&totals)
    .bind(&counts[0])
    .bind(&counts[1])
    .bind(&counts[2])
    .bind(statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    .bind(&notices)
    .bind(RunAuditAction::Finished.as_str())
    .bind(crate::engine::notify::RUN_COMPLETED)
    .fetch_one(&mut *tx)
    .await?;
    Ok((ended as usize == group.len()).then_some((statuses, events)))
}

/// How a run's execution ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every item was processed.
    Done,
    /// Stopped between batches because an operator asked.
    Cancelled,
    /// Cannot go on: the run fails with this reason (or ends `aborted` with
    /// it when a cancel had been requested).
    Fatal(Reason),
}

/// The status a run ends with. A cancel that comes after the last item was
/// processed changes nothing: the work is done and the status says so.
pub fn final_status(c: &RunCounters, outcome: &Outcome, cancel_requested: bool) -> RunStatus {
    match outcome {
        Outcome::Cancelled => RunStatus::Aborted,
        Outcome::Fatal(_) if cancel_requested => RunStatus::Aborted,
        Outcome::Fatal(_) => RunStatus::Failed,
        Outcome::Done if c.failed == 0 => RunStatus::Completed,
        Outcome::Done if c.succeeded + c.skipped == 0 => RunStatus::Failed,
        Outcome::Done => RunStatus::CompletedWithErrors,
    }
}

/// Ends a claimed run in its own transaction (for runs that end before or
/// between batches). `None` when the claim no longer holds it.
pub async fn finish(
    pool: &PgPool,
    run: &ClaimedRun,
    outcome: Outcome,
) -> Result<Option<RunStatus>, sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    let row: Option<(Option<i32>, i32, i32, i32, i32, bool)> = sqlx::query_as(
        "SELECT total_items, processed_items, succeeded, failed, skipped, cancel_requested_at IS NOT NULL \
         FROM bulk_operation_runs \
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running' FOR UPDATE",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(&run.lease)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((total_items, processed_items, succeeded, failed, skipped, cancel_requested)) = row
    else {
        return Ok(None);
    };
    let counters = RunCounters {
        total_items,
        processed_items,
        succeeded,
        failed,
        skipped,
    };
    let status = end(&mut tx, run, &outcome, &counters, cancel_requested).await?;
    tx.commit().await?;
    Ok(Some(status))
}

/// Writes a run's end inside `tx`: the operation's own completion, the
/// final status, the audit entry and the initiator's notification.
async fn end(
    tx: &mut PgConnection,
    run: &ClaimedRun,
    outcome: &Outcome,
    counters: &RunCounters,
    cancel_requested: bool,
) -> Result<RunStatus, sqlx::Error> {
    let status = final_status(counters, outcome, cancel_requested);
    operations::find(run.kind).finish(tx, run, status).await?;
    let mut extra = Vec::new();
    if let Outcome::Fatal(reason) = outcome {
        extra.push(reason.failure(None, false));
    }
    if status == RunStatus::Aborted {
        extra.push(
            Reason::new(
                "cancelled",
                "Cancelled by an operator; work already done was kept.",
            )
            .failure(None, false),
        );
    }
    failures::record(tx, run.tenant_id, run.id, &extra).await?;
    let fatal = matches!(outcome, Outcome::Fatal(_));
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = $3, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, \
             total_items = coalesce(total_items, CASE WHEN $4 THEN NULL ELSE processed_items END) \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(status.as_str())
    .bind(fatal)
    .execute(&mut *tx)
    .await?;
    let (action, metadata) = if status == RunStatus::Aborted {
        (
            RunAuditAction::Cancelled,
            json!({"status": status.as_str()}),
        )
    } else if cancel_requested {
        // The cancel lost the race: every item was already processed.
        (
            RunAuditAction::Finished,
            json!({"status": status.as_str(), "late_cancel": true}),
        )
    } else {
        (RunAuditAction::Finished, json!({"status": status.as_str()}))
    };
    audit(tx, run.tenant_id, None, action, run.id, metadata).await?;
    notify_run(tx, run.tenant_id, run.id).await?;
    Ok(status)
}

/// Why a worker hands a run back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// The process is stopping: the claim does not count as an attempt.
    Shutdown,
    /// Storage trouble that may pass: the attempt counts, and the run may be
    /// claimed again only after a backoff that grows with each attempt.
    Transient {
        /// A safe description (no server message).
        error: String,
        /// The first retry's delay; doubled per attempt, at most 64×,
        /// with ±50 % jitter.
        backoff: Duration,
    },
}

impl Release {
    pub fn label(&self) -> &'static str {
        match self {
            Release::Shutdown => "shutdown",
            Release::Transient { .. } => "transient_error",
        }
    }
}

/// Hands a claimed run back; returns the delay before it may be claimed
/// again, or `None` when the claim no longer held it.
pub async fn release(
    pool: &PgPool,
    run: &ClaimedRun,
    why: &Release,
) -> Result<Option<f64>, sqlx::Error> {
    let (backoff, counts) = match why {
        Release::Shutdown => (0.0, false),
        Release::Transient { backoff, .. } => (backoff.as_secs_f64(), true),
    };
    let mut tx = crate::db::begin(pool).await?;
    // An aborted batch of this claim may still hold the row for a moment.
    sqlx::query("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    let delay: Option<f64> = sqlx::query_scalar(
        "WITH d AS (SELECT CASE WHEN $5 THEN $4 * power(2, least(greatest(r.attempts - 1, 0), 6)) * (0.5 + random()) \
                                ELSE 0 END::float8 AS secs \
                    FROM bulk_operation_runs r WHERE r.tenant_id = $1 AND r.id = $2) \
         UPDATE bulk_operation_runs r SET lease_owner = NULL, \
             lease_expires_at = now() + make_interval(secs => d.secs), \
             attempts = CASE WHEN $5 THEN r.attempts ELSE greatest(r.attempts - 1, 0) END \
         FROM d WHERE r.tenant_id = $1 AND r.id = $2 AND r.lease_owner = $3 AND r.status = 'running' \
         RETURNING d.secs",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(&run.lease)
    .bind(backoff)
    .bind(counts)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(delay) = delay else {
        return Ok(None);
    };
    let mut metadata = json!({
        "reason": why.label(),
        "attempt": run.attempts,
        "retry_after_secs": (delay * 1000.0).round() / 1000.0,
    });
    if let Release::Transient { error, .. } = why {
        metadata["error"] = json!(error);
    }
    audit(
        &mut tx,
        run.tenant_id,
        None,
        RunAuditAction::Released,
        run.id,
        metadata,
    )
    .await?;
    announce_run(&mut tx, run.tenant_id, run.id, RunEventKind::Released).await?;
    if !counts {
        // Claimable at once: wake a worker. After a backoff, the poll finds it.
        announce(&mut tx, QUEUE_CHANNEL, &run.id.to_string()).await?;
    }
    tx.commit().await?;
    Ok(Some(delay))
}

/// Stores the lifecycle notification for the run's initiator, matching its
/// current status (queued while active, completed once finished), and
/// announces the change to the tenant.
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
        RunEventKind::Queued
    } else {
        RunEventKind::Finished
    };
    announce_run(&mut *conn, tenant_id, run_id, change).await?;
    let for_initiator = RunEvent {
        user_id: Some(r.user_id),
        ..RunEvent::new(tenant_id, run_id, RunEventKind::Notification)
    };
    announce_event(conn, &for_initiator).await
}

/// A tenant as notifications name it.
#[derive(Clone, Copy, Debug)]
pub struct TenantRef<'a> {
    pub id: i64,
    pub slug: &'a str,
    pub name: &'a str,
}

/// A run of the past, replayed with its own times (the demo's history).
pub struct HistoricRun<'a> {
    pub tenant: TenantRef<'a>,
    pub user_id: i64,
    pub kind: OperationKind,
    pub key: &'a str,
    pub scope: &'a Value,
    pub created: DateTime<Utc>,
    /// Notifications created before this were read an hour after.
    pub read_before: DateTime<Utc>,
}

/// Where a replayed run's history stops.
pub enum HistoricOutcome {
    Pending,
    /// Running, with an expired lease as if its worker had died: workers
    /// recover and finish it once they start.
    Running {
        started: DateTime<Utc>,
        counters: RunCounters,
    },
    Finished {
        started: Option<DateTime<Utc>>,
        finished: DateTime<Utc>,
        status: RunStatus,
        counters: RunCounters,
        failures: Vec<FailureEntry>,
    },
}

/// Writes a past run through the same transitions, audit entries,
/// notifications and failure records as a live one, at the given times.
pub async fn replay(
    tx: &mut PgConnection,
    run: &HistoricRun<'_>,
    outcome: HistoricOutcome,
) -> Result<i64, sqlx::Error> {
    let (t, kind, user_id, created) = (run.tenant, run.kind, run.user_id, run.created);
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(t.id)
    .bind(user_id)
    .bind(kind.resource())
    .bind(kind.action())
    .bind(run.key)
    .bind(run.scope)
    .bind(created)
    .fetch_one(&mut *tx)
    .await?;
    let audit_id = record_run_event(
        tx,
        t.id,
        Some(user_id),
        RunAuditAction::Started.as_str(),
        run_id,
        json!({"operation": kind.key()}),
        created,
    )
    .await?;
    sqlx::query(
        "UPDATE bulk_operation_runs SET audit_log_id = $3 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(t.id)
    .bind(run_id)
    .bind(audit_id)
    .execute(&mut *tx)
    .await?;
    let notice = |status: RunStatus, counters: RunCounters, failures: &[FailureGroup]| {
        RunNotice {
            tenant_id: t.id,
            tenant_slug: t.slug,
            tenant_name: t.name,
            run_id,
            resource: kind.resource(),
            action: kind.action(),
            status,
            counters,
            failures,
        }
        .payload()
    };
    let read_at =
        |at: DateTime<Utc>| (at < run.read_before).then_some(at + chrono::Duration::hours(1));
    notify_user(
        tx,
        t.id,
        user_id,
        crate::engine::notify::RUN_QUEUED,
        notice(RunStatus::Pending, RunCounters::default(), &[]),
        created,
        read_at(created),
    )
    .await?;

    let (started, counters) = match &outcome {
        HistoricOutcome::Pending => return Ok(run_id),
        HistoricOutcome::Running { started, counters } => (Some(*started), *counters),
        HistoricOutcome::Finished {
            started, counters, ..
        } => (*started, *counters),
    };
    if let Some(started) = started {
        sqlx::query(
            "UPDATE bulk_operation_runs SET status = 'running', started_at = $3, attempts = 1, \
             lease_owner = 'demo-seed', lease_expires_at = $3, heartbeat_at = $3, progressed_at = $3, \
             total_items = $4, processed_items = $5, succeeded = $6, failed = $7, skipped = $8 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.id)
        .bind(run_id)
        .bind(started)
        .bind(counters.total_items)
        .bind(counters.processed_items)
        .bind(counters.succeeded)
        .bind(counters.failed)
        .bind(counters.skipped)
        .execute(&mut *tx)
        .await?;
    }
    let HistoricOutcome::Finished {
        finished,
        status,
        failures: entries,
        ..
    } = outcome
    else {
        return Ok(run_id);
    };
    // Failures are recorded while the run is still open.
    failures::record(tx, t.id, run_id, &entries).await?;
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = $3, finished_at = $4, total_items = $5, processed_items = $6, \
         succeeded = $7, failed = $8, skipped = $9 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(t.id)
    .bind(run_id)
    .bind(status.as_str())
    .bind(finished)
    .bind(counters.total_items)
    .bind(counters.processed_items)
    .bind(counters.succeeded)
    .bind(counters.failed)
    .bind(counters.skipped)
    .execute(&mut *tx)
    .await?;
    let action = if status == RunStatus::Aborted {
        RunAuditAction::Cancelled
    } else {
        RunAuditAction::Finished
    };
    record_run_event(
        tx,
        t.id,
        Some(user_id),
        action.as_str(),
        run_id,
        json!({"status": status.as_str()}),
        finished,
    )
    .await?;
    notify_user(
        tx,
        t.id,
        user_id,
        crate::engine::notify::RUN_COMPLETED,
        notice(status, counters, &crate::model::group_failures(&entries)),
        finished,
        read_at(finished),
    )
    .await?;
    Ok(run_id)
}

/// Appends an audit entry about a run.
async fn audit(
    conn: &mut PgConnection,
    tenant_id: i64,
    actor: Option<i64>,
    action: RunAuditAction,
    run_id: i64,
    metadata: Value,
) -> Result<i64, sqlx::Error> {
    record_run_event(
        conn,
        tenant_id,
        actor,
        action.as_str(),
        run_id,
        metadata,
        Utc::now(),
    )
    .await
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

/// A live event as its NOTIFY payload.
fn event_json(event: &RunEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// Announces a live event to the hub.
pub async fn announce_event(conn: &mut PgConnection, event: &RunEvent) -> Result<(), sqlx::Error> {
    announce(conn, EVENTS_CHANNEL, &event_json(event)).await
}

/// Announces a change of a run to its tenant.
pub async fn announce_run(
    conn: &mut PgConnection,
    tenant_id: i64,
    run_id: i64,
    what: RunEventKind,
) -> Result<(), sqlx::Error> {
    announce_event(conn, &RunEvent::new(tenant_id, run_id, what)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(succeeded: i32, failed: i32, skipped: i32) -> RunCounters {
        RunCounters {
            total_items: Some(succeeded + failed + skipped),
            processed_items: succeeded + failed + skipped,
            succeeded,
            failed,
            skipped,
        }
    }

    #[test]
    fn outcomes_imply_the_final_status() {
        let done = Outcome::Done;
        let fatal = Outcome::Fatal(Reason::new("worker_lost", "Lost."));
        assert_eq!(
            final_status(&c(5, 0, 0), &done, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(0, 0, 3), &done, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(0, 0, 0), &done, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(3, 1, 0), &done, false),
            RunStatus::CompletedWithErrors
        );
        assert_eq!(
            final_status(&c(0, 1, 1), &done, false),
            RunStatus::CompletedWithErrors
        );
        assert_eq!(final_status(&c(0, 4, 0), &done, false), RunStatus::Failed);
        assert_eq!(final_status(&c(5, 0, 0), &fatal, false), RunStatus::Failed);
        assert_eq!(
            final_status(&c(5, 0, 0), &Outcome::Cancelled, true),
            RunStatus::Aborted
        );
    }

    #[test]
    fn a_late_cancel_keeps_the_outcome_and_a_cancel_wins_over_a_lost_worker() {
        assert_eq!(
            final_status(&c(5, 0, 0), &Outcome::Done, true),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(4, 1, 0), &Outcome::Done, true),
            RunStatus::CompletedWithErrors
        );
        let lost = Outcome::Fatal(Reason::new("worker_lost", "Lost."));
        assert_eq!(final_status(&c(2, 0, 0), &lost, true), RunStatus::Aborted);
    }
}
