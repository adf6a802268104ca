//! `drift.generate`: compare the baseline and current inventory syncs of a
//! scope and upsert a finding for every added, removed or modified subject.

use crate::engine::drift::{compare, DriftChange, ObservedItem};
use crate::engine::operation::{
    only_fields, ClaimedRun, ItemOutcome, Operation, PreparedRun, Reason, RequestError, RunError,
};
use crate::model::OperationKind;
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeSet, HashMap};

pub struct DriftGenerate;

/// A completed sync of the scope, or why there is none.
async fn completed_sync(
    conn: &mut PgConnection,
    tenant_id: i64,
    scope_key: &str,
    id: i64,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT finished_at FROM inventory_sync_runs \
         WHERE tenant_id = $1 AND id = $2 AND selection_hash = $3 AND status = 'completed'",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(scope_key)
    .fetch_optional(conn)
    .await
    .map(Option::flatten)
}

fn optional_id(scope: &Value, field: &str) -> Result<Option<i64>, RequestError> {
    match scope.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().filter(|id| *id > 0).map(Some).ok_or_else(|| {
            RequestError::Invalid(format!(
                "scope.{field} must be a positive integer id or null"
            ))
        }),
    }
}

#[async_trait]
impl Operation for DriftGenerate {
    fn kind(&self) -> OperationKind {
        OperationKind::DriftGenerate
    }

    async fn validate(
        &self,
        conn: &mut PgConnection,
        tenant_id: i64,
        scope: &Value,
        _payload: Option<&Value>,
    ) -> Result<Value, RequestError> {
        only_fields(scope, &["scope_key", "baseline_run_id", "current_run_id"])?;
        let scope_key = scope
            .get("scope_key")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or_else(|| {
                RequestError::Invalid(
                    "scope.scope_key must be a non-empty string of at most 128 characters".into(),
                )
            })?;
        let baseline = optional_id(scope, "baseline_run_id")?;
        let current = optional_id(scope, "current_run_id")?;
        let (baseline, current) = match (baseline, current) {
            (Some(b), Some(c)) => {
                let b_at = completed_sync(conn, tenant_id, scope_key, b).await?;
                let c_at = completed_sync(conn, tenant_id, scope_key, c).await?;
                match (b_at, c_at) {
                    (Some(b_at), Some(c_at)) if b_at < c_at => (b, c),
                    (Some(_), Some(_)) => {
                        return Err(RequestError::Invalid(
                            "the baseline sync must have finished before the current one".into(),
                        ))
                    }
                    _ => {
                        return Err(RequestError::NotFound(format!(
                            "inventory syncs {b} and {c} are not both completed syncs of this scope"
                        )))
                    }
                }
            }
            (None, None) => {
                // Default: the two latest completed syncs of the scope.
                let latest: Vec<i64> = sqlx::query_scalar(
                    "SELECT id FROM inventory_sync_runs \
                     WHERE tenant_id = $1 AND selection_hash = $2 AND status = 'completed' \
                     ORDER BY finished_at DESC, id DESC LIMIT 2",
                )
                .bind(tenant_id)
                .bind(scope_key)
                .fetch_all(&mut *conn)
                .await?;
                match latest[..] {
                    [current, baseline] => (baseline, current),
                    _ => {
                        return Err(RequestError::Invalid(format!(
                            "scope {} has fewer than two completed inventory syncs; import another snapshot first",
                            scope_key.chars().take(40).collect::<String>()
                        )))
                    }
                }
            }
            _ => {
                return Err(RequestError::Invalid(
                    "give both scope.baseline_run_id and scope.current_run_id, or neither".into(),
                ))
            }
        };
        Ok(json!({"scope_key": scope_key, "baseline_run_id": baseline, "current_run_id": current}))
    }

    async fn prepare(
        &self,
        pool: &PgPool,
        run: &ClaimedRun,
    ) -> Result<Box<dyn PreparedRun>, RunError> {
        let scope_key = run
            .item_ids
            .get("scope_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let baseline = run.item_ids.get("baseline_run_id").and_then(Value::as_i64);
        let current = run.item_ids.get("current_run_id").and_then(Value::as_i64);
        let (Some(baseline), Some(current)) = (baseline, current) else {
            return Err(RunError::Fatal(Reason::new(
                "baseline_missing",
                "The scope has no baseline and current inventory sync to compare.",
            )));
        };
        let base_items = load_items(pool, run.tenant_id, baseline).await?;
        let curr_items = load_items(pool, run.tenant_id, current).await?;
        if base_items.is_none() || curr_items.is_none() {
            return Err(RunError::Fatal(Reason::new(
                "inventory_sync_missing",
                "The baseline or current inventory sync no longer exists.",
            )));
        }
        let (base_items, curr_items) = (
            base_items.unwrap_or_default(),
            curr_items.unwrap_or_default(),
        );
        let subjects: BTreeSet<String> = base_items
            .iter()
            .chain(&curr_items)
            .map(|i| subject_key(&i.subject_type, &i.subject_external_id))
            .collect();
        let changes = compare(&base_items, &curr_items)
            .into_iter()
            .map(|c| (subject_key(&c.subject_type, &c.subject_external_id), c))
            .collect();
        Ok(Box::new(Prepared {
            scope_key,
            baseline,
            current,
            items: subjects.into_iter().collect(),
            changes,
        }))
    }
}

fn subject_key(subject_type: &str, external_id: &str) -> String {
    format!("{subject_type}/{external_id}")
}

/// The items a sync observed; `None` when the sync does not exist.
async fn load_items(
    pool: &PgPool,
    tenant_id: i64,
    sync_id: i64,
) -> Result<Option<Vec<ObservedItem>>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM inventory_sync_runs WHERE tenant_id = $1 AND id = $2)",
    )
    .bind(tenant_id)
    .bind(sync_id)
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    let rows: Vec<(String, String, String, Value, String)> = sqlx::query_as(
        "SELECT subject_type, subject_external_id, display_name, settings, settings_hash \
         FROM inventory_items WHERE tenant_id = $1 AND inventory_sync_run_id = $2",
    )
    .bind(tenant_id)
    .bind(sync_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(
        rows.into_iter()
            .map(
                |(subject_type, subject_external_id, display_name, settings, settings_hash)| {
                    ObservedItem {
                        subject_type,
                        subject_external_id,
                        display_name,
                        settings,
                        settings_hash,
                    }
                },
            )
            .collect(),
    ))
}

struct Prepared {
    scope_key: String,
    baseline: i64,
    current: i64,
    items: Vec<String>,
    changes: HashMap<String, DriftChange>,
}

#[async_trait]
impl PreparedRun for Prepared {
    fn items(&self) -> &[String] {
        &self.items
    }

    async fn process(
        &self,
        tx: &mut PgConnection,
        run: &ClaimedRun,
        items: &[String],
    ) -> Result<Vec<ItemOutcome>, RunError> {
        let changes: Vec<&DriftChange> = items.iter().filter_map(|i| self.changes.get(i)).collect();
        if !changes.is_empty() {
            let fingerprints: Vec<String> = changes
                .iter()
                .map(|c| c.fingerprint(&self.scope_key, self.baseline, self.current))
                .collect();
            let types: Vec<&str> = changes.iter().map(|c| c.subject_type.as_str()).collect();
            let external: Vec<&str> = changes
                .iter()
                .map(|c| c.subject_external_id.as_str())
                .collect();
            let evidence: Vec<Value> = changes.iter().map(|c| c.evidence()).collect();
            // Upsert by fingerprint: regenerating drift never duplicates findings.
            sqlx::query(
                "INSERT INTO findings (tenant_id, finding_type, scope_key, baseline_run_id, current_run_id, \
                                       fingerprint, subject_type, subject_external_id, evidence_jsonb) \
                 SELECT $1, 'drift', $2, $3, $4, f, t, e, ev \
                 FROM unnest($5::text[], $6::text[], $7::text[], $8::jsonb[]) AS x(f, t, e, ev) \
                 ON CONFLICT (tenant_id, fingerprint) \
                 DO UPDATE SET evidence_jsonb = EXCLUDED.evidence_jsonb, updated_at = now()",
            )
            .bind(run.tenant_id)
            .bind(&self.scope_key)
            .bind(self.baseline)
            .bind(self.current)
            .bind(&fingerprints)
            .bind(&types)
            .bind(&external)
            .bind(&evidence)
            .execute(&mut *tx)
            .await?;
        }
        Ok(items.iter().map(|_| ItemOutcome::Succeeded).collect())
    }
}
