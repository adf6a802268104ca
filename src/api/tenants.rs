//! The current tenant and switching between tenants.

use crate::error::AppError;
use crate::model::TenantContext;
use leptos::prelude::*;

/// The tenant the hub shows, and the tenants it can switch to.
#[server(prefix = "/api", endpoint = "tenants/current")]
pub async fn current_tenant() -> Result<TenantContext, AppError> {
    use crate::server::context;
    async {
        let pool = context::pool()?;
        let current = context::current_tenant(&pool).await?;
        let choices = crate::db::tenants::list(&pool).await?;
        Ok(TenantContext {
            current: current.choice(),
            choices: choices.iter().map(|t| t.choice()).collect(),
        })
    }
    .await
    .map_err(AppError::respond)
}

/// Makes `slug` the current tenant of this browser.
#[server(prefix = "/api", endpoint = "tenants/switch")]
pub async fn switch_tenant(slug: String) -> Result<(), AppError> {
    use crate::server::context::{self, TENANT_COOKIE};
    use axum::http::{header, HeaderValue};
    async {
        if slug.len() > 63
            || !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(AppError::BadRequest(
                "tenant names are lowercase letters, digits and dashes".into(),
            ));
        }
        let pool = context::pool()?;
        let tenant = crate::db::tenants::find_by_slug(&pool, &slug)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("tenant '{slug}' does not exist")))?;
        let cookie = format!(
            "{TENANT_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000",
            tenant.slug
        );
        let value = HeaderValue::from_str(&cookie).map_err(|_| AppError::internal())?;
        expect_context::<leptos_axum::ResponseOptions>().append_header(header::SET_COOKIE, value);
        Ok(())
    }
    .await
    .map_err(AppError::respond)
}
