//! Signing in and out, and the session's current tenant.

use crate::error::AppError;
use crate::model::SessionInfo;
use leptos::prelude::*;

/// Signs in with email and password, then goes to `next` (a path on this
/// site; anything else goes to the runs list).
#[server(prefix = "/api", endpoint = "auth/sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::{auth, context};
    async {
        let pool = context::pool()?;
        let session = auth::session()?;
        let client = crate::server::client_addr::of_request();
        auth::sign_in(&pool, &session, &email, &password, client.as_deref()).await?;
        leptos_axum::redirect(&crate::model::safe_next(next.as_deref()));
        Ok(())
    }
    .await
    .map_err(AppError::respond)
}

/// Ends the session and goes to the sign-in page.
#[server(prefix = "/api", endpoint = "auth/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::server::auth;
    async {
        auth::actor()?;
        auth::sign_out(&auth::session()?).await?;
        leptos_axum::redirect(crate::server::security::SIGN_IN_PAGE);
        Ok(())
    }
    .await
    .map_err(AppError::respond)
}

/// The signed-in user, their role in the current tenant, and the tenants
/// they may switch to.
#[server(prefix = "/api", endpoint = "session/current")]
pub async fn current_session() -> Result<SessionInfo, AppError> {
    use crate::server::auth;
    auth::actor()
        .map(|actor| auth::session_info(&actor))
        .map_err(AppError::respond)
}

/// Makes `slug` the current tenant of this session (a tenant the user is a
/// member of; any other is "not found").
#[server(prefix = "/api", endpoint = "session/switch_tenant")]
pub async fn switch_tenant(slug: String) -> Result<(), AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        if slug.len() > 63 {
            return Err(AppError::BadRequest(
                "tenant names are at most 63 characters".into(),
            ));
        }
        auth::switch_tenant(&context::pool()?, &auth::session()?, &actor, &slug).await?;
        Ok(())
    }
    .await
    .map_err(AppError::respond)
}
