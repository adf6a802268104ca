//! Tenants and who may see them.

use crate::model::TenantChoice;
use sqlx::PgPool;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Tenant {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

impl Tenant {
    pub fn choice(&self) -> TenantChoice {
        TenantChoice {
            slug: self.slug.clone(),
            name: self.name.clone(),
        }
    }
}

/// The tenants a user is a member of.
pub async fn for_user(pool: &PgPool, user_id: i64) -> Result<Vec<Tenant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.slug, t.name FROM tenants t \
         JOIN tenant_memberships m ON m.tenant_id = t.id \
         WHERE m.user_id = $1 ORDER BY t.name, t.id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

pub async fn find_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug, name FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
}
