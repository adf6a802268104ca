//! Requests that change runs: start (idempotent), cancel and retry. Each
//! checks the caller and the input, then lets [`lifecycle`](super::lifecycle)
//! write the change.

use super::canonical::idempotency_key;
use super::lifecycle;
use super::metrics;
use super::operation::RequestError;
use super::operations;
use crate::model::start::MAX_UPLOAD_BYTES;
use crate::model::{OperationKind, Role, RunStatus};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

pub use super::lifecycle::{Cancelled, Started, EVENTS_CHANNEL, QUEUE_CHANNEL};

/// Largest accepted scope, serialized.
pub const MAX_SCOPE_BYTES: usize = 2 * 1024 * 1024;

pub struct StartRequest {
    pub tenant_id: i64,
    pub user_id: i64,
    pub kind: OperationKind,
    pub scope: Value,
    pub payload: Option<Value>,
}

/// The caller's role in the tenant; refuses non-members and viewers.
pub async fn require_operator(
    conn: &mut PgConnection,
    tenant_id: i64,
    user_id: i64,
) -> Result<(), RequestError> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    operator_only(role.as_deref())
}

fn operator_only(role: Option<&str>) -> Result<(), RequestError> {
    match role.map(Role::parse) {
        Some(Some(Role::Operator)) => Ok(()),
        Some(_) => Err(RequestError::Forbidden(
            "viewers cannot start, cancel or retry operations".into(),
        )),
        None => Err(RequestError::NotFound("tenant not found".into())),
    }
}

/// An operator admitted to start a run: the tenant as the run's
/// notification names it, and the id the new run will have.
struct Admitted {
    slug: String,
    name: String,
    run_id: i64,
}

/// `require_operator` for a start, in the same round trip as what the start
/// needs next.
async fn admit_start(
    conn: &mut PgConnection,
    tenant_id: i64,
    user_id: i64,
) -> Result<Admitted, RequestError> {
    let row: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT m.role, t.slug, t.name, \
                CASE WHEN m.role = $3 THEN nextval(pg_get_serial_sequence('bulk_operation_runs', 'id')) END \
         FROM tenant_memberships m JOIN tenants t ON t.id = m.tenant_id \
         WHERE m.tenant_id = $1 AND m.user_id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(Role::Operator.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    operator_only(row.as_ref().map(|r| r.0.as_str()))?;
    match row {
        Some((_, slug, name, Some(run_id))) => Ok(Admitted { slug, name, run_id }),
        _ => Err(RequestError::NotFound("tenant not found".into())),
    }
}

/// Starts an operation, or returns the active run with the same idempotency
/// key. Safe under any number of concurrent callers.
pub async fn start(pool: &PgPool, req: StartRequest) -> Result<Started, RequestError> {
    if req.scope.to_string().len() > MAX_SCOPE_BYTES {
        return Err(RequestError::Invalid(format!(
            "the scope is larger than {} MiB",
            MAX_SCOPE_BYTES >> 20
        )));
    }
    if req
        .payload
        .as_ref()
        .is_some_and(|p| p.to_string().len() > MAX_UPLOAD_BYTES)
    {
        return Err(RequestError::Invalid(format!(
            "the payload is larger than {} MiB",
            MAX_UPLOAD_BYTES >> 20
        )));
    }
    if crate::model::start::holds_nul(&req.scope)
        || req
            .payload
            .as_ref()
            .is_some_and(crate::model::start::holds_nul)
    {
        return Err(RequestError::Invalid(
            "the request holds a NUL character (\\u0000), which cannot be stored; remove it and try again"
                .into(),
        ));
    }
    let op = operations::find(req.kind);
    let mut tx = crate::db::begin(pool).await?;
    let admitted = admit_start(&mut tx, req.tenant_id, req.user_id).await?;
    let scope = op
        .validate(&mut tx, req.tenant_id, &req.scope, req.payload.as_ref())
        .await?;
    let key = idempotency_key(req.tenant_id, req.kind.key(), &scope);
    let opening = lifecycle::Opening {
        tenant: lifecycle::TenantRef {
            id: req.tenant_id,
            slug: &admitted.slug,
            name: &admitted.name,
        },
        run_id: admitted.run_id,
        user_id: req.user_id,
        kind: req.kind,
        key: &key,
        scope: &scope,
        planned_items: op.planned_items(&scope),
    };
    let (started, announcements) = lifecycle::open(&mut tx, &opening).await?;
    tx.commit().await?;
    if let Err(err) = announcements.send(pool).await {
        tracing::warn!(run_id = started.run_id, error = %err, "could not announce a new run; workers find it by polling");
    }
    if started.deduplicated {
        metrics::run_deduplicated(req.kind);
    } else {
        metrics::run_started(req.kind);
    }
    Ok(started)
}

/// Cancels a pending run at once, or asks a running run's worker to stop.
pub async fn cancel(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    run_id: i64,
) -> Result<Cancelled, RequestError> {
    let mut tx = crate::db::begin(pool).await?;
    require_operator(&mut tx, tenant_id, user_id).await?;
    let (outcome, kind) = lifecycle::cancel(&mut tx, tenant_id, user_id, run_id).await?;
    tx.commit().await?;
    metrics::cancellation(kind);
    Ok(outcome)
}

/// Starts a new run of the same kind scoped to the failed items of a
/// finished run.
pub async fn retry_failed(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    run_id: i64,
) -> Result<Started, RequestError> {
    let row: Option<(String, String, String, Value)> = sqlx::query_as(
        "SELECT resource, action, status, item_ids FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    let Some((resource, action, status, item_ids)) = row else {
        return Err(RequestError::NotFound(format!(
            "run {run_id} does not exist"
        )));
    };
    if RunStatus::parse(&status).is_none_or(RunStatus::is_active) {
        return Err(RequestError::Conflict(format!(
            "run {run_id} has not finished yet"
        )));
    }
    if OperationKind::from_parts(&resource, &action) != Some(OperationKind::BackupSetAddPolicies) {
        return Err(RequestError::Invalid(
            "only itemized operations (adding policies to a backup set) can retry failed items"
                .into(),
        ));
    }
    let failed: Vec<i64> = crate::db::run_failures::failed_item_ids(pool, tenant_id, run_id)
        .await?
        .into_iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    if failed.is_empty() {
        return Err(RequestError::Conflict(format!(
            "run {run_id} has no failed items to retry"
        )));
    }
    let mut scope = item_ids;
    scope["policy_ids"] = json!(failed);
    start(
        pool,
        StartRequest {
            tenant_id,
            user_id,
            kind: OperationKind::BackupSetAddPolicies,
            scope,
            payload: None,
        },
    )
    .await
}
