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

pub async fn find_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug, name FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
}
