//! Rows written as of past times: the demo's history (`opshub seed
//! --demo`) of policies, inventory syncs and their items, drift findings,
//! backup sets and their items. As the operations write them, but with the
//! times the history gives; runs themselves go through the engine's
//! lifecycle.

use crate::db::backup_sets::POLICY_SNAPSHOT_SQL;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

/// Whether the tenant has any run (a seeded tenant keeps its history).
pub async fn tenant_has_runs(conn: &mut PgConnection, tenant_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bulk_operation_runs WHERE tenant_id = $1)")
        .bind(tenant_id)
        .fetch_one(conn)
        .await
}

/// A policy as it was first seen.
pub struct Policy<'a> {
    pub tenant_id: i64,
    pub external_id: &'a str,
    pub policy_type: &'a str,
    pub display_name: &'a str,
    pub settings: &'a Value,
    pub assignments: &'a Value,
    pub settings_hash: &'a str,
    pub at: DateTime<Utc>,
}

pub async fn insert_policy(conn: &mut PgConnection, p: &Policy<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO policies (tenant_id, external_id, policy_type, display_name, settings, assignments, settings_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(p.tenant_id)
    .bind(p.external_id)
    .bind(p.policy_type)
    .bind(p.display_name)
    .bind(p.settings)
    .bind(p.assignments)
    .bind(p.settings_hash)
    .bind(p.at)
    .fetch_one(conn)
    .await
}

/// One item an inventory sync observed.
pub struct Observed<'a> {
    pub subject_type: &'a str,
    pub subject_external_id: &'a str,
    pub display_name: &'a str,
    pub settings: &'a Value,
    pub settings_hash: &'a str,
}

/// A completed inventory sync of `selection` and the items it observed.
pub async fn insert_inventory_sync(
    conn: &mut PgConnection,
    tenant_id: i64,
    selection_hash: &str,
    selection: &Value,
    items: &[Observed<'_>],
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO inventory_sync_runs (tenant_id, selection_hash, selection, status, items_observed, started_at, finished_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'completed', $4, $5, $6, $5, $6) RETURNING id",
    )
    .bind(tenant_id)
    .bind(selection_hash)
    .bind(selection)
    .bind(items.len() as i32)
    .bind(started)
    .bind(finished)
    .fetch_one(&mut *conn)
    .await?;
    for item in items {
        sqlx::query(
            "INSERT INTO inventory_items (tenant_id, inventory_sync_run_id, subject_type, subject_external_id, display_name, settings, settings_hash, observed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(item.subject_type)
        .bind(item.subject_external_id)
        .bind(item.display_name)
        .bind(item.settings)
        .bind(item.settings_hash)
        .bind(started + chrono::Duration::seconds(10))
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// A drift finding as a drift run recorded it, acknowledged or new.
pub struct Finding<'a> {
    pub tenant_id: i64,
    pub scope_key: &'a str,
    pub baseline_run_id: i64,
    pub current_run_id: i64,
    pub fingerprint: &'a str,
    pub subject_type: &'a str,
    pub subject_external_id: &'a str,
    pub evidence: &'a Value,
    /// When and by whom, for an acknowledged finding.
    pub acknowledged: Option<(DateTime<Utc>, i64)>,
    pub at: DateTime<Utc>,
}

pub async fn insert_finding(conn: &mut PgConnection, f: &Finding<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO findings (tenant_id, finding_type, scope_key, baseline_run_id, current_run_id, fingerprint, \
         subject_type, subject_external_id, status, evidence_jsonb, acknowledged_at, acknowledged_by_user_id, created_at, updated_at) \
         VALUES ($1, 'drift', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(f.tenant_id)
    .bind(f.scope_key)
    .bind(f.baseline_run_id)
    .bind(f.current_run_id)
    .bind(f.fingerprint)
    .bind(f.subject_type)
    .bind(f.subject_external_id)
    .bind(if f.acknowledged.is_some() { "acknowledged" } else { "new" })
    .bind(f.evidence)
    .bind(f.acknowledged.map(|(at, _)| at))
    .bind(f.acknowledged.map(|(_, by)| by))
    .bind(f.at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_backup_set(
    conn: &mut PgConnection,
    tenant_id: i64,
    name: &str,
    description: &str,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(tenant_id)
    .bind(name)
    .bind(description)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Copies policies' current state into a backup set, as the operation does.
pub async fn copy_into_backup(
    conn: &mut PgConnection,
    tenant_id: i64,
    backup_set_id: i64,
    policy_ids: &[i64],
    include_assignments: bool,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, snapshot, assignments, settings_hash, captured_at) \
         SELECT p.tenant_id, $2, p.id, p.external_id, p.display_name, {POLICY_SNAPSHOT_SQL}, CASE WHEN $4 THEN p.assignments END, p.settings_hash, $5 \
         FROM policies p WHERE p.tenant_id = $1 AND p.id = ANY($3) \
         ON CONFLICT (tenant_id, backup_set_id, policy_id) DO NOTHING",
    );
    sqlx::query(&sql)
        .bind(tenant_id)
        .bind(backup_set_id)
        .bind(policy_ids)
        .bind(include_assignments)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
