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

/// The id of the tenant `slug` when `user_id` is a member of it; `None`
/// for another tenant, whether it exists or not.
pub async fn id_if_member(
    pool: &PgPool,
    slug: &str,
    user_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT t.id FROM tenants t JOIN tenant_memberships m ON m.tenant_id = t.id \
         WHERE t.slug = $1 AND m.user_id = $2",
    )
    .bind(slug)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// The tenant `slug`, created (or renamed to `name`) if need be.
pub async fn upsert(
    conn: &mut sqlx::PgConnection,
    slug: &str,
    name: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO tenants (slug, name) VALUES ($1, $2) \
         ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(slug)
    .bind(name)
    .fetch_one(conn)
    .await
}

pub async fn find_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug, name FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
}
