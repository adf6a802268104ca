//! Small runs claimed and completed together: every run of a group ends
//! exactly once, with its own audit entries, notifications and failures;
//! nothing is lost when a worker dies between claim and completion, and a
//! group that cannot complete as one falls back to one run at a time.

use super::fault_tests::{blocked_batch, hold_backup_set, refuse_policies};
use super::lifecycle::{self, ClaimLimits, Executed, Tally};
use super::queue::start;
use super::tests::{backup, count, fast_workers, fixture, Fx};
use super::worker::{WorkerConfig, WorkerPool};
use crate::model::RunStatus;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// Starts one tiny run per id (each adds one policy); returns their ids.
async fn tiny_runs(pool: &PgPool, fx: &Fx, policy_ids: &[i64]) -> Vec<i64> {
    let mut runs = Vec::new();
    for id in policy_ids {
        runs.push(start(pool, backup(fx, &[*id])).await.unwrap().run_id);
    }
    runs
}

/// Claims of one slot whose small runs go `group` to a slot.
fn small_runs(group: i64) -> ClaimLimits {
    ClaimLimits {
        slots: 1,
        small_items: 64,
        group,
        ..super::tests::limits(1)
    }
}

async fn all_ended(pool: &PgPool, fx: &Fx) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND status IN ('pending', 'running')",
        )
        .bind(fx.tenant)
        .fetch_one(pool)
        .await
        .unwrap();
        if active == 0 {
            return;
        }
        assert!(Instant::now() < until, "{active} runs never ended");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until every connection of the pool is back and idle: whatever a
/// killed worker had sent has ended.
async fn statements_ended(pool: &PgPool) {
    let until = Instant::now() + Duration::from_secs(20);
    while pool.num_idle() < pool.size() as usize {
        assert!(
            Instant::now() < until,
            "a killed worker's statements never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Per run: (status, started audits, finished audits, recovered audits,
/// queued notifications, completed notifications, completed notification's status).
type Trail = (String, i64, i64, i64, i64, i64, Option<String>);

async fn trails(pool: &PgPool, runs: &[i64]) -> Vec<Trail> {
    sqlx::query_as(
        "SELECT r.status, \
                (SELECT count(*) FROM audit_logs a WHERE a.tenant_id = r.tenant_id AND a.subject_type = 'bulk_operation_run' \
                   AND a.subject_id = r.id AND a.action = 'bulk_operation_run.started'), \
                (SELECT count(*) FROM audit_logs a WHERE a.tenant_id = r.tenant_id AND a.subject_type = 'bulk_operation_run' \
                   AND a.subject_id = r.id AND a.action = 'bulk_operation_run.finished'), \
                (SELECT count(*) FROM audit_logs a WHERE a.tenant_id = r.tenant_id AND a.subject_type = 'bulk_operation_run' \
                   AND a.subject_id = r.id AND a.action = 'bulk_operation_run.recovered'), \
                (SELECT count(*) FROM notifications n WHERE n.tenant_id = r.tenant_id \
                   AND (n.data->'run'->>'id')::bigint = r.id AND n.type = 'opshub.run_queued'), \
                (SELECT count(*) FROM notifications n WHERE n.tenant_id = r.tenant_id \
                   AND (n.data->'run'->>'id')::bigint = r.id AND n.type = 'opshub.run_completed'), \
                (SELECT n.data->>'status' FROM notifications n WHERE n.tenant_id = r.tenant_id \
                   AND (n.data->'run'->>'id')::bigint = r.id AND n.type = 'opshub.run_completed' LIMIT 1) \
         FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, ord) \
         JOIN bulk_operation_runs r ON r.id = u.id ORDER BY u.ord",
    )
    .bind(runs)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Policies in the tenant's backup set.
async fn backup_items(pool: &PgPool, fx: &Fx) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM backup_items WHERE tenant_id = $1",
        fx.tenant,
    )
    .await
}

/// Distinct end times of the tenant's runs: runs completed as one group
/// share one.
async fn distinct_ends(pool: &PgPool, fx: &Fx) -> i64 {
    count(
        pool,
        "SELECT count(DISTINCT finished_at) FROM bulk_operation_runs WHERE tenant_id = $1",
        fx.tenant,
    )
    .await
}

#[sqlx::test]
async fn a_group_completion_writes_each_runs_audit_entries_and_notifications_exactly_once(
    pool: PgPool,
) {
    let fx = fixture(&pool, "acme", 60).await;
    // The first policy is in the set already: its run skips it.
    sqlx::query(
        "INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, snapshot, settings_hash) \
         SELECT tenant_id, $2, id, external_id, display_name, '{}'::jsonb, settings_hash FROM policies WHERE id = $1",
    )
    .bind(fx.policies[0])
    .bind(fx.backup_set)
    .execute(&pool)
    .await
    .unwrap();
    let mut ids = fx.policies.clone();
    ids.extend([9_000_001, 9_000_002, 9_000_003]); // unknown: those runs fail
    let runs = tiny_runs(&pool, &fx, &ids).await;

    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    all_ended(&pool, &fx).await;
    workers.shutdown().await;

    for (i, t) in trails(&pool, &runs).await.into_iter().enumerate() {
        let expected = match i {
            0 => "completed", // skipped only
            60.. => "failed", // not found
            _ => "completed",
        };
        assert_eq!(
            t,
            (expected.into(), 1, 1, 0, 1, 1, Some(expected.into())),
            "run #{i}"
        );
    }
    // They were completed in groups: runs of one group end in one
    // transaction, at one time.
    let ends = distinct_ends(&pool, &fx).await;
    assert!(ends < runs.len() as i64 / 4, "{ends} distinct ends");
    assert_eq!(backup_items(&pool, &fx).await, 60);
    // Counters and failures are each run's own.
    let rows: Vec<(i32, i32, i32, i32, i64)> = sqlx::query_as(
        "SELECT r.total_items, r.succeeded, r.failed, r.skipped, \
                (SELECT count(*) FROM bulk_operation_run_failures f WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id) \
         FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, ord) JOIN bulk_operation_runs r ON r.id = u.id ORDER BY u.ord",
    )
    .bind(&runs)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows[0], (1, 0, 0, 1, 1));
    assert_eq!(rows[1], (1, 1, 0, 0, 0));
    assert_eq!(rows[62], (1, 0, 1, 0, 1));
}

#[sqlx::test]
async fn a_kill_between_claim_and_completion_loses_nothing(pool: PgPool) {
    let fx = fixture(&pool, "acme", 40).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;

    // A worker claims them all as groups, begins the group's transaction
    // (held up by a lock) and dies before it commits.
    let holder = hold_backup_set(&pool, &fx).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    blocked_batch(&pool).await;
    workers.kill();
    drop(holder);
    // A dead worker sends nothing more, but what it sent still runs: its
    // blocked batch, and a claim of the next poll that may have been on the
    // wire. Such a claim, run after the expiry below, would take runs over
    // for the dead worker (a second death, a second recovery).
    statements_ended(&pool).await;
    // Its claims expire as a dead worker's do.
    sqlx::query(
        "UPDATE bulk_operation_runs SET lease_expires_at = now() - interval '1 second' \
         WHERE tenant_id = $1 AND status = 'running'",
    )
    .bind(fx.tenant)
    .execute(&pool)
    .await
    .unwrap();
    let claimed = count(
        &pool,
        "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND attempts = 1",
        fx.tenant,
    )
    .await;
    assert!(claimed > 1, "the dead worker claimed a group: {claimed}");

    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    all_ended(&pool, &fx).await;
    workers.shutdown().await;
    for (i, t) in trails(&pool, &runs).await.into_iter().enumerate() {
        let (status, started, finished, recovered, queued, completed, _) = t;
        assert_eq!(
            (status.as_str(), started, finished, queued, completed),
            ("completed", 1, 1, 1, 1),
            "run #{i}"
        );
        assert!(recovered <= 1, "run #{i} recovered {recovered} times");
    }
    // Each policy was copied once, and counted once.
    assert_eq!(backup_items(&pool, &fx).await, 40);
    assert_eq!(
        count(
            &pool,
            "SELECT sum(succeeded) FROM bulk_operation_runs WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        40
    );
}

#[sqlx::test]
async fn a_group_that_cannot_commit_falls_back_and_each_run_ends_once(pool: PgPool) {
    let fx = fixture(&pool, "acme", 30).await;
    refuse_policies(&pool, &fx.policies[7..8]).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    all_ended(&pool, &fx).await;
    workers.shutdown().await;
    for (i, t) in trails(&pool, &runs).await.into_iter().enumerate() {
        let expected = if i == 7 { "failed" } else { "completed" };
        assert_eq!(
            t,
            (expected.into(), 1, 1, 0, 1, 1, Some(expected.into())),
            "run #{i}"
        );
    }
    // Never retried: one attempt each.
    assert_eq!(
        count(
            &pool,
            "SELECT max(attempts)::bigint FROM bulk_operation_runs WHERE tenant_id = $1",
            fx.tenant
        )
        .await,
        1
    );
    let code: String = sqlx::query_scalar(
        "SELECT reason_code FROM bulk_operation_run_failures WHERE tenant_id = $1 AND run_id = $2",
    )
    .bind(fx.tenant)
    .bind(runs[7])
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(code, "item_rejected");
}

#[sqlx::test]
async fn a_group_completion_writes_nothing_when_one_claim_no_longer_holds(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    let limits = small_runs(32);
    let claimed = lifecycle::claim(&pool, "test", limits).await.unwrap();
    assert_eq!(claimed.len(), 3, "small runs share one slot");
    let executed = |claimed: &[super::operation::ClaimedRun]| -> Vec<Tally> {
        claimed
            .iter()
            .map(|_| Tally {
                succeeded: 1,
                ..Tally::default()
            })
            .collect()
    };

    // Another worker took the second run over.
    sqlx::query("UPDATE bulk_operation_runs SET lease_owner = 'other/1' WHERE id = $1")
        .bind(claimed[1].id)
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = crate::db::begin(&pool).await.unwrap();
    let group: Vec<Executed> = claimed
        .iter()
        .zip(executed(&claimed))
        .map(|(run, tally)| Executed {
            run,
            tally,
            total: 1,
        })
        .collect();
    let ended = lifecycle::complete_group(&mut tx, &group).await.unwrap();
    assert!(ended.is_none());
    tx.rollback().await.unwrap();
    let still_running = count(
        &pool,
        "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND status = 'running'",
        fx.tenant,
    )
    .await;
    assert_eq!(still_running, 3);

    // Without the stolen one, the other two end, each once.
    let mut tx = crate::db::begin(&pool).await.unwrap();
    let mine = [&group[0], &group[2]].map(|e| Executed {
        run: e.run,
        tally: Tally {
            succeeded: 1,
            ..Tally::default()
        },
        total: 1,
    });
    let (ended, _events) = lifecycle::complete_group(&mut tx, &mine)
        .await
        .unwrap()
        .expect("both claims hold");
    tx.commit().await.unwrap();
    assert_eq!(ended, vec![RunStatus::Completed, RunStatus::Completed]);
    let t = trails(&pool, &runs).await;
    assert_eq!(
        t[0],
        ("completed".into(), 1, 1, 0, 1, 1, Some("completed".into()))
    );
    assert_eq!(t[1], ("running".into(), 1, 0, 0, 1, 0, None));
    assert_eq!(t[2].0, "completed");
}

#[sqlx::test]
async fn runs_of_one_group_adding_the_same_policy_copy_it_once_for_the_first_of_them(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let (shared, own) = (fx.policies[0], fx.policies[1]);
    let first = start(&pool, backup(&fx, &[shared])).await.unwrap().run_id;
    let second = start(&pool, backup(&fx, &[shared, own]))
        .await
        .unwrap()
        .run_id;
    let foreign = fixture(&pool, "globex", 1).await.policies[0];
    let third = start(&pool, backup(&fx, &[foreign])).await.unwrap().run_id;

    let workers = WorkerPool::spawn(pool.clone(), fast_workers());
    all_ended(&pool, &fx).await;
    workers.shutdown().await;

    let counters: Vec<(String, i32, i32, i32)> = sqlx::query_as(
        "SELECT r.status, r.succeeded, r.skipped, r.failed FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, ord) \
         JOIN bulk_operation_runs r ON r.id = u.id ORDER BY u.ord",
    )
    .bind([first, second, third])
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        counters,
        vec![
            ("completed".into(), 1, 0, 0),
            ("completed".into(), 1, 1, 0),
            ("failed".into(), 0, 0, 1)
        ]
    );
    let ends = distinct_ends(&pool, &fx).await;
    assert_eq!(ends, 1, "the three runs were completed as one group");
    let copies = backup_items(&pool, &fx).await;
    assert_eq!(copies, 2, "the shared policy is in the set once");
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason_code FROM bulk_operation_run_failures WHERE tenant_id = $1 ORDER BY run_id",
    )
    .bind(fx.tenant)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(reasons, ["already_in_backup_set", "policy_not_found"]);
}

#[sqlx::test]
async fn a_claim_takes_the_oldest_runs_no_other_claim_holds(pool: PgPool) {
    let fx = fixture(&pool, "acme", 6).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    // Another worker's claim holds the two oldest runs.
    let mut other = crate::db::begin(&pool).await.unwrap();
    sqlx::query("SELECT 1 FROM bulk_operation_runs WHERE id = ANY($1) FOR UPDATE")
        .bind(&runs[..2])
        .execute(&mut *other)
        .await
        .unwrap();
    let limits = small_runs(2);
    let claimed = lifecycle::claim(&pool, "test", limits).await.unwrap();
    let ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    assert_eq!(ids, runs[2..4], "the next two runs, not nothing");
    other.rollback().await.unwrap();
}

/// A group's heartbeat beats three times per lease, not every second:
/// while a deep backlog waits, every claimed group beating each second was
/// thousands of row updates a second. Its leases still never lapse.
#[sqlx::test]
async fn a_group_beats_three_times_per_lease_not_every_second(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    let lock = hold_backup_set(&pool, &fx).await;
    // Beats at 4 s: well past the second at which a group used to beat.
    let config = WorkerConfig {
        lease: Duration::from_secs(12),
        ..fast_workers()
    };
    let workers = WorkerPool::spawn(pool.clone(), config);
    blocked_batch(&pool).await;
    let beaten = "SELECT count(*) FROM bulk_operation_runs \
                  WHERE tenant_id = $1 AND status = 'running' AND heartbeat_at > started_at";
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&pool, beaten, fx.tenant).await, 0);
    let until = Instant::now() + Duration::from_secs(10);
    while count(&pool, beaten, fx.tenant).await < 3 {
        assert!(Instant::now() < until, "the group never beat");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(lock);
    all_ended(&pool, &fx).await;
    workers.shutdown().await;
    for t in trails(&pool, &runs).await {
        assert_eq!(
            t,
            ("completed".into(), 1, 1, 0, 1, 1, Some("completed".into()))
        );
    }
}

/// Claims of several workers at once never keep a lock on a run another
/// claim took: its worker can end the run at once. (A claim that read a run
/// as pending just before another claim took it used to lock the run as
/// it then was, leave it, and hold the lock to its end; the worker that
/// owned the run waited for that other claim to commit.)
#[sqlx::test]
async fn concurrent_claims_never_hold_a_run_another_claim_took(pool: PgPool) {
    let fx = fixture(&pool, "acme", 500).await;
    tiny_runs(&pool, &fx, &fx.policies).await;
    let limits = small_runs(3);
    let claimers = (0..4).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let (mut claimed, mut held_elsewhere) = (0, 0);
            loop {
                let runs = lifecycle::claim(&pool, &format!("w{i}"), limits)
                    .await
                    .unwrap();
                if runs.is_empty() {
                    return (claimed, held_elsewhere);
                }
                claimed += runs.len();
                let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
                let mut tx = crate::db::begin(&pool).await.unwrap();
                let lock = sqlx::query(
                    "SELECT 1 FROM bulk_operation_runs WHERE id = ANY($1) FOR NO KEY UPDATE NOWAIT",
                )
                .bind(&ids)
                .execute(&mut *tx)
                .await;
                match lock {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                        held_elsewhere += 1
                    }
                    Err(e) => panic!("{e}"),
                }
                tx.rollback().await.unwrap();
            }
        })
    });
    let (mut claimed, mut held_elsewhere) = (0, 0);
    for claimer in claimers.collect::<Vec<_>>() {
        let (c, h) = claimer.await.unwrap();
        claimed += c;
        held_elsewhere += h;
    }
    assert_eq!(claimed, 500, "every run claimed once");
    assert_eq!(
        held_elsewhere, 0,
        "claims found their runs locked by another claim"
    );
}

/// A claim without rescue takes pending runs and leaves a run whose lease
/// expired for a claim with rescue, which takes it before any pending run.
#[sqlx::test]
async fn only_a_rescuing_claim_takes_a_run_whose_lease_expired(pool: PgPool) {
    let fx = fixture(&pool, "acme", 3).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    let one = small_runs(1);
    let first = lifecycle::claim(&pool, "dead", one).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), [runs[0]]);
    sqlx::query("UPDATE bulk_operation_runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(runs[0])
        .execute(&pool)
        .await
        .unwrap();

    let busy = lifecycle::claim(
        &pool,
        "busy",
        ClaimLimits {
            rescue: false,
            ..one
        },
    )
    .await
    .unwrap();
    assert_eq!(
        busy.iter().map(|r| (r.id, r.recovered)).collect::<Vec<_>>(),
        [(runs[1], false)]
    );
    let rescuing = lifecycle::claim(&pool, "rescuer", one).await.unwrap();
    assert_eq!(
        rescuing
            .iter()
            .map(|r| (r.id, r.recovered))
            .collect::<Vec<_>>(),
        [(runs[0], true)]
    );
}

#[sqlx::test]
async fn a_claim_starts_no_more_groups_than_allowed_and_still_takes_larger_runs(pool: PgPool) {
    let fx = fixture(&pool, "acme", 7).await;
    let p = &fx.policies;
    // Oldest first: two small runs, a larger one (two items), three small.
    let mut runs = tiny_runs(&pool, &fx, &p[..2]).await;
    runs.push(start(&pool, backup(&fx, &p[2..4])).await.unwrap().run_id);
    runs.extend(tiny_runs(&pool, &fx, &p[4..]).await);

    // Three free slots, small runs two to a slot, one group allowed: the
    // first two small runs fill that group and the larger run takes a
    // slot of its own; the small runs after them wait.
    let claimed = lifecycle::claim(
        &pool,
        "w",
        ClaimLimits {
            slots: 3,
            small_items: 1,
            group: 2,
            groups: 1,
            ..super::tests::limits(3)
        },
    )
    .await
    .unwrap();
    let mut ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, runs[..3]);
}

#[sqlx::test]
async fn a_worker_allowed_one_group_at_a_time_drains_a_backlog_of_small_runs(pool: PgPool) {
    let fx = fixture(&pool, "acme", 40).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    // Groups of four, one at a time: ten groups one after the other. The
    // poll interval is longer than the test may take, so each group must
    // wake the claim loop when it ends.
    drains_in_ten_groups_of_four(&pool, &fx, &runs, 1).await;
}

/// Workers allowed `group_parallelism` groups of four at once, polling only
/// every minute, drain the tenant's forty small `runs` in ten groups: each
/// run completed once, with its audit entries and notifications.
async fn drains_in_ten_groups_of_four(
    pool: &PgPool,
    fx: &Fx,
    runs: &[i64],
    group_parallelism: usize,
) {
    let workers = WorkerPool::spawn(
        pool.clone(),
        WorkerConfig {
            group_size: 4,
            group_parallelism,
            poll_interval: Duration::from_secs(60),
            ..fast_workers()
        },
    );
    all_ended(pool, fx).await;
    workers.shutdown().await;
    assert_eq!(distinct_ends(pool, fx).await, 10);
    for t in trails(pool, runs).await {
        assert_eq!(
            t,
            ("completed".into(), 1, 1, 0, 1, 1, Some("completed".into()))
        );
    }
}

/// Claims `runs` small runs of `fx` for another worker, which keeps them
/// running: groups of another process, as far as the database can tell.
async fn held_by_another_worker(pool: &PgPool, fx: &Fx, runs: usize) {
    let held = tiny_runs(pool, fx, &fx.policies[..runs]).await;
    let claimed = lifecycle::claim(
        pool,
        "another",
        ClaimLimits {
            group: runs as i64,
            ..small_runs(runs as i64)
        },
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), held.len());
}

#[sqlx::test]
async fn a_claim_counts_the_groups_other_workers_run_against_the_database_wide_cap(pool: PgPool) {
    // Another worker runs three small runs: one and a half groups of two.
    held_by_another_worker(&pool, &fixture(&pool, "globex", 3).await, 3).await;
    let fx = fixture(&pool, "acme", 6).await;
    let p = &fx.policies;
    let mut runs = tiny_runs(&pool, &fx, &p[..3]).await;
    runs.push(start(&pool, backup(&fx, &p[3..5])).await.unwrap().run_id);

    // Two groups at once on the database, groups of two: half a group is
    // left, one small run; the larger run still takes a slot of its own,
    // though this process could start three groups.
    let claimed = lifecycle::claim(
        &pool,
        "w",
        ClaimLimits {
            slots: 4,
            small_items: 1,
            group: 2,
            groups: 3,
            group_parallelism: 2,
            ..super::tests::limits(4)
        },
    )
    .await
    .unwrap();
    let mut ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [runs[0], runs[3]]);
}

#[sqlx::test]
async fn a_worker_whose_groups_fill_the_database_wide_cap_claims_again_when_one_ends(pool: PgPool) {
    // Another worker's group of four takes half of the two groups the
    // database runs at once; this worker, allowed two, gets one at a time.
    held_by_another_worker(&pool, &fixture(&pool, "globex", 4).await, 4).await;
    let fx = fixture(&pool, "acme", 40).await;
    let runs = tiny_runs(&pool, &fx, &fx.policies).await;
    // The poll interval is longer than the test may take: the end of each
    // group must wake the claim loop, though this process had a group
    // free when its claim came back empty.
    drains_in_ten_groups_of_four(&pool, &fx, &runs, 2).await;
}
