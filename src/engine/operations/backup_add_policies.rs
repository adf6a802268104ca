//! `backup_set.add_policies`: copy each policy's current state into a backup
//! set. Present already: skipped. Unknown (or another tenant's): failed.

use crate::engine::operation::{
    only_fields, scope_id, ClaimedRun, ItemOutcome, Operation, PreparedRun, Reason, RunError,
    StartError,
};
use crate::model::OperationKind;
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};

/// What a backup item keeps of a policy `p`: its type, name and settings.
/// Every writer of backup items (this operation, the demo) uses it.
pub const POLICY_SNAPSHOT_SQL: &str =
    "jsonb_build_object('policy_type', p.policy_type, 'display_name', p.display_name, 'settings', p.settings)";

/// Most policies one run may add.
pub const MAX_POLICIES: usize = 100_000;

pub struct BackupAddPolicies;

#[async_trait]
impl Operation for BackupAddPolicies {
    fn kind(&self) -> OperationKind {
        OperationKind::BackupSetAddPolicies
    }

    async fn validate(
        &self,
        conn: &mut PgConnection,
        tenant_id: i64,
        scope: &Value,
        _payload: Option<&Value>,
    ) -> Result<Value, StartError> {
        only_fields(scope, &["backup_set_id", "policy_ids", "options"])?;
        let backup_set_id = scope_id(scope, "backup_set_id")?;
        let raw_ids = scope
            .get("policy_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                StartError::Invalid("scope.policy_ids must be an array of policy ids".into())
            })?;
        if raw_ids.is_empty() {
            return Err(StartError::Invalid(
                "scope.policy_ids must name at least one policy".into(),
            ));
        }
        if raw_ids.len() > MAX_POLICIES {
            return Err(StartError::Invalid(format!(
                "at most {MAX_POLICIES} policies per run"
            )));
        }
        let mut seen = HashSet::new();
        let mut policy_ids = Vec::with_capacity(raw_ids.len());
        for v in raw_ids {
            let id = v.as_i64().filter(|id| *id > 0).ok_or_else(|| {
                StartError::Invalid(
                    "every entry of scope.policy_ids must be a positive integer id".into(),
                )
            })?;
            if seen.insert(id) {
                policy_ids.push(id);
            }
        }
        let include_assignments = match scope.get("options") {
            None | Some(Value::Null) => false,
            Some(options) => {
                only_fields(options, &["include_assignments"])?;
                match options.get("include_assignments") {
                    None => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(StartError::Invalid(
                            "options.include_assignments must be true or false".into(),
                        ))
                    }
                }
            }
        };
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM backup_sets WHERE tenant_id = $1 AND id = $2)",
        )
        .bind(tenant_id)
        .bind(backup_set_id)
        .fetch_one(&mut *conn)
        .await?;
        if !exists {
            return Err(StartError::NotFound(format!(
                "backup set {backup_set_id} does not exist"
            )));
        }
        Ok(json!({
            "backup_set_id": backup_set_id,
            "policy_ids": policy_ids,
            "options": {"include_assignments": include_assignments},
        }))
    }

    fn planned_items(&self, scope: &Value) -> Option<i32> {
        let ids = scope.get("policy_ids")?.as_array()?;
        i32::try_from(ids.len()).ok()
    }

    async fn prepare(
        &self,
        _pool: &PgPool,
        run: &ClaimedRun,
    ) -> Result<Box<dyn PreparedRun>, RunError> {
        let invalid = || {
            RunError::Fatal(Reason::new(
                "invalid_scope",
                "The run's scope is not a valid backup request.",
            ))
        };
        let backup_set_id = run
            .item_ids
            .get("backup_set_id")
            .and_then(Value::as_i64)
            .ok_or_else(invalid)?;
        let items = run
            .item_ids
            .get("policy_ids")
            .and_then(Value::as_array)
            .ok_or_else(invalid)?
            .iter()
            .map(|v| v.as_i64().map(|id| id.to_string()).ok_or_else(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let include_assignments = run
            .item_ids
            .pointer("/options/include_assignments")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Box::new(Prepared {
            backup_set_id,
            include_assignments,
            items,
        }))
    }
}

struct Prepared {
    backup_set_id: i64,
    include_assignments: bool,
    items: Vec<String>,
}

#[async_trait]
impl PreparedRun for Prepared {
    fn items(&self) -> &[String] {
        &self.items
    }

    async fn process(
        &mut self,
        tx: &mut PgConnection,
        run: &ClaimedRun,
        items: &[String],
    ) -> Result<Vec<ItemOutcome>, RunError> {
        let ids: Vec<i64> = items.iter().filter_map(|s| s.parse().ok()).collect();
        // One statement per batch: copy the policies that exist and are not
        // in the set yet; report for each id whether it exists and was copied.
        // One statement per batch: copy the policies that exist and are not
        // in the set yet; answer which ids exist and which were copied (as
        // two lists: a join of the two would be planned for a handful of
        // rows and turn quadratic on a large batch).
        let sql = format!(
            "WITH wanted AS (SELECT DISTINCT unnest($3::bigint[]) AS policy_id), \
             found AS MATERIALIZED ( \
                 SELECT p.* FROM policies p JOIN wanted w ON w.policy_id = p.id WHERE p.tenant_id = $1), \
             copied AS ( \
                 INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, \
                                           snapshot, assignments, settings_hash) \
                 SELECT p.tenant_id, $2, p.id, p.external_id, p.display_name, \
                        {POLICY_SNAPSHOT_SQL}, \
                        CASE WHEN $4 THEN p.assignments END, p.settings_hash \
                 FROM found p \
                 ON CONFLICT (tenant_id, backup_set_id, policy_id) DO NOTHING \
                 RETURNING policy_id) \
             SELECT coalesce((SELECT array_agg(id) FROM found), '{{}}'), \
                    coalesce((SELECT array_agg(policy_id) FROM copied), '{{}}')",
        );
        let (found, copied): (Vec<i64>, Vec<i64>) = sqlx::query_as(&sql)
            .bind(run.tenant_id)
            .bind(self.backup_set_id)
            .bind(&ids)
            .bind(self.include_assignments)
            .fetch_one(&mut *tx)
            .await?;
        let copied: HashSet<i64> = copied.into_iter().collect();
        // Ids not found name no policy of this tenant.
        let by_id: HashMap<i64, bool> = found
            .into_iter()
            .map(|id| (id, copied.contains(&id)))
            .collect();
        Ok(items
            .iter()
            .map(
                |item| match item.parse::<i64>().ok().and_then(|id| by_id.get(&id)) {
                    Some(true) => ItemOutcome::Succeeded,
                    Some(false) => ItemOutcome::Skipped(Reason::new(
                        "already_in_backup_set",
                        "The policy is already in this backup set.",
                    )),
                    _ => ItemOutcome::Failed(Reason::new(
                        "policy_not_found",
                        "No policy with this id exists in this tenant.",
                    )),
                },
            )
            .collect())
    }
}
