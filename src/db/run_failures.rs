//! Reading a run's failures and skips (written by `engine::failures`):
//! counts per reason code, pages of item ids per reason, and every entry in
//! keyset chunks for the export. Every query is scoped by tenant.

use crate::model::failure::{sort_groups, FIRST_PAGE_ITEMS, MAX_GROUPS};
use crate::model::{FailureEntry, FailureGroup, FailureItem, FailureKey, FailurePage};
use sqlx::{PgConnection, PgPool};

/// Entries per reason code, without item pages, in display order.
pub async fn counts(
    conn: &mut PgConnection,
    tenant_id: i64,
    run_id: i64,
) -> Result<Vec<FailureGroup>, sqlx::Error> {
    let rows: Vec<(String, bool, String, i32)> = sqlx::query_as(
        "SELECT reason_code, skipped, reason, entries FROM bulk_operation_run_failure_counts \
         WHERE tenant_id = $1 AND run_id = $2",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_all(conn)
    .await?;
    let mut groups: Vec<FailureGroup> = rows
        .into_iter()
        .map(|(reason_code, skipped, reason, entries)| FailureGroup {
            reason_code,
            skipped,
            reason,
            count: entries.max(0) as u64,
            items: FailurePage::default(),
        })
        .collect();
    sort_groups(&mut groups);
    Ok(groups)
}

/// An item as read: its cursor, its id, and its reason when it differs
/// from its group's.
type ItemRow = (i64, String, Option<String>);

#[derive(sqlx::FromRow)]
struct GroupRow {
    reason_code: String,
    skipped: bool,
    reason: String,
    entries: i32,
    /// One more than a page, so we know whether more follow.
    items: Option<sqlx::types::Json<Vec<ItemRow>>>,
}

/// The run's reason codes in display order (at most [`MAX_GROUPS`]), each
/// with its first [`FIRST_PAGE_ITEMS`] items; and whether more codes exist.
pub async fn groups(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    run_id: i64,
) -> Result<(Vec<FailureGroup>, bool), sqlx::Error> {
    let rows: Vec<GroupRow> = sqlx::query_as(
        "SELECT c.reason_code, c.skipped, c.reason, c.entries, p.items \
         FROM (SELECT * FROM bulk_operation_run_failure_counts \
               WHERE tenant_id = $1 AND run_id = $2 \
               ORDER BY skipped, entries DESC, reason_code LIMIT $3) c \
         LEFT JOIN LATERAL ( \
             SELECT json_agg(json_build_array(f.id, f.item_id, \
                        CASE WHEN f.reason <> c.reason THEN f.reason END) ORDER BY f.id) AS items \
             FROM (SELECT id, item_id, reason FROM bulk_operation_run_failures f \
                   WHERE f.tenant_id = c.tenant_id AND f.run_id = c.run_id \
                     AND f.skipped = c.skipped AND f.reason_code = c.reason_code \
                   ORDER BY f.id LIMIT $4) f) p ON true \
         ORDER BY c.skipped, c.entries DESC, c.reason_code",
    )
    .bind(tenant_id)
    .bind(run_id)
    .bind(MAX_GROUPS as i64 + 1)
    .bind(FIRST_PAGE_ITEMS as i64 + 1)
    .fetch_all(&mut *conn)
    .await?;
    let more = rows.len() > MAX_GROUPS;
    let groups = rows
        .into_iter()
        .take(MAX_GROUPS)
        .map(|r| FailureGroup {
            reason_code: r.reason_code,
            skipped: r.skipped,
            reason: r.reason,
            count: r.entries.max(0) as u64,
            items: into_page(r.items.map(|j| j.0).unwrap_or_default(), FIRST_PAGE_ITEMS),
        })
        .collect();
    Ok((groups, more))
}

/// `rows` holds up to `size + 1` items: the page, and a sign that more follow.
fn into_page(mut rows: Vec<ItemRow>, size: usize) -> FailurePage {
    let more = rows.len() > size;
    rows.truncate(size);
    let next_after = if more {
        rows.last().map(|(id, _, _)| *id)
    } else {
        None
    };
    FailurePage {
        items: rows
            .into_iter()
            .map(|(_, item_id, reason)| FailureItem { item_id, reason })
            .collect(),
        next_after,
    }
}

/// The items of one reason after the cursor `after`, `size` at a time;
/// `None` when the run is not the tenant's.
pub async fn page(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    run_id: i64,
    key: &FailureKey,
    after: Option<i64>,
    size: usize,
) -> Result<Option<FailurePage>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2)",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Ok(None);
    }
    let rows: Vec<ItemRow> = sqlx::query_as(
        "SELECT f.id, f.item_id, CASE WHEN f.reason <> c.reason THEN f.reason END \
         FROM bulk_operation_run_failures f \
         LEFT JOIN bulk_operation_run_failure_counts c ON c.tenant_id = f.tenant_id AND c.run_id = f.run_id \
              AND c.skipped = f.skipped AND c.reason_code = f.reason_code \
         WHERE f.tenant_id = $1 AND f.run_id = $2 AND f.skipped = $3 AND f.reason_code = $4 AND f.id > $5 \
         ORDER BY f.id LIMIT $6",
    )
    .bind(tenant_id)
    .bind(run_id)
    .bind(key.skipped)
    .bind(&key.reason_code)
    .bind(after.unwrap_or(0))
    .bind(size as i64 + 1)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(into_page(rows, size)))
}

/// The ids of the run's failed (not skipped) items, in recording order.
pub async fn failed_item_ids(
    pool: &PgPool,
    tenant_id: i64,
    run_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT item_id FROM bulk_operation_run_failures \
         WHERE tenant_id = $1 AND run_id = $2 AND NOT skipped ORDER BY id",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_all(pool)
    .await
}

/// Where a chunk of the export ends: the next chunk starts after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportCursor {
    skipped: bool,
    reason_code: String,
    id: i64,
}

/// The run's run-level entries (no item id: a fatal reason, a cancel);
/// `None` when the run is not the tenant's.
pub async fn run_level_entries(
    pool: &PgPool,
    tenant_id: i64,
    run_id: i64,
) -> Result<Option<Vec<FailureEntry>>, sqlx::Error> {
    let sample: Option<Option<serde_json::Value>> = sqlx::query_scalar(
        "SELECT failures FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    Ok(sample.map(|failures| {
        FailureEntry::list_from_json(failures.as_ref())
            .into_iter()
            .filter(|e| e.item_id.is_none())
            .collect()
    }))
}

/// The next `size` item entries of the run after `after` (failures, then
/// skips, by reason code, in recording order), and the cursor after them.
pub async fn export_chunk(
    pool: &PgPool,
    tenant_id: i64,
    run_id: i64,
    after: Option<&ExportCursor>,
    size: usize,
) -> Result<(Vec<FailureEntry>, Option<ExportCursor>), sqlx::Error> {
    let rows: Vec<(i64, bool, String, String, String)> = sqlx::query_as(
        "SELECT id, skipped, reason_code, reason, item_id FROM bulk_operation_run_failures \
         WHERE tenant_id = $1 AND run_id = $2 \
           AND ($3::bool IS NULL OR (skipped, reason_code, id) > ($3, $4, $5)) \
         ORDER BY skipped, reason_code, id LIMIT $6",
    )
    .bind(tenant_id)
    .bind(run_id)
    .bind(after.map(|c| c.skipped))
    .bind(after.map(|c| c.reason_code.as_str()))
    .bind(after.map(|c| c.id))
    .bind(size as i64)
    .fetch_all(pool)
    .await?;
    let next = rows
        .last()
        .filter(|_| rows.len() == size)
        .map(|(id, skipped, code, _, _)| ExportCursor {
            skipped: *skipped,
            reason_code: code.clone(),
            id: *id,
        });
    let entries = rows
        .into_iter()
        .map(|(_, skipped, reason_code, reason, item_id)| FailureEntry {
            reason_code,
            reason,
            item_id: Some(item_id),
            skipped,
        })
        .collect();
    Ok((entries, next))
}
