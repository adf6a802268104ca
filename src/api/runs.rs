//! Runs of the current tenant.

use crate::error::AppError;
use crate::model::{RunDetail, RunSummary};
use leptos::prelude::*;

/// How many runs the list shows.
pub const RUNS_PAGE_SIZE: i64 = 50;

/// The current tenant's newest runs.
#[server(prefix = "/api", endpoint = "runs/list")]
pub async fn list_runs() -> Result<Vec<RunSummary>, AppError> {
    use crate::server::context;
    async {
        let pool = context::pool()?;
        let tenant = context::current_tenant(&pool).await?;
        Ok(crate::db::runs::list_recent(&pool, tenant.id, RUNS_PAGE_SIZE).await?)
    }
    .await
    .map_err(AppError::respond)
}

/// One run of the current tenant. Malformed ids are a bad request; unknown
/// ids and other tenants' ids are both "not found".
#[server(prefix = "/api", endpoint = "runs/get")]
pub async fn get_run(id: String) -> Result<RunDetail, AppError> {
    use crate::server::context;
    async {
        let run_id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        let pool = context::pool()?;
        let tenant = context::current_tenant(&pool).await?;
        crate::db::runs::find_detail(&pool, tenant.id, run_id)
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("run {run_id} does not exist in {}", tenant.name))
            })
    }
    .await
    .map_err(AppError::respond)
}
