//! `backup_set.add_policies`: copy each policy's current state into a backup
//! set. Present already: skipped. Unknown (or another tenant's): failed.

use crate::db::backup_sets::POLICY_SNAPSHOT_SQL;
use crate::engine::operation::{
    only_fields, scope_id, ClaimedRun, ItemOutcome, Operation, PreparedRun, Reason, RequestError,
    RunError,
};
use crate::model::OperationKind;
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;

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
    ) -> Result<Value, RequestError> {
        only_fields(scope, &["backup_set_id", "policy_ids", "options"])?;
        let backup_set_id = scope_id(scope, "backup_set_id")?;
        let raw_ids = scope
            .get("policy_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                RequestError::Invalid("scope.policy_ids must be an array of policy ids".into())
            })?;
        if raw_ids.is_empty() {
            return Err(RequestError::Invalid(
                "scope.policy_ids must name at least one policy".into(),
            ));
        }
        if raw_ids.len() > MAX_POLICIES {
            return Err(RequestError::Invalid(format!(
                "at most {MAX_POLICIES} policies per run"
            )));
        }
        let mut seen = HashSet::new();
        let mut policy_ids = Vec::with_capacity(raw_ids.len());
        for v in raw_ids {
            let id = v.as_i64().filter(|id| *id > 0).ok_or_else(|| {
                RequestError::Invalid(
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
                        return Err(RequestError::Invalid(
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
            return Err(RequestError::NotFound(format!(
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
        Ok(Box::new(Scope::of(run)?))
    }

    async fn process_group(
        &self,
        tx: &mut PgConnection,
        runs: &[(&ClaimedRun, &[String])],
    ) -> Result<Option<Vec<Vec<ItemOutcome>>>, RunError> {
        let scopes = runs
            .iter()
            .map(|(run, _)| Scope::of(run))
            .collect::<Result<Vec<_>, _>>()?;
        let batches: Vec<Batch> = runs
            .iter()
            .zip(&scopes)
            .map(|((run, items), scope)| (*run, scope, *items))
            .collect();
        copy_policies(tx, &batches).await.map(Some)
    }
}

/// One run's batch: the run, its scope, the items to process.
type Batch<'a> = (&'a ClaimedRun, &'a Scope, &'a [String]);

/// Copies the policies of one batch per run into their backup sets, in one
/// statement for all of them, and answers each batch's outcomes in order. A
/// policy two batches add to the same set is copied once, for the first.
async fn copy_policies(
    tx: &mut PgConnection,
    batches: &[Batch<'_>],
) -> Result<Vec<Vec<ItemOutcome>>, RunError> {
    let mut wanted: [Vec<i64>; 3] = Default::default();
    let mut include = Vec::new();
    for (run, scope, items) in batches {
        for id in items.iter().filter_map(|s| s.parse::<i64>().ok()) {
            wanted[0].push(run.tenant_id);
            wanted[1].push(scope.backup_set_id);
            wanted[2].push(id);
            include.push(scope.include_assignments);
        }
    }
    // Which policies exist and which were copied come back as separate
    // lists: a join of the two would be planned for a handful of rows and
    // turn quadratic on a large batch.
    let sql = format!(
        "WITH wanted AS ( \
             SELECT DISTINCT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bool[]) \
                 AS w(tenant_id, backup_set_id, policy_id, include)), \
         found AS MATERIALIZED ( \
             SELECT w.backup_set_id, w.include, p.tenant_id, p.id, p.external_id, p.display_name, \
                    p.policy_type, p.settings, p.assignments, p.settings_hash \
             FROM wanted w JOIN policies p ON p.tenant_id = w.tenant_id AND p.id = w.policy_id), \
         copied AS ( \
             INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, \
                                       snapshot, assignments, settings_hash) \
             SELECT p.tenant_id, p.backup_set_id, p.id, p.external_id, p.display_name, \
                    {POLICY_SNAPSHOT_SQL}, CASE WHEN p.include THEN p.assignments END, p.settings_hash \
             FROM found p \
             ON CONFLICT (tenant_id, backup_set_id, policy_id) DO NOTHING \
             RETURNING tenant_id, backup_set_id, policy_id) \
         SELECT coalesce((SELECT array_agg(tenant_id) FROM found), '{{}}'), \
                coalesce((SELECT array_agg(id) FROM found), '{{}}'), \
                coalesce((SELECT array_agg(tenant_id) FROM copied), '{{}}'), \
                coalesce((SELECT array_agg(backup_set_id) FROM copied), '{{}}'), \
                coalesce((SELECT array_agg(policy_id) FROM copied), '{{}}')",
    );
    type Answer = (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>);
    let (found_t, found_p, copied_t, copied_s, copied_p): Answer = sqlx::query_as(&sql)
        .bind(&wanted[0])
        .bind(&wanted[1])
        .bind(&wanted[2])
        .bind(&include)
        .fetch_one(&mut *tx)
        .await?;
    // Ids not found name no policy of the run's tenant.
    let found: HashSet<(i64, i64)> = found_t.into_iter().zip(found_p).collect();
    let mut copied: HashSet<(i64, i64, i64)> = copied_t
        .into_iter()
        .zip(copied_s)
        .zip(copied_p)
        .map(|((t, s), p)| (t, s, p))
        .collect();
    Ok(batches
        .iter()
        .map(|(run, scope, items)| {
            items
                .iter()
                .map(|item| {
                    let id = item.parse::<i64>().ok();
                    let exists = id.is_some_and(|id| found.contains(&(run.tenant_id, id)));
                    // The first batch that asked for a copied policy gets it.
                    let copied = id
                        .is_some_and(|id| copied.remove(&(run.tenant_id, scope.backup_set_id, id)));
                    outcome(exists, copied)
                })
                .collect()
        })
        .collect())
}

/// A run's scope, as recorded at its start.
struct Scope {
    backup_set_id: i64,
    include_assignments: bool,
    items: Vec<String>,
}

impl Scope {
    fn of(run: &ClaimedRun) -> Result<Scope, RunError> {
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
        Ok(Scope {
            backup_set_id,
            include_assignments,
            items,
        })
    }
}

/// An item's outcome: whether its policy exists, and whether it was copied
/// now (otherwise it was in the set already).
fn outcome(exists: bool, copied: bool) -> ItemOutcome {
    match (exists, copied) {
        (true, true) => ItemOutcome::Succeeded,
        (true, false) => ItemOutcome::Skipped(Reason::new(
            "already_in_backup_set",
            "The policy is already in this backup set.",
        )),
        (false, _) => ItemOutcome::Failed(Reason::new(
            "policy_not_found",
            "No policy with this id exists in this tenant.",
        )),
    }
}

#[async_trait]
impl PreparedRun for Scope {
    fn items(&self) -> &[String] {
        &self.items
    }

    async fn process(
        &self,
        tx: &mut PgConnection,
        run: &ClaimedRun,
        items: &[String],
    ) -> Result<Vec<ItemOutcome>, RunError> {
        let mut outcomes = copy_policies(tx, &[(run, &*self, items)]).await?;
        Ok(outcomes.pop().unwrap_or_default())
    }
}
