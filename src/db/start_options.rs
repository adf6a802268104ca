//! The choices the start-operation forms offer, for one tenant.

use crate::model::start::{ScopeOption, StartOptions, SyncOption};
use crate::model::time::format_absolute;
use chrono::{DateTime, Utc};

/// At most this many policies are offered to pick from.
pub const MAX_POLICIES_OFFERED: i64 = 500;

pub async fn load(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
) -> Result<StartOptions, sqlx::Error> {
    type SyncRow = (String, serde_json::Value, i64, Option<DateTime<Utc>>, i32);
    let syncs: Vec<SyncRow> = sqlx::query_as(
        "SELECT selection_hash, selection, id, finished_at, items_observed FROM inventory_sync_runs \
         WHERE tenant_id = $1 AND status = 'completed' ORDER BY selection_hash, finished_at DESC, id DESC",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut scopes: Vec<ScopeOption> = Vec::new();
    for (key, selection, id, finished, items) in syncs {
        if scopes.last().is_none_or(|s| s.scope_key != key) {
            let name = selection
                .get("name")
                .and_then(|n| n.as_str())
                .map(|n| n.chars().take(80).collect())
                .unwrap_or_else(|| format!("selection {}", &key[..key.len().min(12)]));
            scopes.push(ScopeOption {
                scope_key: key.clone(),
                name,
                syncs: Vec::new(),
            });
        }
        if let Some(scope) = scopes.last_mut() {
            scope.syncs.push(SyncOption {
                id,
                label: format!(
                    "#{id} · {} · {items} items",
                    finished.map(format_absolute).unwrap_or_default()
                ),
            });
        }
    }
    // Drift compares two syncs: a scope with fewer has nothing to offer yet.
    scopes.retain(|s| s.syncs.len() >= 2);
    let backup_sets: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM backup_sets WHERE tenant_id = $1 ORDER BY name, id")
            .bind(tenant_id)
            .fetch_all(&mut *conn)
            .await?;
    let policies: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, display_name, policy_type FROM policies WHERE tenant_id = $1 ORDER BY display_name, id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(MAX_POLICIES_OFFERED)
    .fetch_all(&mut *conn)
    .await?;
    Ok(StartOptions {
        scopes,
        backup_sets,
        policies,
    })
}
