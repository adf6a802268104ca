//! Runs of the current tenant.

use crate::error::AppError;
use crate::model::run_query::{RunFacets, RunPage, RunQuery};
use crate::model::{FailurePage, RunDetail};
use leptos::prelude::*;

/// How many runs a page of the list shows.
pub const RUNS_PAGE_SIZE: i64 = 50;

/// A page of the current tenant's runs, newest first. The query travels as
/// the list URL's values (`status`, `op`, `by`, `range`, `q`, `before`);
/// unknown or malformed values are a bad request.
#[server(prefix = "/api", endpoint = "runs/list")]
pub async fn list_runs(#[server(flatten)] query: RunQuery) -> Result<RunPage, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::run_list::page(
            &mut *context::db().await?,
            actor.tenant.id,
            &query,
            RUNS_PAGE_SIZE,
            chrono::Utc::now(),
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}

/// Run counts per status bucket under the other filters (the bucket and
/// the page do not count), and the initiators to filter by.
#[server(prefix = "/api", endpoint = "runs/facets")]
pub async fn list_run_facets(#[server(flatten)] query: RunQuery) -> Result<RunFacets, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::run_list::facets(
            &mut *context::db().await?,
            actor.tenant.id,
            &query,
            chrono::Utc::now(),
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}

/// A page of runs and the facets of its filters together, in one
/// statement: what the runs list asks for when it has no counts yet.
#[server(prefix = "/api", endpoint = "runs/page")]
pub async fn list_runs_with_facets(
    #[server(flatten)] query: RunQuery,
) -> Result<(RunPage, RunFacets), AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::run_list::page_and_facets(
            &mut *context::db().await?,
            actor.tenant.id,
            &query,
            RUNS_PAGE_SIZE,
            chrono::Utc::now(),
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}

/// One run of the current tenant. Malformed ids are a bad request; unknown
/// ids and other tenants' ids are both "not found".
#[server(prefix = "/api", endpoint = "runs/get")]
pub async fn get_run(id: String) -> Result<RunDetail, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        let run_id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        crate::db::runs::find_detail(&mut *context::db().await?, actor.tenant.id, run_id)
            .await?
            .ok_or_else(|| run_not_found(run_id))
    }
    .await
    .map_err(AppError::respond)
}

/// The next page of one reason's item ids of a run of the current tenant:
/// `reason_code` with `skipped` (true for skips) names the group, `after` is
/// the `next_after` of the previous page (none: the first page).
#[server(prefix = "/api", endpoint = "runs/failures")]
pub async fn list_failures(
    id: String,
    reason_code: String,
    skipped: Option<String>,
    after: Option<String>,
) -> Result<FailurePage, AppError> {
    use crate::model::failure::{parse_after, PAGE_ITEMS};
    use crate::model::FailureKey;
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        let run_id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        let key =
            FailureKey::parse(&reason_code, skipped.as_deref()).map_err(AppError::BadRequest)?;
        let after = parse_after(after.as_deref()).map_err(AppError::BadRequest)?;
        crate::db::run_failures::page(
            &mut *context::db().await?,
            actor.tenant.id,
            run_id,
            &key,
            after,
            PAGE_ITEMS,
        )
        .await?
        .ok_or_else(|| run_not_found(run_id))
    }
    .await
    .map_err(AppError::respond)
}

#[cfg(feature = "ssr")]
fn run_not_found(run_id: i64) -> AppError {
    AppError::NotFound(format!("run {run_id} does not exist"))
}

/// Cancels a queued run at once, or asks a running run to stop. Operators only.
#[server(prefix = "/api", endpoint = "runs/cancel")]
pub async fn cancel_run(id: String) -> Result<(), AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        actor.require_operator()?;
        let run_id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        crate::engine::queue::cancel(&context::pool()?, actor.tenant.id, actor.user_id, run_id)
            .await?;
        Ok(())
    }
    .await
    .map_err(AppError::respond)
}

/// Starts a new run over the failed items of a finished run, returns the
/// new run's id and sends the browser there. Operators only.
#[server(prefix = "/api", endpoint = "runs/retry")]
pub async fn retry_run(id: String) -> Result<i64, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        actor.require_operator()?;
        let run_id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        let started = crate::engine::queue::retry_failed(
            &context::pool()?,
            actor.tenant.id,
            actor.user_id,
            run_id,
        )
        .await?;
        // The hydrated app follows this to the new run; a plain form too.
        leptos_axum::redirect(&format!("/runs/{}", started.run_id));
        Ok(started.run_id)
    }
    .await
    .map_err(AppError::respond)
}
