//! Sessions as stored by the session layer (`user_sessions`), read for
//! the checks an open event stream repeats.

use sqlx::PgPool;

/// Whether the session `session_id` still exists (not signed out, not
/// expired) and `user_id` is still a member of `tenant_id`. A session's
/// user never changes under one id: signing in again issues a new one.
pub async fn grants(
    pool: &PgPool,
    session_id: &str,
    user_id: i64,
    tenant_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_sessions WHERE id = $1 AND expiry_date > now()) \
            AND EXISTS (SELECT 1 FROM tenant_memberships WHERE user_id = $2 AND tenant_id = $3)",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(tenant_id)
    .fetch_one(pool)
    .await
}
