//! Starting operations from the hub. Each start lands the browser on the
//! run's page; a start that joined an already active run says so there.

use crate::error::AppError;
use crate::model::start::StartOptions;
use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};

/// What the start forms offer: scopes with their syncs, backup sets, policies.
#[server(prefix = "/api", endpoint = "operations/options")]
pub async fn get_start_options() -> Result<StartOptions, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::start_options::load(&mut *context::db().await?, actor.tenant.id).await?)
    }
    .await
    .map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
async fn start_and_go(
    kind: crate::model::OperationKind,
    scope: serde_json::Value,
    payload: Option<serde_json::Value>,
) -> Result<i64, AppError> {
    use crate::server::{auth, context};
    let actor = auth::actor()?;
    actor.require_operator()?;
    let started = crate::engine::start(
        &context::pool()?,
        crate::engine::StartRequest {
            tenant_id: actor.tenant.id,
            user_id: actor.user_id,
            kind,
            scope,
            payload,
        },
    )
    .await?;
    let joined = if started.deduplicated {
        "?joined=1"
    } else {
        ""
    };
    leptos_axum::redirect(&format!("/runs/{}{joined}", started.run_id));
    Ok(started.run_id)
}

#[cfg(feature = "ssr")]
fn optional_id(v: Option<&str>, what: &str) -> Result<Option<i64>, AppError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => crate::model::parse_id(s)
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("the {what} must be a sync id"))),
    }
}

/// Generates drift for a scope; without baseline and current, the scope's
/// two latest completed syncs. Operators only.
#[server(prefix = "/api", endpoint = "operations/drift")]
pub async fn start_drift(
    scope_key: String,
    baseline: Option<String>,
    current: Option<String>,
) -> Result<i64, AppError> {
    async {
        let mut scope = serde_json::json!({ "scope_key": scope_key.trim() });
        let baseline = optional_id(baseline.as_deref(), "baseline")?;
        let current = optional_id(current.as_deref(), "current sync")?;
        if baseline.is_some() != current.is_some() {
            return Err(AppError::BadRequest(
                "pick both a baseline and a current sync, or neither".into(),
            ));
        }
        if let (Some(b), Some(c)) = (baseline, current) {
            scope["baseline_run_id"] = b.into();
            scope["current_run_id"] = c.into();
        }
        start_and_go(crate::model::OperationKind::DriftGenerate, scope, None).await
    }
    .await
    .map_err(AppError::respond)
}

/// Adds policies to a backup set. `policies` are policy ids (checkboxes
/// named `policies[]`). Operators only.
#[server(prefix = "/api", endpoint = "operations/backup")]
pub async fn start_backup(
    backup_set: String,
    #[server(default)] policies: Vec<String>,
    include_assignments: Option<String>,
) -> Result<i64, AppError> {
    async {
        let set = crate::model::parse_id(&backup_set)
            .map_err(|_| AppError::BadRequest("pick a backup set".into()))?;
        if policies.is_empty() {
            return Err(AppError::BadRequest("pick at least one policy".into()));
        }
        let ids = policies
            .iter()
            .map(|p| crate::model::parse_id(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AppError::BadRequest)?;
        let scope = serde_json::json!({
            "backup_set_id": set,
            "policy_ids": ids,
            "options": {"include_assignments": include_assignments.is_some_and(|v| v == "on" || v == "true")},
        });
        start_and_go(crate::model::OperationKind::BackupSetAddPolicies, scope, None).await
    }
    .await
    .map_err(AppError::respond)
}

/// Imports an inventory snapshot uploaded as a file (multipart field
/// `snapshot`, at most 16 MiB of JSON). Operators only.
#[server(prefix = "/api", endpoint = "operations/import", input = MultipartFormData)]
pub async fn import_inventory(data: MultipartData) -> Result<i64, AppError> {
    use crate::model::start::MAX_UPLOAD_BYTES;
    async {
        // Role first: a viewer's upload is not even read.
        crate::server::auth::actor()?.require_operator()?;
        let Some(mut form) = data.into_inner() else {
            return Err(AppError::BadRequest(
                "send the snapshot as a form upload".into(),
            ));
        };
        let mut snapshot: Option<(String, Vec<u8>)> = None;
        while let Some(mut field) = form
            .next_field()
            .await
            .map_err(|_| AppError::BadRequest("the upload is malformed".into()))?
        {
            if field.name() != Some("snapshot") {
                continue;
            }
            let name = field
                .file_name()
                .map(|n| n.chars().take(200).collect::<String>())
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "snapshot.json".into());
            let mut bytes = Vec::new();
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|_| AppError::BadRequest("the upload is malformed".into()))?
            {
                if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
                    return Err(AppError::BadRequest(format!(
                        "the snapshot is larger than {} MiB",
                        MAX_UPLOAD_BYTES >> 20
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            snapshot = Some((name, bytes));
        }
        let (name, bytes) =
            snapshot.ok_or_else(|| AppError::BadRequest("choose a snapshot file".into()))?;
        if bytes.is_empty() {
            return Err(AppError::BadRequest("the snapshot file is empty".into()));
        }
        let payload: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            AppError::BadRequest(format!(
                "the snapshot is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        start_and_go(
            crate::model::OperationKind::InventorySync,
            serde_json::json!({ "source": name }),
            Some(payload),
        )
        .await
    }
    .await
    .map_err(AppError::respond)
}
