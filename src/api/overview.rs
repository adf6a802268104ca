//! The overview of the current tenant.

use crate::error::AppError;
use crate::model::overview::Overview;
use leptos::prelude::*;

/// Runs per hour by status bucket, outcomes and median duration per
/// operation type, the top failure reasons and the stalled runs, over the
/// window in `range` (`24h`, the default, or `7d`).
#[server(prefix = "/api", endpoint = "overview/get")]
pub async fn get_overview(range: Option<String>) -> Result<Overview, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        let range = crate::model::overview::overview_range(range.as_deref())
            .map_err(AppError::BadRequest)?;
        let state = context::state()?;
        Ok(crate::db::overview::load(
            &mut *context::db().await?,
            actor.tenant.id,
            range,
            state.stalled_after,
            chrono::Utc::now(),
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}
