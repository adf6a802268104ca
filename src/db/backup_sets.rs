//! A backup set's page: the set, a page of its items and its recent runs.

use super::runs::{SummaryRow, SUMMARY_COLUMNS};
use crate::model::backup_set::{BackupItem, BackupSetDetail, ITEMS_PAGE_SIZE, RECENT_RUNS};
use chrono::{DateTime, Utc};

/// What a backup item keeps of a policy `p`: its type, name and settings.
/// Every writer of backup items (the operation, the demo's history) uses it.
pub const POLICY_SNAPSHOT_SQL: &str =
    "jsonb_build_object('policy_type', p.policy_type, 'display_name', p.display_name, 'settings', p.settings)";

/// The set with items after policy id `after` (by policy id); `None` when
/// the tenant has no such set.
pub async fn find(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    id: i64,
    after: Option<i64>,
) -> Result<Option<BackupSetDetail>, sqlx::Error> {
    let set: Option<(String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT s.name, s.description, s.created_at, \
                (SELECT count(*) FROM backup_items i WHERE i.tenant_id = s.tenant_id AND i.backup_set_id = s.id) \
         FROM backup_sets s WHERE s.tenant_id = $1 AND s.id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((name, description, created_at, item_count)) = set else {
        return Ok(None);
    };

    let mut items: Vec<(i64, String, String, bool, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT policy_id, policy_external_id, display_name, assignments IS NOT NULL, settings_hash, captured_at \
         FROM backup_items WHERE tenant_id = $1 AND backup_set_id = $2 AND policy_id > $3 \
         ORDER BY policy_id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(after.unwrap_or(0))
    .bind(ITEMS_PAGE_SIZE as i64 + 1)
    .fetch_all(&mut *conn)
    .await?;
    let more = items.len() > ITEMS_PAGE_SIZE;
    items.truncate(ITEMS_PAGE_SIZE);
    let next_after = more.then(|| items.last().map(|i| i.0)).flatten();
    let items = items
        .into_iter()
        .map(
            |(
                policy_id,
                policy_external_id,
                display_name,
                with_assignments,
                settings_hash,
                captured_at,
            )| {
                BackupItem {
                    policy_id,
                    policy_external_id,
                    display_name,
                    with_assignments,
                    settings_hash,
                    captured_at,
                }
            },
        )
        .collect();

    let runs: Vec<SummaryRow> = sqlx::query_as(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM bulk_operation_runs r JOIN users u ON u.id = r.user_id \
         WHERE r.tenant_id = $1 AND r.resource = 'backup_set' AND r.item_ids->>'backup_set_id' = $2::text \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(RECENT_RUNS as i64)
    .fetch_all(&mut *conn)
    .await?;
    let runs = runs
        .into_iter()
        .map(SummaryRow::into_summary)
        .collect::<Result<_, _>>()?;

    Ok(Some(BackupSetDetail {
        id,
        name,
        description,
        created_at,
        item_count,
        items,
        next_after,
        runs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{failed_backup_run, tenant, user};
    use sqlx::PgPool;

    #[sqlx::test]
    async fn a_set_shows_its_items_a_page_at_a_time_and_the_runs_into_it(pool: PgPool) {
        let (a, b) = (tenant(&pool, "a").await, tenant(&pool, "b").await);
        let u = user(&pool, "o@example.com").await;
        let run = failed_backup_run(&pool, a, u).await;
        let set: i64 = sqlx::query_scalar(
            "SELECT (item_ids->>'backup_set_id')::bigint FROM bulk_operation_runs WHERE id = $1",
        )
        .bind(run)
        .fetch_one(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO policies (tenant_id, external_id, policy_type, display_name, settings, settings_hash) \
             SELECT $1, 'p-' || g, 'configuration_policy', 'Policy ' || g, '{}', md5(g::text) \
             FROM generate_series(1, $2) g",
        )
        .bind(a)
        .bind(ITEMS_PAGE_SIZE as i32 + 5)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, snapshot, settings_hash) \
             SELECT tenant_id, $2, id, external_id, display_name, settings, settings_hash FROM policies WHERE tenant_id = $1",
        )
        .bind(a)
        .bind(set)
        .execute(&pool)
        .await
        .unwrap();

        let first = find(&mut pool.acquire().await.unwrap(), a, set, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.name, "Nightly");
        assert_eq!(first.item_count, ITEMS_PAGE_SIZE as i64 + 5);
        assert_eq!(first.items.len(), ITEMS_PAGE_SIZE);
        assert_eq!(
            first.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![run]
        );
        let second = find(&mut pool.acquire().await.unwrap(), a, set, first.next_after)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.items.len(), 5);
        assert_eq!(second.next_after, None);
        assert!(second.items[0].policy_id > first.items.last().unwrap().policy_id);

        // Another tenant's set is not found.
        assert_eq!(
            find(&mut pool.acquire().await.unwrap(), b, set, None)
                .await
                .unwrap(),
            None
        );
    }
}
