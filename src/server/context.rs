//! Who is asking: the request context every server function starts from.
//!
//! The current tenant is chosen with the tenant switcher and remembered in a
//! cookie; every query below the server functions takes the resolved tenant
//! id and filters by it.

use crate::db::tenants::{self, Tenant};
use crate::error::AppError;
use crate::server::state::AppState;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use leptos::prelude::use_context;
use sqlx::PgPool;

pub const TENANT_COOKIE: &str = "opshub_tenant";

/// The request's shared state; present in every server function and page.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the request context");
        AppError::internal()
    })
}

pub fn pool() -> Result<PgPool, AppError> {
    Ok(state()?.pool)
}

/// The tenant this request is about.
pub async fn current_tenant(pool: &PgPool) -> Result<Tenant, AppError> {
    let wanted = use_context::<Parts>().and_then(|p| cookie(&p.headers, TENANT_COOKIE));
    if let Some(slug) = wanted {
        if let Some(tenant) = tenants::find_by_slug(pool, &slug).await? {
            return Ok(tenant);
        }
    }
    tenants::list(pool)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            AppError::NotFound("no tenant exists yet: run `opshub seed --demo` or add one".into())
        })
}

/// Reads one cookie's value from request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static("a=1; opshub_tenant=contoso"),
        );
        h.append("cookie", HeaderValue::from_static("x_opshub_tenant=evil"));
        assert_eq!(cookie(&h, TENANT_COOKIE).as_deref(), Some("contoso"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
