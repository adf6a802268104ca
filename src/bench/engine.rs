//! `opshub bench engine`: measures the run engine on a real Postgres and
//! prints a Markdown table. Data goes into a fresh tenant of its own.

use crate::engine::{self, StartRequest, WorkerConfig, WorkerPool};
use crate::model::OperationKind;
use anyhow::Context as _;
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub struct EngineBench {
    pub tiny_runs: usize,
    pub items: usize,
    pub concurrency: usize,
}

struct BenchTenant {
    tenant_id: i64,
    user_id: i64,
    backup_set_id: i64,
    policy_ids: Vec<i64>,
}

async fn bench_tenant(pool: &PgPool, policies: usize) -> anyhow::Result<BenchTenant> {
    let tag = super::new_tag();
    let tenant_id: i64 =
        sqlx::query_scalar("INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id")
            .bind(format!("bench-{tag}"))
            .bind(format!("Benchmark {tag}"))
            .fetch_one(pool)
            .await?;
    let user_id: i64 = sqlx::query_scalar(
        "INSERT INTO users (name, email, password_hash) VALUES ('Bench', $1, '!') RETURNING id",
    )
    .bind(format!("bench-{tag}@opshub.invalid"))
    .fetch_one(pool)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'operator')",
    )
    .bind(tenant_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    let backup_set_id: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'Benchmark') RETURNING id",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?;
    let policy_ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO policies (tenant_id, external_id, policy_type, display_name, settings, settings_hash) \
         SELECT $1, 'bench-' || g, 'configuration_policy', 'Bench policy ' || g, \
                jsonb_build_object('n', g, 'enabled', true), md5(g::text) \
         FROM generate_series(1, $2) g RETURNING id",
    )
    .bind(tenant_id)
    .bind(policies as i32)
    .fetch_all(pool)
    .await?;
    Ok(BenchTenant {
        tenant_id,
        user_id,
        backup_set_id,
        policy_ids,
    })
}

async fn wait_all_finished(pool: &PgPool, tenant_id: i64, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    loop {
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND status IN ('pending', 'running')",
        )
        .bind(tenant_id)
        .fetch_one(pool)
        .await?;
        if active == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "{active} runs still active after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run_engine(pool: &PgPool, opts: EngineBench) -> anyhow::Result<String> {
    let fx = bench_tenant(pool, opts.items.max(opts.tiny_runs))
        .await
        .context("preparing benchmark data")?;
    let config = WorkerConfig {
        concurrency: opts.concurrency,
        ..WorkerConfig::default()
    };

    // Tiny runs: each adds one policy; started by 32 concurrent callers while
    // the workers drain the queue.
    let workers = WorkerPool::spawn(pool.clone(), config.clone());
    let began = Instant::now();
    let mut callers = Vec::new();
    let per_caller = opts.tiny_runs.div_ceil(32);
    for chunk in fx.policy_ids[..opts.tiny_runs].chunks(per_caller.max(1)) {
        let (pool, chunk) = (pool.clone(), chunk.to_vec());
        let (tenant_id, user_id, set) = (fx.tenant_id, fx.user_id, fx.backup_set_id);
        callers.push(tokio::spawn(async move {
            for id in chunk {
                let req = StartRequest {
                    tenant_id,
                    user_id,
                    kind: OperationKind::BackupSetAddPolicies,
                    scope: json!({"backup_set_id": set, "policy_ids": [id]}),
                    payload: None,
                };
                engine::start(&pool, req)
                    .await
                    .map_err(|e| anyhow::anyhow!("start failed: {e}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for c in callers {
        c.await??;
    }
    let started_in = began.elapsed();
    wait_all_finished(pool, fx.tenant_id, Duration::from_secs(600)).await?;
    let tiny_elapsed = began.elapsed();
    let completed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND status = 'completed'",
    )
    .bind(fx.tenant_id)
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        completed as usize == opts.tiny_runs,
        "only {completed} of {} tiny runs completed",
        opts.tiny_runs
    );

    // One large itemized run into a fresh backup set.
    let big_set: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'Benchmark large') RETURNING id",
    )
    .bind(fx.tenant_id)
    .fetch_one(pool)
    .await?;
    let req = StartRequest {
        tenant_id: fx.tenant_id,
        user_id: fx.user_id,
        kind: OperationKind::BackupSetAddPolicies,
        scope: json!({"backup_set_id": big_set, "policy_ids": &fx.policy_ids[..opts.items]}),
        payload: None,
    };
    let big = engine::start(pool, req)
        .await
        .map_err(|e| anyhow::anyhow!("start failed: {e}"))?;
    wait_all_finished(pool, fx.tenant_id, Duration::from_secs(600)).await?;
    workers.shutdown().await;
    let (secs, succeeded): (f64, i32) = sqlx::query_as(
        "SELECT extract(epoch FROM finished_at - started_at)::float8, succeeded FROM bulk_operation_runs \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(fx.tenant_id)
    .bind(big.run_id)
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        succeeded as usize == opts.items,
        "the large run copied {succeeded} of {} items",
        opts.items
    );

    let tiny_rate = opts.tiny_runs as f64 / tiny_elapsed.as_secs_f64();
    let item_rate = opts.items as f64 / secs.max(1e-6);
    Ok(format!(
        "| measurement | result | target |\n|---|---|---|\n\
         | tiny runs (start → claimed → completed, audit + notifications), {} runs, {} workers | {:.0} runs/s ({:.1} s; starts alone {:.0}/s) | 2,000 runs/s |\n\
         | one `backup_set.add_policies` run of {} items | {:.0} items/s ({:.2} s) | 50,000 items/s |\n",
        opts.tiny_runs,
        opts.concurrency,
        tiny_rate,
        tiny_elapsed.as_secs_f64(),
        opts.tiny_runs as f64 / started_in.as_secs_f64(),
        opts.items,
        item_rate,
        secs,
    ))
}
