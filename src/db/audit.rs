//! Audit entries, written inside the caller's transaction so they commit
//! (or not) with the state change they describe.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// Appends an audit entry about a run; returns its id.
pub async fn record_run_event(
    conn: &mut PgConnection,
    tenant_id: i64,
    actor_user_id: Option<i64>,
    action: &str,
    run_id: i64,
    metadata: Value,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO audit_logs (tenant_id, actor_user_id, action, subject_type, subject_id, metadata, created_at) \
         VALUES ($1, $2, $3, 'bulk_operation_run', $4, $5, $6) RETURNING id",
    )
    .bind(tenant_id)
    .bind(actor_user_id)
    .bind(action)
    .bind(run_id)
    .bind(metadata)
    .bind(at)
    .fetch_one(conn)
    .await
}
