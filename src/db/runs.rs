//! Reading runs for the hub. Every query is scoped by tenant.

use crate::model::operation::SCOPE_IDS_SHOWN;
use crate::model::{
    AuditEntry, OperationKind, RunCounters, RunDetail, RunScope, RunStatus, RunSummary,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Columns of a run as the hub reads them, with the initiator's name.
pub(crate) const SUMMARY_COLUMNS: &str =
    "r.id, r.resource, r.action, r.status, u.name AS initiator, \
     r.idempotency_key, r.total_items, r.processed_items, r.succeeded, r.failed, r.skipped, \
     r.created_at, r.started_at, r.finished_at";

#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    id: i64,
    resource: String,
    action: String,
    status: String,
    initiator: String,
    idempotency_key: Option<String>,
    total_items: Option<i32>,
    processed_items: i32,
    succeeded: i32,
    failed: i32,
    skipped: i32,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl SummaryRow {
    pub(crate) fn into_summary(self) -> Result<RunSummary, sqlx::Error> {
        let status = RunStatus::parse(&self.status).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown run status {:?}", self.status).into())
        })?;
        Ok(RunSummary {
            id: self.id,
            resource: self.resource,
            action: self.action,
            status,
            initiator: self.initiator,
            idempotency_key: self.idempotency_key,
            counters: RunCounters {
                total_items: self.total_items,
                processed_items: self.processed_items,
                succeeded: self.succeeded,
                failed: self.failed,
                skipped: self.skipped,
            },
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    #[sqlx(flatten)]
    extras: DetailExtras,
}

#[derive(sqlx::FromRow)]
struct DetailExtras {
    item_ids: Value,
    attempts: i32,
    deduplicated_starts: i32,
    updated_at: DateTime<Utc>,
    cancel_requested: bool,
    backup_set_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    action: String,
    actor: Option<String>,
    created_at: DateTime<Utc>,
}

/// One run of the tenant with its scope, failures and audit trail; `None`
/// when the id is unknown or belongs to another tenant.
pub async fn find_detail(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    run_id: i64,
) -> Result<Option<RunDetail>, sqlx::Error> {
    // The backup set's name is looked up in the same tenant only. A backup
    // scope's policy ids are cut to the first few, with their count beside.
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, \
                CASE WHEN r.resource = 'backup_set' AND jsonb_typeof(r.item_ids->'policy_ids') = 'array' \
                     THEN (r.item_ids - 'policy_ids') || jsonb_build_object( \
                          'policy_ids', jsonb_path_query_array(r.item_ids, '$.policy_ids[0 to {last}]'), \
                          'policy_count', jsonb_array_length(r.item_ids->'policy_ids')) \
                     ELSE r.item_ids END AS item_ids, \
                r.attempts, r.deduplicated_starts, r.updated_at, \
                r.cancel_requested_at IS NOT NULL AS cancel_requested, bs.name AS backup_set_name \
         FROM bulk_operation_runs r JOIN users u ON u.id = r.user_id \
         LEFT JOIN backup_sets bs ON bs.tenant_id = r.tenant_id \
              AND r.resource = 'backup_set' \
              AND bs.id = CASE WHEN jsonb_typeof(r.item_ids->'backup_set_id') = 'number' \
                               THEN (r.item_ids->>'backup_set_id')::bigint END \
         WHERE r.tenant_id = $1 AND r.id = $2",
        last = SCOPE_IDS_SHOWN - 1
    );
    let Some(row) = sqlx::query_as::<_, DetailRow>(&sql)
        .bind(tenant_id)
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let extras = row.extras;
    let summary = row.summary.into_summary()?;

    let audit: Vec<AuditRow> = sqlx::query_as(
        "SELECT a.id, a.action, u.name AS actor, a.created_at FROM audit_logs a \
         LEFT JOIN users u ON u.id = a.actor_user_id \
         WHERE a.tenant_id = $1 AND a.subject_type = 'bulk_operation_run' AND a.subject_id = $2 \
         ORDER BY a.created_at, a.id",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_all(&mut *conn)
    .await?;

    let kind = OperationKind::from_parts(&summary.resource, &summary.action);
    let mut scope = RunScope::from_item_ids(kind, &extras.item_ids);
    if let RunScope::BackupSetAddPolicies {
        backup_set_name, ..
    } = &mut scope
    {
        *backup_set_name = extras.backup_set_name;
    }
    let related_findings = match &scope {
        RunScope::DriftGenerate {
            scope_key: Some(key),
            baseline_run_id,
            current_run_id,
        } => Some(
            super::findings::count_for_drift(
                &mut *conn,
                tenant_id,
                key,
                *baseline_run_id,
                *current_run_id,
            )
            .await?,
        ),
        _ => None,
    };
    let (failure_groups, more_failure_groups) =
        super::run_failures::groups(&mut *conn, tenant_id, run_id).await?;
    Ok(Some(RunDetail {
        summary,
        scope,
        failure_groups,
        more_failure_groups,
        audit: audit
            .into_iter()
            .map(|a| AuditEntry {
                id: a.id,
                action: a.action,
                actor: a.actor,
                created_at: a.created_at,
            })
            .collect(),
        attempts: extras.attempts,
        deduplicated_starts: extras.deduplicated_starts,
        updated_at: extras.updated_at,
        cancel_requested: extras.cancel_requested,
        related_findings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{pending_run, tenant, user};
    use sqlx::PgPool;

    #[sqlx::test]
    async fn another_tenants_run_is_not_found(pool: PgPool) {
        let (acme, globex) = (tenant(&pool, "acme").await, tenant(&pool, "globex").await);
        let u = user(&pool, "a@x.example").await;
        let run = pending_run(&pool, globex, u, None).await.unwrap();
        assert!(find_detail(&mut pool.acquire().await.unwrap(), acme, run)
            .await
            .unwrap()
            .is_none());
        assert!(
            find_detail(&mut pool.acquire().await.unwrap(), acme, run + 1000)
                .await
                .unwrap()
                .is_none()
        );
        let detail = find_detail(&mut pool.acquire().await.unwrap(), globex, run)
            .await
            .unwrap()
            .expect("own run");
        assert_eq!(detail.summary.id, run);
        assert!(matches!(detail.scope, RunScope::DriftGenerate { .. }));
    }
}
