//! Backup sets of the current tenant.

use crate::error::AppError;
use crate::model::backup_set::BackupSetDetail;
use leptos::prelude::*;

/// A backup set with a page of its items (after policy id `after`) and the
/// newest runs that added to it; another tenant's is "not found".
#[server(prefix = "/api", endpoint = "backup_sets/get")]
pub async fn get_backup_set(
    id: String,
    after: Option<String>,
) -> Result<BackupSetDetail, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        let id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        let after = match after.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => Some(crate::model::parse_id(raw).map_err(|_| {
                AppError::BadRequest(
                    "the page cursor is malformed; start from the first page".into(),
                )
            })?),
        };
        crate::db::backup_sets::find(&mut *context::db().await?, actor.tenant.id, id, after)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("backup set {id} does not exist")))
    }
    .await
    .map_err(AppError::respond)
}
