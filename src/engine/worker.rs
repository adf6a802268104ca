//! Workers: claim runs from Postgres, execute them in batches under a lease
//! kept alive by heartbeat, and finish them with the status their outcomes
//! imply. Wake on NOTIFY, poll as a fallback, stop gracefully.

use super::metrics;
use super::operation::{ClaimedRun, ItemOutcome, PreparedRun, Reason, RunError};
use super::operations;
use super::queue::{announce_run, claim_runs, notify_run, QUEUE_CHANNEL};
use crate::db::audit::record_run_event;
use crate::model::{RunCounters, RunStatus};
use chrono::Utc;
use serde_json::json;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Runs executed at once by this process.
    pub concurrency: usize,
    /// How long a claim holds without a heartbeat; a dead worker's run is
    /// recovered after at most this plus `poll_interval`.
    pub lease: Duration,
    /// Fallback wake-up when no NOTIFY arrives.
    pub poll_interval: Duration,
    /// Claims of one run before it fails with `worker_lost`.
    pub max_attempts: i32,
    /// Upper bound on items per batch (batches also end after ~250 ms).
    pub max_batch: usize,
    /// A pause between a run's batches: throttles how hard runs press on the
    /// systems they touch (zero: none).
    pub batch_pause: Duration,
    /// On shutdown: how long in-flight batches may take to finish before
    /// what is left is released for another worker.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            max_attempts: 3,
            max_batch: 5_000,
            batch_pause: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// A set of workers in this process.
pub struct WorkerPool {
    token: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl WorkerPool {
    pub fn spawn(pool: PgPool, config: WorkerConfig) -> WorkerPool {
        let token = CancellationToken::new();
        let worker_id = format!("{}:{}", hostname(), uuid::Uuid::new_v4().simple());
        let handle = tokio::spawn(run_pool(pool, config, token.clone(), worker_id));
        WorkerPool { token, handle }
    }

    /// Stops claiming, lets in-flight runs release their claim at the next
    /// batch boundary, and waits for them.
    pub async fn shutdown(self) {
        self.token.cancel();
        let _ = self.handle.await;
    }

    /// Stops at once, as a crash would: claims stay until their lease expires.
    pub fn kill(self) {
        self.handle.abort();
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into())
}

async fn run_pool(pool: PgPool, config: WorkerConfig, token: CancellationToken, worker_id: String) {
    let wake = Arc::new(Notify::new());
    let _listener = AbortOnDrop(tokio::spawn(listen_for_work(
        pool.clone(),
        wake.clone(),
        token.clone(),
    )));
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    tracing::info!(worker = %worker_id, concurrency = config.concurrency, "workers started");
    loop {
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = token.cancelled() => break,
        };
        // Claim as many runs as there are free slots, in one statement.
        let mut permits = vec![first];
        while let Ok(p) = slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let claim_started = Instant::now();
        let claimed = claim_runs(
            &pool,
            &worker_id,
            config.lease.as_secs_f64(),
            permits.len() as i64,
        )
        .await;
        metrics::claim_latency(claim_started.elapsed());
        match claimed {
            Ok(runs) if !runs.is_empty() => {
                for run in runs {
                    if run.attempts > 1 {
                        metrics::lease_recovered(run.kind);
                    }
                    let permit = permits.pop();
                    let (pool, config, token, worker_id) = (
                        pool.clone(),
                        config.clone(),
                        token.clone(),
                        worker_id.clone(),
                    );
                    tasks.spawn(async move {
                        execute(&pool, &config, &token, &worker_id, run).await;
                        drop(permit);
                    });
                }
                drop(permits);
            }
            Ok(_) => {
                drop(permits);
                tokio::select! {
                    _ = wake.notified() => {},
                    _ = tokio::time::sleep(config.poll_interval) => {},
                    _ = token.cancelled() => break,
                }
            }
            Err(err) => {
                drop(permits);
                tracing::warn!(error = %err, "claiming runs failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(config.poll_interval) => {},
                    _ = token.cancelled() => break,
                }
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!(worker = %worker_id, "workers stopped");
}

/// Wakes the claim loop on every NOTIFY of the queue channel.
async fn listen_for_work(pool: PgPool, wake: Arc<Notify>, token: CancellationToken) {
    while !token.is_cancelled() {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(QUEUE_CHANNEL).await.is_err() {
                    continue;
                }
                loop {
                    tokio::select! {
                        n = listener.recv() => match n {
                            Ok(_) => wake.notify_one(),
                            Err(_) => break,
                        },
                        _ = token.cancelled() => return,
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "LISTEN failed; polling until it recovers");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The status a run ends with, from its counters.
pub fn final_status(c: &RunCounters, cancelled: bool, fatal: bool) -> RunStatus {
    if cancelled {
        RunStatus::Aborted
    } else if fatal {
        RunStatus::Failed
    } else if c.failed == 0 {
        RunStatus::Completed
    } else if c.succeeded + c.skipped == 0 {
        RunStatus::Failed
    } else {
        RunStatus::CompletedWithErrors
    }
}

/// Stops a helper task when its owner goes away, including when the owner
/// is aborted (a killed worker must not keep heartbeating).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a run's execution ended for this worker.
enum Ending {
    Finish {
        cancelled: bool,
        fatal: Option<Reason>,
    },
    /// Another worker may continue it (shutdown or storage trouble).
    Release,
    /// The lease was lost to another worker: touch nothing.
    Lost,
    /// Already ended together with its last batch.
    Done,
}

async fn execute(
    pool: &PgPool,
    config: &WorkerConfig,
    token: &CancellationToken,
    me: &str,
    run: ClaimedRun,
) {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "run",
        run_id = run.id,
        tenant_id = run.tenant_id,
        kind = run.kind.key()
    );
    execute_run(pool, config, token, me, run)
        .instrument(span)
        .await
}

async fn execute_run(
    pool: &PgPool,
    config: &WorkerConfig,
    token: &CancellationToken,
    _worker: &str,
    run: ClaimedRun,
) {
    // Every write below is conditional on this claim's own lease token.
    let lease = run.lease.clone();
    let me = lease.as_str();
    let cancel = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = AbortOnDrop(tokio::spawn(heartbeat(
        pool.clone(),
        run.clone(),
        me.to_string(),
        config.lease,
        cancel.clone(),
        lost.clone(),
    )));

    let mut prepared: Option<Box<dyn PreparedRun>> = None;
    let ending = if run.attempts > config.max_attempts {
        Ending::Finish {
            cancelled: false,
            fatal: Some(Reason::new(
                "worker_lost",
                "The run's worker stopped responding too many times.",
            )),
        }
    } else {
        match operations::find(run.kind).prepare(pool, &run).await {
            Ok(mut p) => {
                let ending =
                    process_items(pool, config, token, me, &run, p.as_mut(), &cancel, &lost).await;
                prepared = Some(p);
                ending
            }
            Err(RunError::Fatal(reason)) => Ending::Finish {
                cancelled: false,
                fatal: Some(reason),
            },
            Err(RunError::Transient(err)) => {
                tracing::warn!(error = %err, "preparing the run failed; releasing it");
                Ending::Release
            }
        }
    };
    drop(heartbeat);
    let result = match ending {
        Ending::Finish { cancelled, fatal } => {
            finish(pool, me, &run, prepared.as_mut(), cancelled, fatal).await
        }
        Ending::Release => release(pool, me, &run).await,
        Ending::Lost | Ending::Done => Ok(()),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not record the run's end; its lease will expire and it will be recovered");
    }
}

#[allow(clippy::too_many_arguments)]
async fn process_items(
    pool: &PgPool,
    config: &WorkerConfig,
    token: &CancellationToken,
    me: &str,
    run: &ClaimedRun,
    prepared: &mut dyn PreparedRun,
    cancel: &AtomicBool,
    lost: &AtomicBool,
) -> Ending {
    let items: Vec<String> = prepared.items().to_vec();
    let total = items.len() as i32;
    let mut offset = (run.processed_items.max(0) as usize).min(items.len());
    let mut batch = 50usize.min(config.max_batch).max(1);
    while offset < items.len() {
        if cancel.load(Ordering::Relaxed) {
            return Ending::Finish {
                cancelled: true,
                fatal: None,
            };
        }
        if lost.load(Ordering::Relaxed) {
            return Ending::Lost;
        }
        if token.is_cancelled() {
            return Ending::Release;
        }
        let end = (offset + batch).min(items.len());
        let started = Instant::now();
        let batch_items = &items[offset..end];
        let last = end == items.len();
        match commit_batch(
            pool,
            me,
            run,
            &mut *prepared,
            batch_items,
            total,
            last,
            config.lease,
        )
        .await
        {
            Ok(Batch::Continue { cancel_requested }) => {
                if cancel_requested {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Ok(Batch::Finished) => return Ending::Done,
            Ok(Batch::Lost) => return Ending::Lost,
            Err(RunError::Fatal(reason)) => {
                return Ending::Finish {
                    cancelled: false,
                    fatal: Some(reason),
                }
            }
            Err(RunError::Transient(err)) => {
                tracing::warn!(error = %err, "a batch failed; releasing the run");
                return Ending::Release;
            }
        }
        offset = end;
        if !config.batch_pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(config.batch_pause) => {}
                _ = token.cancelled() => {}
            }
        }
        // Aim for ~250 ms per batch so progress is flushed several times a second.
        let took = started.elapsed();
        if took < Duration::from_millis(100) {
            batch = (batch * 2).min(config.max_batch);
        } else if took > Duration::from_millis(400) {
            batch = (batch / 2).max(1);
        }
    }
    Ending::Finish {
        cancelled: cancel.load(Ordering::Relaxed),
        fatal: None,
    }
}

enum Batch {
    Continue {
        cancel_requested: bool,
    },
    /// The last batch, committed together with the run's end.
    Finished,
    /// This worker no longer holds the run.
    Lost,
}

/// Applies one batch and its counters (and the run's total) in one
/// transaction. The last batch also ends the run in the same transaction,
/// which saves a round of statements per run.
#[allow(clippy::too_many_arguments)]
async fn commit_batch(
    pool: &PgPool,
    me: &str,
    run: &ClaimedRun,
    prepared: &mut dyn PreparedRun,
    items: &[String],
    total: i32,
    last: bool,
    lease: Duration,
) -> Result<Batch, RunError> {
    let mut tx = pool.begin().await?;
    let outcomes = prepared.process(&mut tx, run, items).await?;
    let (mut succeeded, mut failed, mut skipped) = (0i32, 0i32, 0i32);
    let mut entries = Vec::new();
    for (item, outcome) in items.iter().zip(&outcomes) {
        match outcome {
            ItemOutcome::Succeeded => succeeded += 1,
            ItemOutcome::Skipped(r) => {
                skipped += 1;
                entries.push(r.failure(Some(item), true));
            }
            ItemOutcome::Failed(r) => {
                failed += 1;
                entries.push(r.failure(Some(item), false));
            }
        }
    }
    let row: Option<(bool, i32, i32, i32, i32)> = sqlx::query_as(
        "UPDATE bulk_operation_runs SET total_items = $9, processed_items = processed_items + $4, \
             succeeded = succeeded + $5, failed = failed + $6, skipped = skipped + $7, \
             heartbeat_at = now(), progressed_at = now(), lease_expires_at = now() + make_interval(secs => $8) \
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running' \
         RETURNING cancel_requested_at IS NOT NULL, processed_items, succeeded, failed, skipped",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(me)
    .bind(succeeded + failed + skipped)
    .bind(succeeded)
    .bind(failed)
    .bind(skipped)
    .bind(lease.as_secs_f64())
    .bind(total)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((cancel_requested, processed_items, succeeded, failed, skipped)) = row else {
        tx.rollback().await?;
        return Ok(Batch::Lost);
    };
    super::failures::record(&mut tx, run.tenant_id, run.id, &entries).await?;
    metrics::items_processed(run.kind, items.len() as u64);
    if last {
        let counters = RunCounters {
            total_items: Some(total),
            processed_items,
            succeeded,
            failed,
            skipped,
        };
        let status = final_status(&counters, cancel_requested, false);
        end_run(&mut tx, run, prepared, status, None).await?;
        tx.commit().await?;
        metrics::run_finished(run.kind, status);
        tracing::info!(status = status.as_str(), "run finished");
        return Ok(Batch::Finished);
    }
    announce_run(&mut tx, run.tenant_id, run.id, "progress").await?;
    tx.commit().await?;
    Ok(Batch::Continue { cancel_requested })
}

/// Keeps the lease alive and watches for cancel requests, every second at
/// most (so a cancel takes effect within about a second).
async fn heartbeat(
    pool: PgPool,
    run: ClaimedRun,
    me: String,
    lease: Duration,
    cancel: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let every = (lease / 3).min(Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        let beat: Result<Option<bool>, sqlx::Error> = sqlx::query_scalar(
            "UPDATE bulk_operation_runs SET lease_expires_at = now() + make_interval(secs => $4), heartbeat_at = now() \
             WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running' \
             RETURNING cancel_requested_at IS NOT NULL",
        )
        .bind(run.tenant_id)
        .bind(run.id)
        .bind(&me)
        .bind(lease.as_secs_f64())
        .fetch_optional(&pool)
        .await;
        match beat {
            Ok(Some(true)) => cancel.store(true, Ordering::Relaxed),
            Ok(Some(false)) => {}
            Ok(None) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
        }
    }
}

/// Ends the run in its own transaction (for runs that end before or
/// between batches): final status from the counters, then [`end_run`].
async fn finish(
    pool: &PgPool,
    me: &str,
    run: &ClaimedRun,
    prepared: Option<&mut Box<dyn PreparedRun>>,
    cancelled: bool,
    fatal: Option<Reason>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let counters: Option<(Option<i32>, i32, i32, i32, i32)> = sqlx::query_as(
        "SELECT total_items, processed_items, succeeded, failed, skipped FROM bulk_operation_runs \
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running' FOR UPDATE",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(me)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((total_items, processed_items, succeeded, failed, skipped)) = counters else {
        return Ok(()); // no longer ours
    };
    let c = RunCounters {
        total_items,
        processed_items,
        succeeded,
        failed,
        skipped,
    };
    let status = final_status(&c, cancelled, fatal.is_some());
    match prepared {
        Some(p) => end_run(&mut tx, run, p.as_mut(), status, fatal).await?,
        None => end_run(&mut tx, run, &mut NothingPrepared, status, fatal).await?,
    }
    tx.commit().await?;
    metrics::run_finished(run.kind, status);
    tracing::info!(status = status.as_str(), "run finished");
    Ok(())
}

/// For runs that end before their operation prepared anything.
struct NothingPrepared;

#[async_trait::async_trait]
impl PreparedRun for NothingPrepared {
    fn items(&self) -> &[String] {
        &[]
    }

    async fn process(
        &mut self,
        _tx: &mut sqlx::PgConnection,
        _run: &ClaimedRun,
        _items: &[String],
    ) -> Result<Vec<ItemOutcome>, RunError> {
        Ok(Vec::new())
    }
}

/// Writes the run's end inside `tx`: the operation's own completion, the
/// final status, the audit entry and the initiator's notification.
async fn end_run(
    tx: &mut sqlx::PgConnection,
    run: &ClaimedRun,
    prepared: &mut dyn PreparedRun,
    status: RunStatus,
    fatal: Option<Reason>,
) -> Result<(), sqlx::Error> {
    let cancelled = status == RunStatus::Aborted;
    prepared.complete(&mut *tx, run, status).await?;
    let extra = match (&fatal, cancelled) {
        (Some(reason), _) => Some(reason.failure(None, false)),
        (None, true) => Some(
            Reason::new(
                "cancelled",
                "Cancelled by an operator; work already done was kept.",
            )
            .failure(None, false),
        ),
        _ => None,
    };
    if let Some(entry) = extra {
        super::failures::record(&mut *tx, run.tenant_id, run.id, &[entry]).await?;
    }
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = $3, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, \
             total_items = coalesce(total_items, CASE WHEN $4 THEN NULL ELSE processed_items END) \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(status.as_str())
    .bind(fatal.is_some())
    .execute(&mut *tx)
    .await?;
    let action = if cancelled {
        "bulk_operation_run.cancelled"
    } else {
        "bulk_operation_run.finished"
    };
    record_run_event(
        &mut *tx,
        run.tenant_id,
        None,
        action,
        run.id,
        json!({"status": status.as_str()}),
        Utc::now(),
    )
    .await?;
    notify_run(&mut *tx, run.tenant_id, run.id).await
}

/// Hands the run back: claimable again at once, without counting this claim.
async fn release(pool: &PgPool, me: &str, run: &ClaimedRun) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bulk_operation_runs SET lease_owner = NULL, lease_expires_at = now(), attempts = greatest(attempts - 1, 0) \
         WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(run.tenant_id)
    .bind(run.id)
    .bind(me)
    .execute(pool)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(succeeded: i32, failed: i32, skipped: i32) -> RunCounters {
        RunCounters {
            total_items: None,
            processed_items: succeeded + failed + skipped,
            succeeded,
            failed,
            skipped,
        }
    }

    #[test]
    fn outcomes_imply_the_final_status() {
        assert_eq!(
            final_status(&c(5, 0, 0), false, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(0, 0, 3), false, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(0, 0, 0), false, false),
            RunStatus::Completed
        );
        assert_eq!(
            final_status(&c(3, 1, 0), false, false),
            RunStatus::CompletedWithErrors
        );
        assert_eq!(
            final_status(&c(0, 1, 1), false, false),
            RunStatus::CompletedWithErrors
        );
        assert_eq!(final_status(&c(0, 4, 0), false, false), RunStatus::Failed);
        assert_eq!(final_status(&c(5, 0, 0), false, true), RunStatus::Failed);
        assert_eq!(final_status(&c(5, 0, 0), true, false), RunStatus::Aborted);
    }
}
