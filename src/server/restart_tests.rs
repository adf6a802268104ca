//! The database-restart suite (`scripts/suite restart`): the project's
//! Postgres is restarted while runs execute, workers run and event streams
//! are open. The hub and the workers must reconnect by themselves, every
//! run finish with correct counters, `/readyz` go red and then green, and
//! every open stream receive a resync.
//!
//! Ignored by a plain `cargo test`: it restarts the whole database server,
//! so it runs alone, with `OPSHUB_PG_RESTART` naming the command that does
//! it and `OPSHUB_RESTART_RUNS` / `OPSHUB_RESTART_STREAMS` its size.

use crate::db::testing::{member, tenant, MEMBER_PASSWORD};
use crate::engine::{StartRequest, WorkerConfig, WorkerPool};
use crate::model::OperationKind;
use crate::server::test_client::{read_events, spawn_server, Client};
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// id, status, total, processed, succeeded, failed, skipped, attempts.
type RunRow = (i64, String, i32, i32, i32, i32, i32, i32);

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const POLICIES_PER_RUN: usize = 600;

fn snapshot(run: usize) -> serde_json::Value {
    let policies: Vec<_> = (0..POLICIES_PER_RUN)
        .map(|i| {
            json!({"external_id": format!("r{run}-p{i}"), "policy_type": "compliance_policy",
                   "display_name": format!("Policy {i}"), "settings": {"n": i}})
        })
        .collect();
    json!({"selection": {"name": format!("restart-{run}")}, "policies": policies})
}

#[sqlx::test]
#[ignore = "restarts the database server: run by scripts/suite restart"]
async fn restart_suite_the_hub_and_workers_ride_out_a_database_restart(pool: PgPool) {
    let restart = std::env::var("OPSHUB_PG_RESTART")
        .expect("OPSHUB_PG_RESTART: the shell command that restarts the project's Postgres");
    let runs = size("OPSHUB_RESTART_RUNS", 4);
    let streams = size("OPSHUB_RESTART_STREAMS", 4);
    let acme = tenant(&pool, "acme").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    // The hub and the workers get pools of their own, as in `opshub serve`
    // (the test's pool is kept small).
    let own_pool = |size: u32| super::test_client::own_pool(&pool, size);
    let addr = spawn_server(pool.clone()).await;

    // Open streams, each its own signed-in browser.
    let mut open = Vec::new();
    for _ in 0..streams {
        let c = Client::new(addr);
        c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
        let s = c.ready_events().await;
        open.push((c, s));
    }
    // Runs paced so they are still executing when the database goes away.
    let mut ids = Vec::new();
    for run in 0..runs {
        let started = crate::engine::start(
            &pool,
            StartRequest {
                tenant_id: acme,
                user_id: ann,
                kind: OperationKind::InventorySync,
                scope: json!({"source": format!("restart-{run}.json")}),
                payload: Some(snapshot(run)),
            },
        )
        .await
        .unwrap();
        ids.push(started.run_id);
    }
    let workers = WorkerPool::spawn(
        own_pool(8),
        WorkerConfig {
            concurrency: runs.max(1),
            poll_interval: Duration::from_millis(200),
            max_batch: 25,
            batch_pause: Duration::from_millis(100),
            max_attempts: 10,
            retry_backoff: Duration::from_millis(500),
            ..WorkerConfig::default()
        },
    );
    // Wait until every run is executing.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM bulk_operation_runs WHERE id = ANY($1) AND status = 'running' AND processed_items > 0",
        )
        .bind(&ids)
        .fetch_one(&pool)
        .await
        .unwrap();
        if running as usize == runs {
            break;
        }
        assert!(Instant::now() < deadline, "the runs did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Watch /readyz while the database restarts.
    let probe = Client::new(addr);
    let watcher = tokio::spawn(async move {
        let (mut red, mut green_after_red) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline && !green_after_red {
            let status = probe.get("/readyz").await.status;
            red |= status == 503;
            green_after_red = red && status == 200;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (red, green_after_red)
    });
    let restarted_at = Instant::now();
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&restart)
        .output()
        .await
        .expect("the restart command runs");
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restart_took = restarted_at.elapsed();
    let (red, green) = watcher.await.unwrap();
    assert!(red, "/readyz never went red while the database was down");
    assert!(green, "/readyz did not come back green");
    let ready_after = restarted_at.elapsed();

    // Every open stream is told to resync.
    let mut resynced = 0;
    for (_, s) in open.iter_mut() {
        let (seen, ended) = read_events(s, "event: resync", Duration::from_secs(30)).await;
        assert!(
            seen.contains("event: resync"),
            "no resync (ended: {ended}): {seen}"
        );
        resynced += 1;
    }

    // Every run finishes, with counters that add up.
    let deadline = Instant::now() + Duration::from_secs(180);
    let finished = loop {
        let rows: Vec<RunRow> = sqlx::query_as(
            "SELECT id, status, total_items, processed_items, succeeded, failed, skipped, attempts \
             FROM bulk_operation_runs WHERE id = ANY($1) ORDER BY id",
        )
        .bind(&ids)
        .fetch_all(&pool)
        .await
        .unwrap();
        if rows.iter().all(|r| r.1 != "pending" && r.1 != "running") {
            break rows;
        }
        assert!(Instant::now() < deadline, "runs still executing: {rows:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    workers.shutdown().await;
    let n = POLICIES_PER_RUN as i32;
    for (id, status, total, processed, succeeded, failed, skipped, _) in &finished {
        assert_eq!(status, "completed", "run {id}: {finished:?}");
        assert_eq!(
            (*total, *processed, *succeeded, *failed, *skipped),
            (n, n, n, 0, 0),
            "run {id}"
        );
    }
    let items: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inventory_items i JOIN inventory_sync_runs s ON s.id = i.inventory_sync_run_id \
         WHERE s.bulk_operation_run_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        items as usize,
        runs * POLICIES_PER_RUN,
        "each item recorded once"
    );
    let attempts: Vec<i32> = finished.iter().map(|r| r.7).collect();
    eprintln!(
        "restart suite: {runs} runs of {POLICIES_PER_RUN} items executing and {streams} open streams; \
         the database restart took {:.1} s; /readyz went red, then green after {:.1} s; \
         {resynced}/{streams} streams resynced; every run completed with {POLICIES_PER_RUN} items \
         processed and succeeded, each item recorded once (attempts per run: {attempts:?})",
        restart_took.as_secs_f64(),
        ready_after.as_secs_f64()
    );
}
