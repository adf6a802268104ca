//! The signed-in user's notifications in the current tenant.

use crate::error::AppError;
use crate::model::notification::NotificationQuery;
use crate::model::{Bell, NotificationPage};
use leptos::prelude::*;

/// How many notifications a page of the list shows.
pub const NOTIFICATIONS_PAGE_SIZE: i64 = 25;

/// The bell: unread count and the latest entries.
#[server(prefix = "/api", endpoint = "notifications/bell")]
pub async fn get_bell() -> Result<Bell, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::notifications::bell(
            &mut *context::db().await?,
            actor.tenant.id,
            actor.user_id,
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}

/// A page of notifications, newest first; `older` is the cursor a previous
/// page returned.
#[server(prefix = "/api", endpoint = "notifications/list")]
pub async fn list_notifications(
    #[server(flatten)] query: NotificationQuery,
) -> Result<NotificationPage, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::notifications::page(
            &mut *context::db().await?,
            actor.tenant.id,
            actor.user_id,
            query.older,
            NOTIFICATIONS_PAGE_SIZE,
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}

/// Marks one notification read. Marking it again is fine; another user's or
/// another tenant's notification is "not found".
#[server(prefix = "/api", endpoint = "notifications/mark_read")]
pub async fn mark_notification_read(id: String) -> Result<(), AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        let uuid = uuid::Uuid::parse_str(id.trim())
            .map_err(|_| AppError::BadRequest("that is not a notification id".into()))?;
        let found = crate::db::notifications::mark_read(
            &context::pool()?,
            actor.tenant.id,
            actor.user_id,
            uuid,
        )
        .await?;
        if found {
            Ok(())
        } else {
            Err(AppError::NotFound(
                "that notification does not exist".into(),
            ))
        }
    }
    .await
    .map_err(AppError::respond)
}

/// Marks every notification of the user in the current tenant read.
#[server(prefix = "/api", endpoint = "notifications/mark_all_read")]
pub async fn mark_all_notifications_read() -> Result<u64, AppError> {
    use crate::server::{auth, context};
    async {
        let actor = auth::actor()?;
        Ok(crate::db::notifications::mark_all_read(
            &context::pool()?,
            actor.tenant.id,
            actor.user_id,
        )
        .await?)
    }
    .await
    .map_err(AppError::respond)
}
