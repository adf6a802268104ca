//! `inventory.sync`: import a JSON snapshot of a tenant's policies for a
//! selection. Records an inventory sync with the items it observed (the
//! drift inputs) and updates the tenant's current policies. Malformed
//! entries fail one by one with a reason code.
//!
//! Snapshot format:
//! `{"selection": {...}, "policies": [{"external_id", "policy_type", "display_name", "settings": {...}, "assignments": [...]}]}`

use crate::engine::canonical::hash_json;
use crate::engine::operation::{
    only_fields, ClaimedRun, ItemOutcome, Operation, PreparedRun, Reason, RequestError, RunError,
};
use crate::model::{OperationKind, RunStatus};
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};

/// Most policies one snapshot may hold.
pub const MAX_POLICIES: usize = 100_000;

pub struct InventorySync;

#[async_trait]
impl Operation for InventorySync {
    fn kind(&self) -> OperationKind {
        OperationKind::InventorySync
    }

    async fn validate(
        &self,
        conn: &mut PgConnection,
        tenant_id: i64,
        scope: &Value,
        payload: Option<&Value>,
    ) -> Result<Value, RequestError> {
        only_fields(scope, &["source"])?;
        let source = match scope.get("source") {
            None | Some(Value::Null) => "snapshot.json".to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => {
                s.trim().to_string()
            }
            Some(_) => {
                return Err(RequestError::Invalid(
                    "scope.source must be a file name of at most 200 characters".into(),
                ))
            }
        };
        let snapshot = payload.ok_or_else(|| {
            RequestError::Invalid("an inventory snapshot (JSON) is required".into())
        })?;
        only_fields(snapshot, &["selection", "policies"])
            .map_err(|e| RequestError::Invalid(format!("snapshot: {e}")))?;
        let selection = snapshot
            .get("selection")
            .filter(|s| s.is_object())
            .ok_or_else(|| {
                RequestError::Invalid("snapshot.selection must be a JSON object".into())
            })?;
        let policies = snapshot
            .get("policies")
            .and_then(Value::as_array)
            .ok_or_else(|| RequestError::Invalid("snapshot.policies must be an array".into()))?;
        if policies.len() > MAX_POLICIES {
            return Err(RequestError::Invalid(format!(
                "a snapshot holds at most {MAX_POLICIES} policies"
            )));
        }
        let snapshot_id: i64 = sqlx::query_scalar(
            "INSERT INTO inventory_snapshots (tenant_id, content_hash, selection, policies) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, content_hash) DO UPDATE SET content_hash = EXCLUDED.content_hash RETURNING id",
        )
        .bind(tenant_id)
        .bind(hash_json(snapshot))
        .bind(selection)
        .bind(Value::Array(policies.clone()))
        .fetch_one(&mut *conn)
        .await?;
        Ok(json!({
            "selection_hash": hash_json(selection),
            "snapshot_id": snapshot_id,
            "source": source,
            "policy_count": policies.len(),
        }))
    }

    fn planned_items(&self, scope: &Value) -> Option<i32> {
        i32::try_from(scope.get("policy_count")?.as_u64()?).ok()
    }

    async fn prepare(
        &self,
        pool: &PgPool,
        run: &ClaimedRun,
    ) -> Result<Box<dyn PreparedRun>, RunError> {
        let snapshot_id = run.item_ids.get("snapshot_id").and_then(Value::as_i64);
        let selection_hash = run
            .item_ids
            .get("selection_hash")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (Some(snapshot_id), Some(selection_hash)) = (snapshot_id, selection_hash) else {
            return Err(RunError::Fatal(Reason::new(
                "invalid_scope",
                "The run does not name an inventory snapshot.",
            )));
        };
        let snapshot: Option<(Value, Value)> = sqlx::query_as(
            "SELECT selection, policies FROM inventory_snapshots WHERE tenant_id = $1 AND id = $2",
        )
        .bind(run.tenant_id)
        .bind(snapshot_id)
        .fetch_optional(pool)
        .await?;
        let Some((selection, Value::Array(policies))) = snapshot else {
            return Err(RunError::Fatal(Reason::new(
                "snapshot_missing",
                "The inventory snapshot no longer exists.",
            )));
        };
        // One sync per run, created on the first attempt and reused on resume.
        let sync_id: i64 = sqlx::query_scalar(
            "INSERT INTO inventory_sync_runs (tenant_id, selection_hash, selection, status, bulk_operation_run_id) \
             VALUES ($1, $2, $3, 'running', $4) \
             ON CONFLICT (tenant_id, bulk_operation_run_id) WHERE bulk_operation_run_id IS NOT NULL \
             DO UPDATE SET updated_at = now() RETURNING id",
        )
        .bind(run.tenant_id)
        .bind(&selection_hash)
        .bind(&selection)
        .bind(run.id)
        .fetch_one(pool)
        .await?;

        let (items, entries) = itemize(&policies);
        Ok(Box::new(Prepared {
            sync_id,
            items,
            entries,
        }))
    }

    /// Closes the run's inventory sync: completed when the run's items were
    /// imported (with or without item failures), failed otherwise.
    async fn finish(
        &self,
        tx: &mut PgConnection,
        run: &ClaimedRun,
        status: RunStatus,
    ) -> Result<(), sqlx::Error> {
        let ok = matches!(
            status,
            RunStatus::Completed | RunStatus::CompletedWithErrors
        );
        sqlx::query(
            "UPDATE inventory_sync_runs s SET status = $3, finished_at = now(), updated_at = now(), \
             items_observed = (SELECT count(*) FROM inventory_items i \
                               WHERE i.tenant_id = s.tenant_id AND i.inventory_sync_run_id = s.id) \
             WHERE s.tenant_id = $1 AND s.bulk_operation_run_id = $2 AND s.status = 'running'",
        )
        .bind(run.tenant_id)
        .bind(run.id)
        .bind(if ok { "completed" } else { "failed" })
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Lists a snapshot's items in order, each under a label unique within the
/// run: a valid entry under its `external_id` (its first occurrence only), a
/// malformed or repeated one under `entry-<position>`, suffixed when a real
/// `external_id` already reads like that. Every entry gets exactly one item,
/// so no batch can ever write one policy twice.
fn itemize(policies: &[Value]) -> (Vec<String>, HashMap<String, Result<Entry, Reason>>) {
    let parsed: Vec<Result<Entry, Reason>> = policies.iter().map(parse_entry).collect();
    let mut labels: HashSet<String> = HashSet::with_capacity(parsed.len());
    let mut first = vec![false; parsed.len()];
    for (i, e) in parsed.iter().enumerate() {
        if let Ok(e) = e {
            first[i] = labels.insert(e.external_id.clone());
        }
    }
    let mut items = Vec::with_capacity(parsed.len());
    let mut entries = HashMap::with_capacity(parsed.len());
    for (i, e) in parsed.into_iter().enumerate() {
        let (label, entry) = match e {
            Ok(e) if first[i] => (e.external_id.clone(), Ok(e)),
            Ok(_) => (
                placeholder(i, &mut labels),
                Err(Reason::new(
                    "duplicate_external_id",
                    "The snapshot lists this external id more than once; the first entry was imported.",
                )),
            ),
            Err(reason) => (placeholder(i, &mut labels), Err(reason)),
        };
        items.push(label.clone());
        entries.insert(label, entry);
    }
    (items, entries)
}

/// `entry-<position>` (1-based), or with a `~n` suffix when that label is taken.
fn placeholder(index: usize, taken: &mut HashSet<String>) -> String {
    let base = format!("entry-{}", index + 1);
    let mut label = base.clone();
    let mut n = 1;
    while !taken.insert(label.clone()) {
        n += 1;
        label = format!("{base}~{n}");
    }
    label
}

struct Entry {
    external_id: String,
    policy_type: String,
    display_name: String,
    settings: Value,
    assignments: Value,
}

fn parse_entry(raw: &Value) -> Result<Entry, Reason> {
    let bad = |what: &str| Reason::new("invalid_policy_entry", &format!("The entry's {what}."));
    let text = |field: &str, max: usize| -> Result<String, Reason> {
        raw.get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.chars().count() <= max)
            .map(str::to_string)
            .ok_or_else(|| {
                bad(&format!(
                    "{field} is missing, empty or longer than {max} characters"
                ))
            })
    };
    if !raw.is_object() {
        return Err(bad("value is not a JSON object"));
    }
    let external_id = text("external_id", 200)?;
    let policy_type = text("policy_type", 100)?;
    let display_name = text("display_name", 300)?;
    let settings = match raw.get("settings") {
        None => json!({}),
        Some(v) if v.is_object() => v.clone(),
        Some(_) => return Err(bad("settings are not a JSON object")),
    };
    let assignments = match raw.get("assignments") {
        None => json!([]),
        Some(v) if v.is_array() => v.clone(),
        Some(_) => return Err(bad("assignments are not a JSON array")),
    };
    Ok(Entry {
        external_id,
        policy_type,
        display_name,
        settings,
        assignments,
    })
}

struct Prepared {
    sync_id: i64,
    items: Vec<String>,
    entries: HashMap<String, Result<Entry, Reason>>,
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
        let valid: Vec<&Entry> = items
            .iter()
            .filter_map(|i| self.entries.get(i).and_then(|e| e.as_ref().ok()))
            .collect();
        if !valid.is_empty() {
            let ids: Vec<&str> = valid.iter().map(|e| e.external_id.as_str()).collect();
            let types: Vec<&str> = valid.iter().map(|e| e.policy_type.as_str()).collect();
            let names: Vec<&str> = valid.iter().map(|e| e.display_name.as_str()).collect();
            let settings: Vec<&Value> = valid.iter().map(|e| &e.settings).collect();
            let hashes: Vec<String> = valid.iter().map(|e| hash_json(&e.settings)).collect();
            let assignments: Vec<&Value> = valid.iter().map(|e| &e.assignments).collect();
            sqlx::query(
                "INSERT INTO inventory_items (tenant_id, inventory_sync_run_id, subject_type, subject_external_id, \
                                              display_name, settings, settings_hash) \
                 SELECT $1, $2, t, e, n, s, h FROM unnest($3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[]) \
                     AS x(e, t, n, s, h) \
                 ON CONFLICT (tenant_id, inventory_sync_run_id, subject_type, subject_external_id) DO NOTHING",
            )
            .bind(run.tenant_id)
            .bind(self.sync_id)
            .bind(&ids)
            .bind(&types)
            .bind(&names)
            .bind(&settings)
            .bind(&hashes)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO policies (tenant_id, external_id, policy_type, display_name, settings, assignments, settings_hash) \
                 SELECT $1, e, t, n, s, a, h FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[]) \
                     AS x(e, t, n, s, a, h) \
                 ON CONFLICT (tenant_id, external_id) DO UPDATE SET policy_type = EXCLUDED.policy_type, \
                     display_name = EXCLUDED.display_name, settings = EXCLUDED.settings, \
                     assignments = EXCLUDED.assignments, settings_hash = EXCLUDED.settings_hash, updated_at = now()",
            )
            .bind(run.tenant_id)
            .bind(&ids)
            .bind(&types)
            .bind(&names)
            .bind(&settings)
            .bind(&assignments)
            .bind(&hashes)
            .execute(&mut *tx)
            .await?;
        }
        Ok(items
            .iter()
            .map(|i| match self.entries.get(i) {
                Some(Ok(_)) => ItemOutcome::Succeeded,
                Some(Err(reason)) => ItemOutcome::Failed(reason.clone()),
                None => ItemOutcome::Failed(Reason::new(
                    "invalid_policy_entry",
                    "The entry is not in the snapshot.",
                )),
            })
            .collect())
    }
}
