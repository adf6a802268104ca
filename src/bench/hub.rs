//! `opshub bench hub`: loads a long history (a million runs over ten
//! tenants, a hundred thousand notifications for one user), serves the hub on
//! a local port and measures its read paths over HTTP as a browser calls
//! them: the runs list (first page, a page deep in the history, a status
//! bucket, a search by idempotency key) and the bell. Prints a Markdown table.
//!
//! The data goes into fresh tenants and users of its own, loaded with
//! set-based statements that pass every constraint and the lifecycle trigger
//! (each run is inserted pending, then started, then finished), and is
//! removed afterwards unless kept.

use crate::api::runs::RUNS_PAGE_SIZE;
use crate::model::cursor::Cursor;
use crate::model::run_query::{thousands, RunFacets, RunPage};
use crate::model::{Bell, StatusBucket};
use crate::server::test_client::Client;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::{ConnectOptions as _, PgConnection, PgPool};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct HubBench {
    /// Runs to load, half of them into the measured tenant.
    pub runs: usize,
    /// Notifications to load for the signed-in user.
    pub notifications: usize,
    /// Timed requests per measurement (after a warm-up).
    pub requests: usize,
    /// Leave the loaded data in the database.
    pub keep: bool,
}

/// The measured tenant and nine others sharing the table.
const TENANTS: i32 = 10;
/// Members of each tenant; the first few are operators who start runs.
const USERS_PER_TENANT: i32 = 5;
const INITIATORS_PER_TENANT: i32 = 3;
/// How deep in the history the deep page starts.
const DEEP_ROWS: i64 = 10_000;
/// Untimed requests before each measurement.
const WARMUP: usize = 30;
/// What the read paths should stay under.
const TARGET_P99: &str = "p99 < 20 ms";
const TARGET_RATIO: &str = "≤ 1.5";

/// The loaded tenants and users, and how to sign in.
struct Fixture {
    tag: String,
    tenant_ids: Vec<i64>,
    user_ids: Vec<i64>,
    email: String,
    password: String,
}

impl Fixture {
    fn big_tenant(&self) -> i64 {
        self.tenant_ids[0]
    }

    /// The signed-in user: the measured tenant's first operator.
    fn user(&self) -> i64 {
        self.user_ids[0]
    }
}

struct Loaded {
    runs_secs: f64,
    notifications_secs: f64,
    vacuum_secs: f64,
    big_runs: i64,
    unread: i64,
}

pub async fn run_hub(pool: &PgPool, opts: HubBench) -> anyhow::Result<String> {
    let mut conn = loader(pool).await?;
    let fx = create_members(&mut conn)
        .await
        .context("creating the benchmark tenants and users")?;
    let outcome = load_and_measure(pool, &mut conn, &fx, &opts).await;
    if opts.keep {
        eprintln!(
            "keeping the data: tenants bench-{}-0 … bench-{}-{}",
            fx.tag,
            fx.tag,
            TENANTS - 1
        );
    } else {
        let began = Instant::now();
        let removed = remove(&mut conn, &fx)
            .await
            .context("removing the benchmark data");
        match removed {
            Ok(()) => eprintln!(
                "removed the benchmark data in {:.1} s",
                began.elapsed().as_secs_f64()
            ),
            // The measurement's own error matters more; report both.
            Err(err) if outcome.is_err() => eprintln!("{err:#}"),
            Err(err) => return Err(err),
        }
    }
    outcome
}

/// A connection for bulk statements: they run for seconds, so it does not
/// log them as slow, and it skips JIT compilation, which costs more than it
/// saves on these statements.
async fn loader(pool: &PgPool) -> anyhow::Result<PgConnection> {
    let options = (*pool.connect_options())
        .clone()
        .disable_statement_logging();
    let mut conn = options
        .connect()
        .await
        .context("connecting to Postgres for the data load")?;
    sqlx::raw_sql("SET jit = off; SET work_mem = '256MB'")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

async fn load_and_measure(
    pool: &PgPool,
    conn: &mut PgConnection,
    fx: &Fixture,
    opts: &HubBench,
) -> anyhow::Result<String> {
    let loaded = load(pool, conn, fx, opts)
        .await
        .context("loading the benchmark data")?;
    let measured = measure(pool, conn, fx, opts, &loaded).await?;
    Ok(format!(
        "Loaded {} runs over {TENANTS} tenants ({} in the measured one) in {:.1} s, \
         {} notifications for its user ({} unread) in {:.1} s, then VACUUM ANALYZE in {:.1} s.\n\
         Each measurement: {} sequential requests over one keep-alive connection, after {WARMUP} warm-up requests.\n\n{}",
        thousands(opts.runs as i64),
        thousands(loaded.big_runs),
        loaded.runs_secs,
        thousands(opts.notifications as i64),
        thousands(loaded.unread),
        loaded.notifications_secs,
        loaded.vacuum_secs,
        opts.requests,
        measured
    ))
}

/// Tenants, users (the first with a real password) and memberships.
async fn create_members(conn: &mut PgConnection) -> anyhow::Result<Fixture> {
    let tag = super::new_tag();
    let password = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let hash = crate::server::password::hash(&password)?;
    // All or nothing, so a failure leaves nothing behind to remove.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let tenant_ids: Vec<i64> = sqlx::query_scalar(
        "WITH added AS ( \
             INSERT INTO tenants (slug, name) \
             SELECT 'bench-' || $1 || '-' || t, 'Benchmark ' || $1 || ' #' || t \
             FROM generate_series(0, $2 - 1) t RETURNING id, slug) \
         SELECT id FROM added ORDER BY split_part(slug, '-', 3)::int",
    )
    .bind(&tag)
    .bind(TENANTS)
    .fetch_all(&mut *tx)
    .await?;
    // users[t * USERS_PER_TENANT + u] is member u of tenant t.
    let user_ids: Vec<i64> = sqlx::query_scalar(
        "WITH added AS ( \
             INSERT INTO users (name, email, password_hash) \
             SELECT (ARRAY['Avery', 'Blake', 'Casey', 'Devon', 'Emery'])[u + 1] || ' ' || t, \
                    'bench-' || $1 || '-' || t || '-' || u || '@opshub.invalid', \
                    CASE WHEN t = 0 AND u = 0 THEN $3 ELSE '!' END \
             FROM generate_series(0, $2 - 1) t, generate_series(0, $4 - 1) u \
             RETURNING id, email) \
         SELECT id FROM added \
         ORDER BY split_part(split_part(email, '@', 1), '-', 3)::int, \
                  split_part(split_part(email, '@', 1), '-', 4)::int",
    )
    .bind(&tag)
    .bind(TENANTS)
    .bind(&hash)
    .bind(USERS_PER_TENANT)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO tenant_memberships (tenant_id, user_id, role) \
         SELECT ($1::bigint[])[t + 1], ($2::bigint[])[t * $3 + u + 1], \
                CASE WHEN u < $4 THEN 'operator' ELSE 'viewer' END \
         FROM generate_series(0, $5 - 1) t, generate_series(0, $3 - 1) u",
    )
    .bind(&tenant_ids)
    .bind(&user_ids)
    .bind(USERS_PER_TENANT)
    .bind(INITIATORS_PER_TENANT)
    .bind(TENANTS)
    .execute(&mut *tx)
    .await?;
    anyhow::ensure!(
        tenant_ids.len() == TENANTS as usize
            && user_ids.len() == (TENANTS * USERS_PER_TENANT) as usize,
        "created {} tenants and {} users",
        tenant_ids.len(),
        user_ids.len()
    );
    tx.commit().await?;
    Ok(Fixture {
        email: format!("bench-{tag}-0-0@opshub.invalid"),
        tag,
        tenant_ids,
        user_ids,
        password,
    })
}

/// What runs `$8..=$9` of `$1` will become: tenant, initiator, operation,
/// final status, times, counters, scope and failures, drawn at random with a
/// realistic spread. The first half of the runs belong to the measured
/// tenant; active runs are from the last hour, finished ones from the last
/// 90 days.
const PLAN_RUNS: &str = "\
CREATE TEMP TABLE bench_runs AS
WITH draw AS MATERIALIZED (
    SELECT g, random() AS r_status, random() AS r_kind, random() AS r_user, random() AS r_age,
           random() AS r_size, random() AS r_split, random() AS r_time
    FROM generate_series($8::int, $9::int) g
), picked AS (
    SELECT g, r_split, r_time,
           CASE WHEN g <= $1 / 2 THEN 0 ELSE 1 + g % ($2 - 1) END AS t,
           floor(r_user * $3)::int AS u,
           CASE WHEN r_kind < 0.2 THEN 0 WHEN r_kind < 0.5 THEN 1 ELSE 2 END AS kind,
           CASE WHEN r_status < 0.0005 THEN 'pending'
                WHEN r_status < 0.001 THEN 'running'
                WHEN r_status < 0.82 THEN 'completed'
                WHEN r_status < 0.91 THEN 'completed_with_errors'
                WHEN r_status < 0.97 THEN 'failed'
                ELSE 'aborted' END AS status,
           CASE WHEN r_status < 0.001 THEN now() - r_age * interval '1 hour'
                ELSE now() - interval '10 minutes' - r_age * interval '90 days' END AS created_at,
           r_size
    FROM draw
), sized AS (
    SELECT picked.*,
           CASE kind WHEN 0 THEN 20 + floor(r_size * 1980)::int
                     WHEN 1 THEN 5 + floor(r_size * 495)::int
                     ELSE 2 + floor(r_size * 19)::int END AS total
    FROM picked
), counted AS (
    SELECT sized.*,
           CASE status WHEN 'pending' THEN 0
                       WHEN 'completed' THEN total
                       WHEN 'completed_with_errors' THEN total
                       WHEN 'failed' THEN least(total, 1 + floor(r_split * 5)::int)
                       ELSE floor(total * r_split)::int END AS processed,
           CASE status WHEN 'completed_with_errors' THEN least(total - 1, 1 + floor(r_split * 5)::int)
                       WHEN 'failed' THEN least(total, 1 + floor(r_split * 5)::int)
                       ELSE 0 END AS failed,
           CASE WHEN status = 'completed' AND kind = 2 AND r_split < 0.1
                THEN least(total, 1 + floor(r_split * 30)::int) ELSE 0 END AS skipped,
           created_at + r_time * interval '5 seconds' AS started_at
    FROM sized
)
SELECT ($4::bigint[])[t + 1] AS tenant_id,
       ($5::bigint[])[t * $6 + u + 1] AS user_id,
       (ARRAY['inventory', 'drift', 'backup_set'])[kind + 1] AS resource,
       (ARRAY['sync', 'generate', 'add_policies'])[kind + 1] AS action,
       (ARRAY['inventory.sync', 'drift.generate', 'backup_set.add_policies'])[kind + 1] || ':'
           || left(encode(sha256(convert_to($7 || ':' || g, 'UTF8')), 'hex'), 40) AS idempotency_key,
       CASE kind
           WHEN 0 THEN jsonb_build_object('source', 'inventory-' || g || '.json')
           WHEN 1 THEN jsonb_build_object('scope_key', 'scope-' || g % 40,
                                          'baseline_run_id', g, 'current_run_id', g + 1)
           ELSE jsonb_build_object(
                    'backup_set_id', 1 + g % 25,
                    'policy_ids', (SELECT jsonb_agg(1 + (g + s) % 5000) FROM generate_series(1, total) s),
                    'options', jsonb_build_object('include_assignments', r_split < 0.5))
       END AS item_ids,
       status, created_at,
       CASE WHEN status = 'pending' THEN NULL ELSE total END AS total_items,
       processed, processed - failed - skipped AS succeeded, failed, skipped,
       CASE WHEN status = 'pending' THEN NULL ELSE started_at END AS started_at,
       CASE WHEN status IN ('pending', 'running') THEN NULL
            ELSE started_at + make_interval(secs => 0.2 + processed * 0.04 * (0.5 + r_time)) END AS finished_at,
       CASE WHEN failed > 0 OR skipped > 0 THEN (
           SELECT jsonb_agg(jsonb_build_object(
                      'reason_code', CASE WHEN skipped > 0 THEN 'already_in_backup_set'
                                          ELSE (ARRAY['invalid_policy_entry', 'invalid_settings', 'policy_not_found'])[kind + 1] END,
                      'reason', CASE WHEN skipped > 0 THEN 'the policy is already in the backup set'
                                     ELSE (ARRAY['the policy entry has no external id',
                                                 'the settings of the subject could not be read',
                                                 'the policy does not exist in this tenant'])[kind + 1] END,
                      'item_id', (1 + (g + s) % 5000)::text)
                  || CASE WHEN skipped > 0 THEN '{\"type\": \"skipped\"}'::jsonb ELSE '{}'::jsonb END)
           FROM generate_series(1, failed + skipped) s)
       END AS failures
FROM counted";

/// Every run starts pending; ids follow creation time, as they would have.
const INSERT_RUNS: &str = "\
INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids, created_at)
SELECT tenant_id, user_id, resource, action, idempotency_key, item_ids, created_at
FROM bench_runs ORDER BY created_at";

/// Claimed by a worker. The runs left running hold a lease for a day, so a
/// worker of this database does not take them over during the measurement.
const START_RUNS: &str = "\
UPDATE bulk_operation_runs r
SET status = 'running', started_at = b.started_at, attempts = 1, heartbeat_at = b.started_at,
    lease_owner = 'bench-' || $1 || '/worker',
    lease_expires_at = CASE WHEN b.status = 'running' THEN now() + interval '1 day'
                            ELSE b.started_at + interval '30 seconds' END,
    total_items = b.total_items,
    processed_items = CASE WHEN b.status = 'running' THEN b.processed ELSE 0 END,
    succeeded = CASE WHEN b.status = 'running' THEN b.succeeded ELSE 0 END
FROM bench_runs b
WHERE r.tenant_id = b.tenant_id AND r.idempotency_key = b.idempotency_key AND b.status <> 'pending'";

/// The runs' failures, laid out as `engine::failures::record` lays them out:
/// item entries and counts per (skipped, reason code) beside the run. The
/// drawn runs have fewer failures than the run row's sample holds, so the
/// row keeps them all.
const RECORD_FAILURES: [&str; 2] = [
    "\
INSERT INTO bulk_operation_run_failures (tenant_id, run_id, skipped, reason_code, reason, item_id)
SELECT r.tenant_id, r.id, coalesce(e->>'type', '') = 'skipped', e->>'reason_code', e->>'reason', e->>'item_id'
FROM bench_runs b
JOIN bulk_operation_runs r ON r.tenant_id = b.tenant_id AND r.idempotency_key = b.idempotency_key
CROSS JOIN LATERAL jsonb_array_elements(b.failures) WITH ORDINALITY AS x(e, ord)
WHERE b.failures IS NOT NULL AND b.status NOT IN ('pending', 'running')
ORDER BY r.id, ord",
    "\
INSERT INTO bulk_operation_run_failure_counts (tenant_id, run_id, skipped, reason_code, reason, entries)
SELECT r.tenant_id, r.id, coalesce(e->>'type', '') = 'skipped', e->>'reason_code', min(e->>'reason'), count(*)
FROM bench_runs b
JOIN bulk_operation_runs r ON r.tenant_id = b.tenant_id AND r.idempotency_key = b.idempotency_key
CROSS JOIN LATERAL jsonb_array_elements(b.failures) e
WHERE b.failures IS NOT NULL AND b.status NOT IN ('pending', 'running')
GROUP BY 1, 2, 3, 4",
];

const FINISH_RUNS: &str = "\
UPDATE bulk_operation_runs r
SET status = b.status, finished_at = b.finished_at, heartbeat_at = b.finished_at,
    lease_owner = NULL, lease_expires_at = NULL,
    processed_items = b.processed, succeeded = b.succeeded, failed = b.failed, skipped = b.skipped,
    failures = b.failures
FROM bench_runs b
WHERE r.tenant_id = b.tenant_id AND r.idempotency_key = b.idempotency_key
  AND b.status NOT IN ('pending', 'running')";

/// One notice per run of the user, newest first, with the payload the engine
/// writes (cycling through the runs if there are fewer runs than notices).
/// The latest fifty and a quarter of the rest are unread.
const INSERT_NOTIFICATIONS: &str = "\
WITH mine AS MATERIALIZED (
    SELECT r.*, coalesce(r.finished_at, r.created_at) AS at,
           row_number() OVER (ORDER BY coalesce(r.finished_at, r.created_at) DESC, r.id DESC) AS rn
    FROM bulk_operation_runs r WHERE r.tenant_id = $1 AND r.user_id = $2
), wanted AS MATERIALIZED (
    SELECT g, (g - 1) % n + 1 AS rn, (g - 1) / n AS lap, random() AS r_read, random() AS r_delay
    FROM generate_series(1, $3::int) g, (SELECT count(*) AS n FROM mine) c
), notices AS (
    SELECT m.*, w.r_read, w.rn AS wrn, m.at - w.lap * interval '1 day' AS at_lap, w.r_delay,
           CASE WHEN m.status IN ('pending', 'running') THEN 'queued'
                ELSE (ARRAY['succeeded', 'partially succeeded', 'failed', 'failed'])
                     [array_position(ARRAY['completed', 'completed_with_errors', 'failed', 'aborted'], m.status)]
           END AS outcome,
           CASE WHEN m.status IN ('pending', 'running') THEN 'queued'
                ELSE (ARRAY['succeeded', 'partial', 'failed', 'failed'])
                     [array_position(ARRAY['completed', 'completed_with_errors', 'failed', 'aborted'], m.status)]
           END AS bucket
    FROM wanted w JOIN mine m ON m.rn = w.rn
), timed AS (
    SELECT notices.*,
           CASE WHEN wrn <= 50 OR r_read < 0.25 THEN NULL
                ELSE least(now(), at_lap + r_delay * interval '2 days') END AS read_at
    FROM notices
)
INSERT INTO notifications (tenant_id, id, type, notifiable_type, notifiable_id, data, read_at, created_at, updated_at)
SELECT $1, gen_random_uuid(),
       CASE WHEN status IN ('pending', 'running') THEN 'opshub.run_queued' ELSE 'opshub.run_completed' END,
       'user', $2,
       jsonb_build_object(
           'tenant', jsonb_build_object('id', $1, 'slug', $4::text, 'name', $5::text),
           'run', jsonb_build_object('id', id, 'type', 'bulk_operation_run', 'operation', resource || '.' || action),
           'title', CASE resource WHEN 'inventory' THEN 'Inventory import'
                                  WHEN 'drift' THEN 'Drift generation'
                                  ELSE 'Add policies to backup set' END || ' ' || outcome,
           'status', status,
           'status_bucket', bucket,
           'counts', jsonb_build_object('total', total_items, 'processed', processed_items,
                                        'succeeded', succeeded, 'failed', failed, 'skipped', skipped),
           'error_summary', CASE WHEN failed > 0 THEN
               failed || CASE WHEN failed = 1 THEN ' failure: ' ELSE ' failures: ' END
               || (failures -> 0 ->> 'reason_code') || ' (' || failed || ')' END,
           'url', '/runs/' || id),
       read_at, at_lap, coalesce(read_at, at_lap)
FROM timed";

async fn load(
    pool: &PgPool,
    conn: &mut PgConnection,
    fx: &Fixture,
    opts: &HubBench,
) -> anyhow::Result<Loaded> {
    let runs = i32::try_from(opts.runs).context("--runs is too large")?;
    let notifications =
        i32::try_from(opts.notifications).context("--notifications is too large")?;

    // Two loaders, one per core: the measured tenant's half and the rest.
    let began = Instant::now();
    let mut other = loader(pool).await?;
    let half = runs / 2;
    tokio::try_join!(
        load_runs(conn, fx, runs, 1, half, began),
        load_runs(&mut other, fx, runs, half + 1, runs, began),
    )?;
    let runs_secs = began.elapsed().as_secs_f64();

    let began = Instant::now();
    let big_runs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1")
            .bind(fx.big_tenant())
            .fetch_one(&mut *conn)
            .await?;
    let (own_runs,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(fx.big_tenant())
    .bind(fx.user())
    .fetch_one(&mut *conn)
    .await?;
    anyhow::ensure!(
        own_runs > 0,
        "the signed-in user started no runs; load more runs"
    );
    let slug = format!("bench-{}-0", fx.tag);
    let name = format!("Benchmark {} #0", fx.tag);
    sqlx::query(INSERT_NOTIFICATIONS)
        .bind(fx.big_tenant())
        .bind(fx.user())
        .bind(notifications)
        .bind(&slug)
        .bind(&name)
        .execute(&mut *conn)
        .await
        .context("inserting the notifications")?;
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND notifiable_type = 'user' \
         AND notifiable_id = $2 AND read_at IS NULL",
    )
    .bind(fx.big_tenant())
    .bind(fx.user())
    .fetch_one(&mut *conn)
    .await?;
    let notifications_secs = began.elapsed().as_secs_f64();

    // Runs were written three times over (pending, running, finished):
    // clear the dead versions and refresh the planner's statistics, as
    // autovacuum would on a live system.
    let began = Instant::now();
    sqlx::raw_sql("VACUUM (ANALYZE) bulk_operation_runs")
        .execute(&mut *conn)
        .await
        .context("vacuuming the runs")?;
    sqlx::raw_sql(
        "VACUUM (ANALYZE) bulk_operation_run_failures, bulk_operation_run_failure_counts",
    )
    .execute(&mut *conn)
    .await
    .context("vacuuming the failures")?;
    sqlx::raw_sql("VACUUM (ANALYZE) notifications")
        .execute(&mut *conn)
        .await
        .context("vacuuming the notifications")?;
    Ok(Loaded {
        runs_secs,
        notifications_secs,
        vacuum_secs: began.elapsed().as_secs_f64(),
        big_runs,
        unread,
    })
}

/// Runs `first..=last` of `runs`: drawn into a temporary table, inserted
/// pending, then started, then finished, each step its own statement (and
/// transaction, so the updates skip re-checking the foreign keys of rows
/// inserted in the same transaction).
async fn load_runs(
    conn: &mut PgConnection,
    fx: &Fixture,
    runs: i32,
    first: i32,
    last: i32,
    began: Instant,
) -> anyhow::Result<()> {
    let part = format!("runs {first}–{last}");
    sqlx::query(PLAN_RUNS)
        .bind(runs)
        .bind(TENANTS)
        .bind(INITIATORS_PER_TENANT)
        .bind(&fx.tenant_ids)
        .bind(&fx.user_ids)
        .bind(USERS_PER_TENANT)
        .bind(&fx.tag)
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("drawing {part}"))?;
    sqlx::raw_sql("ANALYZE bench_runs")
        .execute(&mut *conn)
        .await?;
    progress(&format!("{part} drawn"), began);
    let inserted = sqlx::query(INSERT_RUNS)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("inserting {part}"))?
        .rows_affected();
    let expected = (last - first + 1).max(0) as u64;
    anyhow::ensure!(
        inserted == expected,
        "inserted {inserted} of {expected} runs"
    );
    progress(&format!("{part} inserted (pending)"), began);
    sqlx::query(START_RUNS)
        .bind(&fx.tag)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("starting {part}"))?;
    progress(&format!("{part} started"), began);
    for sql in RECORD_FAILURES {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .with_context(|| format!("recording the failures of {part}"))?;
    }
    sqlx::query(FINISH_RUNS)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("finishing {part}"))?;
    progress(&format!("{part} finished"), began);
    sqlx::raw_sql("DROP TABLE bench_runs")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn progress(step: &str, since: Instant) {
    eprintln!("{step} after {:.1} s", since.elapsed().as_secs_f64());
}

/// Deletes the benchmark's rows, children first.
async fn remove(conn: &mut PgConnection, fx: &Fixture) -> anyhow::Result<()> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for sql in [
        "DELETE FROM notifications WHERE tenant_id = ANY($1)",
        "DELETE FROM bulk_operation_runs WHERE tenant_id = ANY($1)",
        "DELETE FROM tenant_memberships WHERE tenant_id = ANY($1)",
        // Anything else of these tenants goes with them (ON DELETE CASCADE).
        "DELETE FROM tenants WHERE id = ANY($1)",
    ] {
        sqlx::query(sql)
            .bind(&fx.tenant_ids)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM users WHERE id = ANY($1)")
        .bind(&fx.user_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sign_in_failures WHERE email LIKE $1")
        .bind(format!("bench-{}-%", fx.tag))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A browser: one cookie jar, one keep-alive connection, calls made the way
/// the hydrated app makes them (same-origin form POSTs answered in JSON).
struct Browser {
    client: Client,
}

impl Browser {
    fn new(addr: SocketAddr) -> Browser {
        Browser {
            client: Client::new(addr),
        }
    }

    /// One call: the time from sending to the last byte, and the body. Any
    /// answer but a 200 with a body is an error.
    async fn call(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<(Duration, String)> {
        let began = Instant::now();
        let response = self
            .client
            .try_post_with(path, form, &[("accept", "application/json")])
            .await
            .with_context(|| format!("POST {path}"))?;
        let took = began.elapsed();
        let (status, text) = (response.status, response.body);
        anyhow::ensure!(
            status == 200,
            "POST {path} answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
        anyhow::ensure!(!text.is_empty(), "POST {path} answered an empty body");
        Ok((took, text))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<T> {
        let (_, body) = self.call(path, form).await?;
        serde_json::from_str(&body).with_context(|| format!("reading the answer to POST {path}"))
    }
}

#[derive(Clone, Copy)]
struct Latency {
    p50: Duration,
    p99: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let at = |p: f64| super::nearest_rank(&samples, p).unwrap_or_default();
        Latency {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Warms up, then times `requests` sequential calls, checking every answer.
async fn time_calls(
    browser: &Browser,
    requests: usize,
    path: &str,
    form: &[(&str, &str)],
    check: impl Fn(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Latency> {
    for _ in 0..WARMUP {
        let (_, body) = browser.call(path, form).await?;
        check(&body).with_context(|| format!("checking the answer to POST {path}"))?;
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let (took, body) = browser.call(path, form).await?;
        check(&body).with_context(|| format!("checking the answer to POST {path}"))?;
        samples.push(took);
    }
    Ok(Latency::of(samples))
}

/// A full page of runs, each passing `each`.
fn full_page(body: &str, each: impl Fn(&crate::model::RunSummary) -> bool) -> anyhow::Result<()> {
    let page: RunPage = serde_json::from_str(body)?;
    anyhow::ensure!(
        page.runs.len() == RUNS_PAGE_SIZE as usize,
        "a page of {} runs, not {RUNS_PAGE_SIZE}",
        page.runs.len()
    );
    anyhow::ensure!(page.runs.iter().all(each), "a run that does not belong");
    Ok(())
}

async fn measure(
    pool: &PgPool,
    conn: &mut PgConnection,
    fx: &Fixture,
    opts: &HubBench,
    loaded: &Loaded,
) -> anyhow::Result<String> {
    const LIST: &str = "/api/runs/list";
    let page = RUNS_PAGE_SIZE;
    // A page this deep, leaving at least one more page behind it.
    let depth = DEEP_ROWS.min((loaded.big_runs - 1) / page * page);
    anyhow::ensure!(
        depth >= page,
        "the measured tenant has only {} runs; load more runs",
        loaded.big_runs
    );
    let (at, id): (DateTime<Utc>, i64) = sqlx::query_as(
        "SELECT created_at, id FROM bulk_operation_runs WHERE tenant_id = $1 \
         ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
    )
    .bind(fx.big_tenant())
    .bind(depth - 1)
    .fetch_one(&mut *conn)
    .await?;
    let deep_cursor = Cursor::new(at, id).encode();
    // A key from the middle of the history.
    let key: String = sqlx::query_scalar(
        "SELECT idempotency_key FROM bulk_operation_runs WHERE tenant_id = $1 \
           AND created_at < now() - interval '45 days' AND idempotency_key IS NOT NULL \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(fx.big_tenant())
    .fetch_optional(&mut *conn)
    .await?
    .context("no run older than 45 days to search for")?;

    let (addr, server) = crate::server::Application::spawn_local(pool.clone())
        .await
        .context("starting the hub on a local port")?;
    let outcome = async {
        let browser = Browser::new(addr);
        browser
            .call(
                "/api/auth/sign_in",
                &[
                    ("email", fx.email.as_str()),
                    ("password", fx.password.as_str()),
                ],
            )
            .await
            .context("signing in")?;

        // Walk the pages to the deep one: the cursor the list hands out
        // must be the one computed above.
        let mut before = String::new();
        for _ in 0..depth / page {
            let p: RunPage = browser.json(LIST, &[("before", before.as_str())]).await?;
            before = p.older.context("the list ended early")?.encode();
        }
        anyhow::ensure!(
            before == deep_cursor,
            "walking {depth} rows deep gave cursor {before}, not {deep_cursor}"
        );

        let n = opts.requests;
        let first = time_calls(&browser, n, LIST, &[], |b| full_page(b, |_| true)).await?;
        let deep = time_calls(
            &browser,
            n,
            LIST,
            &[("before", deep_cursor.as_str())],
            |b| full_page(b, |r| (r.created_at, r.id) < (at, id)),
        )
        .await?;
        let failed = time_calls(&browser, n, LIST, &[("status", "failed")], |b| {
            full_page(b, |r| r.status.bucket() == StatusBucket::Failed)
        })
        .await?;
        let search = time_calls(&browser, n, LIST, &[("q", key.as_str())], |b| {
            let p: RunPage = serde_json::from_str(b)?;
            anyhow::ensure!(
                !p.runs.is_empty()
                    && p.runs
                        .iter()
                        .all(|r| r.idempotency_key.as_deref() == Some(key.as_str())),
                "the search did not find its run"
            );
            Ok(())
        })
        .await?;
        let facets = time_calls(&browser, n, "/api/runs/facets", &[], |b| {
            let f: RunFacets = serde_json::from_str(b)?;
            anyhow::ensure!(f.counts.iter().any(|(_, n)| *n > 0), "no runs counted");
            Ok(())
        })
        .await?;
        let expected_unread = loaded.unread.min(crate::model::notification::UNREAD_CAP);
        let bell = time_calls(&browser, n, "/api/notifications/bell", &[], |b| {
            let bell: Bell = serde_json::from_str(b)?;
            anyhow::ensure!(
                !bell.latest.is_empty() && bell.unread == expected_unread,
                "a bell with {} entries and {} unread, expected {expected_unread} unread",
                bell.latest.len(),
                bell.unread
            );
            Ok(())
        })
        .await?;
        browser
            .call("/api/auth/sign_out", &[])
            .await
            .context("signing out")?;
        anyhow::Ok([first, deep, failed, search, facets, bell])
    }
    .await;
    server.abort();
    let [first, deep, failed, search, facets, bell] = outcome?;

    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    let row = |what: String, l: Latency, target: &str| {
        format!("| {what} | {} | {} | {target} |\n", ms(l.p50), ms(l.p99))
    };
    let mut table = String::from("| measurement | p50 | p99 | target |\n|---|---|---|---|\n");
    table += &row(
        format!(
            "runs list, first page ({page} of the tenant's {} runs)",
            thousands(loaded.big_runs)
        ),
        first,
        TARGET_P99,
    );
    table += &row(
        format!("runs list, a page {} rows deep", thousands(depth)),
        deep,
        TARGET_P99,
    );
    table += &row(
        "runs list, status bucket *failed* (failed and aborted)".into(),
        failed,
        TARGET_P99,
    );
    table += &row(
        "runs list, search by idempotency key".into(),
        search,
        TARGET_P99,
    );
    table += &row(
        format!(
            "bell: unread count and latest entries ({} notifications)",
            thousands(opts.notifications as i64)
        ),
        bell,
        TARGET_P99,
    );
    table += &row(
        "runs list's counts per status bucket (capped at 10,000)".into(),
        facets,
        "—",
    );
    table += &format!(
        "| deep page p99 / first page p99 | | {:.2} | {TARGET_RATIO} |\n",
        deep.p99.as_secs_f64() / first.p99.as_secs_f64().max(1e-9)
    );
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        let l = Latency::of(samples);
        assert_eq!(l.p50, Duration::from_millis(100));
        assert_eq!(l.p99, Duration::from_millis(198));
        assert_eq!(Latency::of(Vec::new()).p99, Duration::ZERO);
        let one = Latency::of(vec![Duration::from_millis(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
    }
}
