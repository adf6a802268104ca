//! The request's shared state, available to every server function and page.
//! Who is asking lives in [`crate::server::auth`].

use crate::error::AppError;
use crate::server::state::AppState;
use leptos::prelude::use_context;
use sqlx::PgPool;

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
