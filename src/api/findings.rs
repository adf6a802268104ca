//! Drift findings of the current tenant.

use crate::error::AppError;
use crate::model::finding::{FindingDetail, FindingPage, FindingQuery};
use leptos::prelude::*;

/// A page of findings, newest first, filtered by the list URL's query values
/// (`scope`, `baseline`, `current`, `status`, `before`).
#[server(prefix = "/api", endpoint = "findings/list")]
pub async fn list_findings(
    #[server(flatten)] query: FindingQuery,
) -> Result<FindingPage, AppError> {
    use crate::model::finding::FINDINGS_PAGE_SIZE;
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::findings::page(
            &mut *context::db().await?,
            actor.tenant.id,
            &query,
            FINDINGS_PAGE_SIZE,
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}

/// One finding with its evidence; another tenant's is "not found".
#[server(prefix = "/api", endpoint = "findings/get")]
pub async fn get_finding(id: String) -> Result<FindingDetail, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        let id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        crate::db::findings::find(&mut *context::db().await?, actor.tenant.id, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("finding {id} does not exist")))
    }
    .await
    .map_err(AppError::respond)
}

/// Acknowledges a finding (`new -> acknowledged`). Operators only; again is
/// fine.
#[server(prefix = "/api", endpoint = "findings/acknowledge")]
pub async fn acknowledge_finding(id: String) -> Result<(), AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        actor.require_operator()?;
        let id = crate::model::parse_id(&id).map_err(AppError::BadRequest)?;
        if crate::db::findings::acknowledge(&context::pool()?, actor.tenant.id, actor.user_id, id)
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("finding {id} does not exist")))
        }
    }
    .await
    .map_err(AppError::respond)
}
