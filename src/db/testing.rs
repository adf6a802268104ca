//! Fixtures for database tests.

use sqlx::PgPool;

pub async fn tenant(pool: &PgPool, slug: &str) -> i64 {
    sqlx::query_scalar("INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id")
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("insert tenant")
}

pub async fn user(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO users (name, email, password_hash) VALUES ($1, $1, 'x') RETURNING id",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .expect("insert user")
}

/// A pending drift run with the given idempotency key.
pub async fn pending_run(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    key: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key) \
         VALUES ($1, $2, 'drift', 'generate', $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(key)
    .fetch_one(pool)
    .await
}

/// Sets a run's status (and the timestamps its status requires).
pub async fn set_status(pool: &PgPool, run_id: i64, status: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = $2, \
         started_at = CASE WHEN $2 = 'running' THEN now() ELSE started_at END, \
         finished_at = CASE WHEN $2 IN ('pending', 'running') THEN NULL ELSE now() END \
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(status)
    .execute(pool)
    .await
    .map(|_| ())
}
