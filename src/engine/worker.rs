//! Workers: the claim loop and the timing of a run's execution. They claim
//! runs from Postgres, execute them in batches under a lease kept alive by
//! heartbeat, and hand every change of the run to
//! [`lifecycle`](super::lifecycle). Wake on NOTIFY, poll as a fallback, stop
//! gracefully.

use super::lifecycle::{
    self, ClaimLimits, Executed, Outcome, Recorded, Release, Tally, QUEUE_CHANNEL,
};
use super::metrics;
use super::operation::{describe_error, ClaimedRun, ItemOutcome, PreparedRun, Reason, RunError};
use super::operations;
use crate::model::RunStatus;
use futures_util::stream::{FuturesOrdered, StreamExt as _};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument as _;

/// Connections a worker pool needs besides one per slot: the claim loop, the
/// LISTEN connection, heartbeats and announcements.
pub const SPARE_CONNECTIONS: u32 = 4;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Runs executed at once by this process.
    pub concurrency: usize,
    /// How long a claim holds without a heartbeat; a dead worker's run is
    /// recovered after at most this plus `poll_interval`.
    pub lease: Duration,
    /// Fallback wake-up when no NOTIFY arrives.
    pub poll_interval: Duration,
    /// Claims of one run before it fails (`worker_lost` when its workers
    /// kept dying, `storage_unavailable` when storage kept failing).
    pub max_attempts: i32,
    /// Upper bound on items per batch (batches also end after ~250 ms).
    pub max_batch: usize,
    /// A pause between a run's batches: throttles how hard runs press on the
    /// systems they touch (zero: none).
    pub batch_pause: Duration,
    /// On shutdown: how long in-flight batches may take to finish before
    /// what is left is released for another worker.
    pub shutdown_grace: Duration,
    /// The first retry's delay after a transient error; doubled per attempt.
    pub retry_backoff: Duration,
    /// Most runs of one tenant running at once across all workers (None: no cap).
    pub tenant_concurrency: Option<i32>,
    /// Runs of at most this many items are small: they are claimed and
    /// executed together, several per slot, in one transaction per group.
    pub small_run_items: i32,
    /// Small runs per group (and per slot).
    pub group_size: usize,
    /// Most groups of small runs executing at once on the database, across
    /// every worker process (each process's claims count the others'). A
    /// group is database work from start to end (its items, then one
    /// statement ends its runs): more of them at once than the database
    /// has cores only queue inside Postgres, slowing every other statement,
    /// the claims that all worker processes take turns on among them, and
    /// the more so the more processes each run their own. Slots beyond it
    /// go to runs executed one by one.
    pub group_parallelism: usize,
    /// Least time between two claims of this process: while runs arrive one
    /// by one, they are claimed (and completed) a few at a time rather than
    /// each on its own. An idle worker claims at once.
    pub claim_cooldown: Duration,
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
            retry_backoff: Duration::from_secs(2),
            tenant_concurrency: None,
            small_run_items: 64,
            group_size: 32,
            group_parallelism: 8,
            claim_cooldown: Duration::from_millis(5),
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

    /// Stops claiming at once, lets in-flight batches finish (each run is
    /// then released at its batch boundary) for up to the configured grace
    /// period, releases what is still running after it, and returns.
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

/// The runs this process is executing, by lease token, so a shutdown can
/// release those that outlive the grace period.
type InFlight = Arc<Mutex<HashMap<String, ClaimedRun>>>;

async fn run_pool(pool: PgPool, config: WorkerConfig, token: CancellationToken, worker_id: String) {
    let wake = Arc::new(Notify::new());
    let _listener = AbortOnDropHandle::new(tokio::spawn(listen_for_work(
        pool.clone(),
        wake.clone(),
        token.clone(),
    )));
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // The database's room counts groups by their runs (a group of a few
    // runs is a fraction of one); this process also never holds more group
    // transactions open than the database may run groups.
    let group_slots = Arc::new(Semaphore::new(config.group_parallelism.max(1)));
    // Signalled by every group that ends: small runs may have waited for
    // the room it leaves, on the database or in this process.
    let group_ended = Arc::new(Notify::new());
    let in_flight: InFlight = Arc::default();
    let mut tasks = JoinSet::new();
    let mut last_claim: Option<Instant> = None;
    // Runs whose lease expired or whose retry time came are looked for by
    // the first claim after each poll interval (an idle worker's poll
    // wake-up comes that often, so it always looks).
    let mut last_rescue: Option<Instant> = None;
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
        let mut group_permits = Vec::new();
        while group_permits.len() < permits.len() {
            match group_slots.clone().try_acquire_owned() {
                Ok(p) => group_permits.push(p),
                Err(_) => break,
            }
        }
        if let Some(wait) = last_claim.and_then(|t| config.claim_cooldown.checked_sub(t.elapsed()))
        {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {},
                _ = token.cancelled() => break,
            }
        }
        let claim_started = Instant::now();
        last_claim = Some(claim_started);
        let rescue = last_rescue.is_none_or(|t| t.elapsed() >= config.poll_interval);
        let claimed = lifecycle::claim(
            &pool,
            &worker_id,
            ClaimLimits {
                slots: permits.len() as i64,
                small_items: small_limit(&config) as i32,
                group: config.group_size.max(1) as i64,
                groups: group_permits.len() as i64,
                group_parallelism: config.group_parallelism.max(1) as i64,
                lease: config.lease,
                tenant_concurrency: config.tenant_concurrency,
                rescue,
            },
        )
        .await;
        metrics::claim_latency(claim_started.elapsed());
        if rescue && claimed.is_ok() {
            last_rescue = Some(claim_started);
        }
        match claimed {
            Ok(runs) if !runs.is_empty() => {
                // A run takes a slot; small fresh runs share one per group.
                // The claim counted them so, so the permits suffice.
                let (small, single): (Vec<ClaimedRun>, Vec<ClaimedRun>) =
                    runs.into_iter().partition(|r| is_small(&config, r));
                let groups = small
                    .chunks(config.group_size.max(1))
                    .map(|group| (true, group.to_vec()))
                    .collect::<Vec<_>>();
                let work = single
                    .into_iter()
                    .map(|run| (false, vec![run]))
                    .chain(groups)
                    .collect::<Vec<_>>();
                // A group is executed as one, holding one slot and one of
                // the groups this process may run at once; a run alone, on
                // the one-by-one path, holds one slot.
                for (grouped, runs) in work {
                    for run in runs.iter().filter(|r| r.recovered) {
                        metrics::run_recovered(run.kind);
                    }
                    let permit = permits.pop();
                    let group_permit = grouped.then(|| group_permits.pop()).flatten();
                    let (pool, config, token, in_flight, group_ended) = (
                        pool.clone(),
                        config.clone(),
                        token.clone(),
                        in_flight.clone(),
                        group_ended.clone(),
                    );
                    let span = match runs.as_slice() {
                        [run] => tracing::info_span!(
                            "run",
                            run_id = run.id,
                            tenant_id = run.tenant_id,
                            kind = run.kind.key()
                        ),
                        _ => tracing::info_span!("group", runs = runs.len()),
                    };
                    let mut held = in_flight.lock().expect("in-flight runs");
                    for run in &runs {
                        held.insert(run.lease.clone(), run.clone());
                    }
                    drop(held);
                    tasks.spawn(
                        async move {
                            let leases: Vec<String> =
                                runs.iter().map(|r| r.lease.clone()).collect();
                            if grouped {
                                execute_group(&pool, &config, &token, runs).await;
                            } else {
                                for run in runs {
                                    execute(&pool, &config, &token, run).await;
                                }
                            }
                            let mut held = in_flight.lock().expect("in-flight runs");
                            for lease in &leases {
                                held.remove(lease);
                            }
                            drop(held);
                            drop((permit, group_permit));
                            if grouped {
                                group_ended.notify_one();
                            }
                        }
                        .instrument(span),
                    );
                }
                drop((permits, group_permits));
            }
            Ok(_) => {
                // Small runs may be waiting for a group to end rather than
                // for new work (this process's or the database's room for
                // groups was full): an ending group wakes the loop too.
                drop((permits, group_permits));
                tokio::select! {
                    _ = wake.notified() => {},
                    _ = group_ended.notified() => {},
                    _ = tokio::time::sleep(config.poll_interval) => {},
                    _ = token.cancelled() => break,
                }
            }
            Err(err) => {
                drop((permits, group_permits));
                tracing::warn!(error = %err, "claiming runs failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(config.poll_interval) => {},
                    _ = token.cancelled() => break,
                }
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    if !tasks.is_empty() {
        tracing::info!(
            runs = tasks.len(),
            grace_secs = config.shutdown_grace.as_secs_f64(),
            "stopping: waiting for in-flight batches"
        );
    }
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let left: Vec<ClaimedRun> = in_flight
            .lock()
            .expect("in-flight runs")
            .drain()
            .map(|(_, run)| run)
            .collect();
        for run in left {
            release(&pool, &run, Release::Shutdown).await;
        }
    }
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

/// A freshly claimed run small enough to execute in a group.
fn is_small(config: &WorkerConfig, run: &ClaimedRun) -> bool {
    !run.recovered
        && !run.cancel_requested
        && run.processed_items == 0
        && run.attempts <= config.max_attempts
        && run
            .total_items
            .is_some_and(|n| n as usize <= small_limit(config))
}

/// Most items of a small run: one batch's worth at most.
fn small_limit(config: &WorkerConfig) -> usize {
    (config.small_run_items.max(0) as usize).min(config.max_batch)
}

/// Executes small runs together: every item of every run in one
/// transaction, then one statement ends them all. Whatever goes wrong (an
/// error, a run that turns out larger, a lost claim) sends the runs down the
/// one-by-one path, which knows how to handle it; the group's transaction
/// leaves nothing behind.
async fn execute_group(
    pool: &PgPool,
    config: &WorkerConfig,
    token: &CancellationToken,
    runs: Vec<ClaimedRun>,
) {
    let heartbeat = AbortOnDropHandle::new(tokio::spawn(
        heartbeat_group(pool.clone(), runs.clone(), config.lease).in_current_span(),
    ));
    match run_group(pool, config, &runs).await {
        Ok(ended) => {
            for (run, (status, items)) in runs.iter().zip(ended) {
                metrics::items_processed(run.kind, items);
                metrics::run_finished(run.kind, status);
            }
        }
        Err(GroupFallback::Error(RunError::Transient(err))) => {
            // As for one run: each is retried after a backoff.
            tracing::warn!(error = %err, runs = runs.len(), "a group of runs failed");
            drop(heartbeat);
            for run in &runs {
                conclude(pool, run, after_transient(config, run, &err)).await;
            }
            return;
        }
        Err(fallback) => {
            // A refused item, a fatal scope, a larger run, a lost claim: the
            // one-by-one path deals with each.
            tracing::debug!(reason = ?fallback, runs = runs.len(), "executing a group's runs one by one");
            drop(heartbeat);
            for run in runs {
                execute(pool, config, token, run).await;
            }
            return;
        }
    }
    drop(heartbeat);
}

/// Why a group was not completed as one.
#[derive(Debug)]
enum GroupFallback {
    Error(RunError),
    /// A run has more items than a small run may.
    TooLarge,
    /// A claim of the group no longer holds.
    Lost,
}

impl From<sqlx::Error> for GroupFallback {
    fn from(err: sqlx::Error) -> Self {
        GroupFallback::Error(err.into())
    }
}

/// Runs a group in one transaction; returns each run's final status and
/// item count, in order.
async fn run_group(
    pool: &PgPool,
    config: &WorkerConfig,
    runs: &[ClaimedRun],
) -> Result<Vec<(RunStatus, u64)>, GroupFallback> {
    let mut prepared = Vec::with_capacity(runs.len());
    for run in runs {
        let p = operations::find(run.kind)
            .prepare(pool, run)
            .await
            .map_err(GroupFallback::Error)?;
        if p.items().len() > small_limit(config) {
            return Err(GroupFallback::TooLarge);
        }
        prepared.push(p);
    }
    let mut tx = crate::db::begin(pool).await?;
    // The runs of each kind together where the kind can, else one by one.
    let mut outcomes: Vec<Option<Vec<ItemOutcome>>> = runs.iter().map(|_| None).collect();
    let mut kinds: Vec<_> = runs.iter().map(|r| r.kind).collect();
    kinds.sort_by_key(|k| k.key());
    kinds.dedup();
    for kind in kinds {
        let members: Vec<usize> = (0..runs.len())
            .filter(|&i| runs[i].kind == kind && !prepared[i].items().is_empty())
            .collect();
        let batch: Vec<(&ClaimedRun, &[String])> = members
            .iter()
            .map(|&i| (&runs[i], prepared[i].items()))
            .collect();
        let done = operations::find(kind)
            .process_group(&mut tx, &batch)
            .await
            .map_err(GroupFallback::Error)?;
        for (i, o) in members.into_iter().zip(done.into_iter().flatten()) {
            outcomes[i] = Some(o);
        }
    }
    let mut executed = Vec::with_capacity(runs.len());
    for ((run, p), done) in runs.iter().zip(&prepared).zip(outcomes) {
        let items = p.items().to_vec();
        let outcomes = match done {
            Some(outcomes) => outcomes,
            None if items.is_empty() => Vec::new(),
            None => p
                .process(&mut tx, run, &items)
                .await
                .map_err(GroupFallback::Error)?,
        };
        executed.push(Executed {
            run,
            tally: Tally::of(&items, &outcomes),
            total: items.len() as i32,
        });
    }
    let Some((statuses, events)) = lifecycle::complete_group(&mut tx, &executed).await? else {
        tx.rollback().await?;
        return Err(GroupFallback::Lost);
    };
    tx.commit().await?;
    if let Err(err) = events.send(pool).await {
        tracing::warn!(error = %err, runs = runs.len(), "could not announce finished runs");
    }
    Ok(statuses
        .into_iter()
        .zip(&executed)
        .map(|(status, e)| (status, e.tally.processed() as u64))
        .collect())
}

/// Keeps a group's leases alive until the group ends: three beats per
/// lease. (A run alone beats at least every second, as its beat also tells
/// it about a cancel; a group's does not, and every group beating every
/// second was thousands of row updates a second under a deep backlog.)
async fn heartbeat_group(pool: PgPool, runs: Vec<ClaimedRun>, lease: Duration) {
    let every = lease / 3;
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = lifecycle::heartbeat_group(&pool, &runs, lease).await {
            tracing::warn!(error = %err, runs = runs.len(), "heartbeat of a group failed");
        }
    }
}

/// How a run's execution ended for this worker.
enum Ending {
    Finish(Outcome),
    /// Another worker may continue it.
    Release(Release),
    /// The lease was lost to another worker: touch nothing.
    Lost,
    /// Already ended together with its last batch.
    Done,
}

async fn execute(pool: &PgPool, config: &WorkerConfig, token: &CancellationToken, run: ClaimedRun) {
    let cancel = Arc::new(AtomicBool::new(run.cancel_requested));
    let lost = Arc::new(AtomicBool::new(false));
    let heartbeat = AbortOnDropHandle::new(tokio::spawn(
        heartbeat(
            pool.clone(),
            run.clone(),
            config.lease,
            cancel.clone(),
            lost.clone(),
        )
        .in_current_span(),
    ));

    let ending = if run.cancel_requested {
        // Cancelled while its previous worker held it: nothing more runs.
        Ending::Finish(Outcome::Cancelled)
    } else if run.attempts > config.max_attempts {
        Ending::Finish(Outcome::Fatal(Reason::new(
            "worker_lost",
            "The run's worker stopped responding too many times.",
        )))
    } else {
        match operations::find(run.kind).prepare(pool, &run).await {
            Ok(p) => process_items(pool, config, token, &run, p.as_ref(), &cancel, &lost).await,
            Err(err) => on_error(config, &run, err, "preparing the run"),
        }
    };
    drop(heartbeat);
    conclude(pool, &run, ending).await;
}

/// Writes how a run's execution ended for this worker.
async fn conclude(pool: &PgPool, run: &ClaimedRun, ending: Ending) {
    match ending {
        Ending::Finish(outcome) => match lifecycle::finish(pool, run, outcome).await {
            Ok(Some(status)) => {
                metrics::run_finished(run.kind, status);
                tracing::info!(
                    run_id = run.id,
                    tenant_id = run.tenant_id,
                    status = status.as_str(),
                    "run finished"
                );
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(
                run_id = run.id,
                tenant_id = run.tenant_id,
                error = %err,
                "could not record the run's end; its lease will expire and it will be recovered"
            ),
        },
        Ending::Release(why) => release(pool, run, why).await,
        Ending::Lost | Ending::Done => {}
    }
}

/// What an error means for the run: a transient one releases it for a
/// later attempt (or fails it once attempts are used up), a permanent one
/// fails it. Never a retry loop.
fn on_error(config: &WorkerConfig, run: &ClaimedRun, err: RunError, doing: &str) -> Ending {
    match err {
        RunError::Fatal(reason) => Ending::Finish(Outcome::Fatal(reason)),
        RunError::Transient(err) => {
            tracing::warn!(error = %err, attempt = run.attempts, "{doing} failed");
            after_transient(config, run, &err)
        }
        RunError::Permanent(err) => {
            tracing::warn!(error = %err, "{doing} failed permanently; the run fails");
            metrics::permanent_failure(run.kind);
            Ending::Finish(Outcome::Fatal(Reason::new(
                "operation_error",
                &format!("The operation could not go on ({}).", describe_error(&err)),
            )))
        }
    }
}

/// After a transient error: a retry after a backoff, or the run's end once
/// its attempts are used up.
fn after_transient(config: &WorkerConfig, run: &ClaimedRun, err: &sqlx::Error) -> Ending {
    if run.attempts >= config.max_attempts {
        Ending::Finish(Outcome::Fatal(Reason::new(
            "storage_unavailable",
            &format!(
                "Storage kept failing; gave up after {} attempts ({}).",
                run.attempts,
                describe_error(err)
            ),
        )))
    } else {
        Ending::Release(Release::Transient {
            error: describe_error(err),
            backoff: config.retry_backoff,
        })
    }
}

async fn release(pool: &PgPool, run: &ClaimedRun, why: Release) {
    match lifecycle::release(pool, run, &why).await {
        Ok(Some(delay)) => {
            metrics::run_released(run.kind, why.label());
            tracing::info!(
                run_id = run.id,
                tenant_id = run.tenant_id,
                reason = why.label(),
                retry_after_secs = delay,
                "run released"
            );
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(
            run_id = run.id,
            tenant_id = run.tenant_id,
            error = %err,
            "could not release the run; its lease will expire and it will be recovered"
        ),
    }
}

/// Batches of one run in flight at once: while one is applied, the next is
/// already being applied on a second connection (when the pool has one
/// idle), so a large run keeps more than one core busy. Batches still commit
/// one after another in order, so a crash keeps a contiguous prefix and the
/// run resumes after its last committed batch. Runs paced by a batch pause
/// are meant to press lightly and apply one batch at a time.
const BATCHES_IN_FLIGHT: usize = 2;

async fn process_items(
    pool: &PgPool,
    config: &WorkerConfig,
    token: &CancellationToken,
    run: &ClaimedRun,
    prepared: &dyn PreparedRun,
    cancel: &AtomicBool,
    lost: &AtomicBool,
) -> Ending {
    let items = prepared.items();
    let total = items.len() as i32;
    let mut offset = (run.processed_items.max(0) as usize).min(items.len());
    let mut batch = 50usize.min(config.max_batch).max(1);
    let mut in_flight = FuturesOrdered::new();
    let most_in_flight = if config.batch_pause.is_zero() {
        BATCHES_IN_FLIGHT
    } else {
        1
    };
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Ending::Finish(Outcome::Cancelled);
        }
        if lost.load(Ordering::Relaxed) {
            return Ending::Lost;
        }
        if token.is_cancelled() {
            return Ending::Release(Release::Shutdown);
        }
        while in_flight.len() < most_in_flight && offset < items.len() {
            // The first batch waits for a connection; a second one only
            // takes an idle one, so runs never wait on each other's extras.
            let tx = if in_flight.is_empty() {
                crate::db::begin(pool).await.map(Some)
            } else {
                crate::db::try_begin(pool).await
            };
            let tx = match tx {
                Ok(Some(tx)) => tx,
                Ok(None) => break,
                Err(err) => return on_error(config, run, err.into(), "a batch"),
            };
            let end = (offset + batch).min(items.len());
            in_flight.push_back(apply_batch(tx, run, prepared, &items[offset..end]));
            offset = end;
        }
        let Some(applied) = in_flight.next().await else {
            // No items at all (or all done by an earlier attempt).
            return Ending::Finish(Outcome::Done);
        };
        let last = offset == items.len() && in_flight.is_empty();
        match record_batch(pool, config, run, prepared, applied, total, last).await {
            Ok((Recorded::Continue { cancel_requested }, took)) => {
                if cancel_requested {
                    cancel.store(true, Ordering::Relaxed);
                }
                // Aim for ~250 ms per batch so progress is flushed several
                // times a second.
                if took < Duration::from_millis(100) {
                    batch = (batch * 2).min(config.max_batch);
                } else if took > Duration::from_millis(400) {
                    batch = (batch / 2).max(1);
                }
            }
            Ok((Recorded::Finished(status), _)) => {
                metrics::run_finished(run.kind, status);
                tracing::info!(status = status.as_str(), "run finished");
                return Ending::Done;
            }
            Ok((Recorded::Lost, _)) => return Ending::Lost,
            Err(err) => return on_error(config, run, err, "a batch"),
        }
        if !config.batch_pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(config.batch_pause) => {}
                _ = token.cancelled() => {}
            }
        }
    }
}

/// A batch whose effects are applied in its still open transaction.
struct Applied<'a> {
    tx: Transaction<'static, Postgres>,
    items: &'a [String],
    outcomes: Result<Vec<ItemOutcome>, RunError>,
    started: Instant,
}

/// Applies one batch's effects in `tx`, leaving it open for [`record_batch`].
async fn apply_batch<'a>(
    mut tx: Transaction<'static, Postgres>,
    run: &ClaimedRun,
    prepared: &dyn PreparedRun,
    items: &'a [String],
) -> Applied<'a> {
    let started = Instant::now();
    let outcomes = prepared.process(&mut tx, run, items).await;
    Applied {
        tx,
        items,
        outcomes,
        started,
    }
}

/// Records an applied batch and commits it. A batch the storage refused is
/// taken apart item by item, so one bad item fails alone. Answers how long
/// the batch took from its start to its commit.
async fn record_batch(
    pool: &PgPool,
    config: &WorkerConfig,
    run: &ClaimedRun,
    prepared: &dyn PreparedRun,
    applied: Applied<'_>,
    total: i32,
    last: bool,
) -> Result<(Recorded, Duration), RunError> {
    let Applied {
        mut tx,
        items,
        outcomes,
        started,
    } = applied;
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(RunError::Permanent(err)) => {
            tx.rollback().await?;
            tracing::warn!(error = %err, items = items.len(), "a batch was refused; isolating its items");
            tx = crate::db::begin(pool).await?;
            isolate(&mut tx, run, prepared, items, &err).await?
        }
        Err(err) => return Err(err),
    };
    let tally = Tally::of(items, &outcomes);
    let recorded = lifecycle::record_batch(&mut tx, run, tally, total, last, config.lease).await?;
    if recorded == Recorded::Lost {
        tx.rollback().await?;
        return Ok((recorded, started.elapsed()));
    }
    tx.commit().await?;
    metrics::items_processed(run.kind, items.len() as u64);
    Ok((recorded, started.elapsed()))
}

/// Processes each item of a refused batch in a savepoint of its own: an item
/// the storage refuses fails with `item_rejected`, the others go through.
/// When every item of a batch of several is refused, the fault is not the
/// items': the run fails with `operation_error`.
async fn isolate(
    tx: &mut PgConnection,
    run: &ClaimedRun,
    prepared: &dyn PreparedRun,
    items: &[String],
    batch_error: &sqlx::Error,
) -> Result<Vec<ItemOutcome>, RunError> {
    let mut outcomes = Vec::with_capacity(items.len());
    let mut refused = 0;
    for item in items {
        let mut savepoint = tx.begin().await?;
        match prepared
            .process(&mut savepoint, run, std::slice::from_ref(item))
            .await
        {
            Ok(mut one) => {
                savepoint.commit().await?;
                outcomes.push(one.pop().unwrap_or(ItemOutcome::Succeeded));
            }
            Err(RunError::Permanent(err)) => {
                savepoint.rollback().await?;
                refused += 1;
                outcomes.push(ItemOutcome::Failed(Reason::new(
                    "item_rejected",
                    &format!("The storage refused this item ({}).", describe_error(&err)),
                )));
            }
            Err(other) => return Err(other),
        }
    }
    if items.len() > 1 && refused == items.len() {
        return Err(RunError::Fatal(Reason::new(
            "operation_error",
            &format!(
                "The storage refused every item of a batch ({}).",
                describe_error(batch_error)
            ),
        )));
    }
    Ok(outcomes)
}

/// Keeps the lease alive and watches for cancel requests, every second at
/// most (so a cancel takes effect within about a second).
async fn heartbeat(
    pool: PgPool,
    run: ClaimedRun,
    lease: Duration,
    cancel: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
) {
    let every = (lease / 3).min(Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        match lifecycle::heartbeat(&pool, &run, lease).await {
            Ok(Some(true)) => cancel.store(true, Ordering::Relaxed),
            Ok(Some(false)) => {}
            Ok(None) => {
                tracing::warn!(
                    run_id = run.id,
                    tenant_id = run.tenant_id,
                    "the run's lease was lost; stopping its execution"
                );
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(err) => tracing::warn!(
                run_id = run.id,
                tenant_id = run.tenant_id,
                error = %err,
                "heartbeat failed"
            ),
        }
    }
}
