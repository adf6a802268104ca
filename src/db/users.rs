//! Users and their memberships.

use crate::db::tenants::Tenant;
use crate::model::{Email, Role, TenantChoice};
use sqlx::{PgConnection, PgExecutor, PgPool};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("tenant '{0}' does not exist")]
    UnknownTenant(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// A new user was created with the given password.
    Created,
    /// The user existed; only the membership was set (password unchanged).
    MembershipSet,
}

/// The id of the user with this email, if there is one.
pub async fn id_by_email(
    db: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(db)
        .await
}

/// The id and password hash of the user with this email, if there is one.
pub async fn password_hash_by_email(
    pool: &PgPool,
    email: &Email,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

/// A user in one of their tenants.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub tenant: Tenant,
    pub role: Role,
    /// Every tenant the user is a member of, by name.
    pub tenants: Vec<TenantChoice>,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: i64,
    email: String,
    name: String,
    tenant_id: i64,
    slug: String,
    tenant_name: String,
    role: String,
    choice_slugs: Vec<String>,
    choice_names: Vec<String>,
}

impl MemberRow {
    fn into_member(self) -> Option<Member> {
        Some(Member {
            user_id: self.user_id,
            email: self.email,
            name: self.name,
            role: Role::parse(&self.role)?,
            tenant: Tenant {
                id: self.tenant_id,
                slug: self.slug,
                name: self.tenant_name,
            },
            tenants: self
                .choice_slugs
                .into_iter()
                .zip(self.choice_names)
                .map(|(slug, name)| TenantChoice { slug, name })
                .collect(),
        })
    }
}

/// The statement reading a member: the user `user` (an SQL expression) in
/// the tenant `tenant` when they are a member there, else in their first
/// tenant by name, with every tenant they are a member of. One text for
/// [`member`] and for the session lookup, which names an outer row's
/// columns instead of parameters.
pub(crate) fn member_sql(user: &str, tenant: &str) -> String {
    format!(
        "WITH mine AS ( \
             SELECT t.id, t.slug, t.name, m.role FROM tenant_memberships m \
             JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = {user}) \
         SELECT u.id AS user_id, u.email, u.name, c.id AS tenant_id, c.slug, c.name AS tenant_name, c.role, \
                array(SELECT slug FROM mine ORDER BY name, id) AS choice_slugs, \
                array(SELECT name FROM mine ORDER BY name, id) AS choice_names \
         FROM users u \
         JOIN LATERAL (SELECT * FROM mine ORDER BY (id = {tenant}) IS TRUE DESC, name, id LIMIT 1) c ON true \
         WHERE u.id = {user}"
    )
}

/// Reads a member from a row holding [`member_sql`]'s columns; `None` when
/// the role is not one the hub knows.
pub(crate) fn member_from_row(row: &sqlx::postgres::PgRow) -> Result<Option<Member>, sqlx::Error> {
    use sqlx::FromRow as _;
    Ok(MemberRow::from_row(row)?.into_member())
}

/// `user_id` in `tenant_id` when they are a member there, else in their
/// first tenant by name, with every tenant they are a member of (one
/// query); `None` when they are a member of none.
pub async fn member(
    db: impl PgExecutor<'_>,
    user_id: i64,
    tenant_id: Option<i64>,
) -> Result<Option<Member>, sqlx::Error> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| member_sql("$1", "$2"));
    let row = sqlx::query(SQL.as_str())
        .bind(user_id)
        .bind(tenant_id)
        .fetch_optional(db)
        .await?;
    match row {
        Some(row) => member_from_row(&row),
        None => Ok(None),
    }
}

/// The user with this email, created with `name` and the password hash
/// `password_hash` gives when there is none (it is asked for only then).
pub async fn find_or_create(
    conn: &mut PgConnection,
    email: &Email,
    name: &str,
    password_hash: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<(i64, Added)> {
    if let Some(id) = id_by_email(&mut *conn, email).await? {
        return Ok((id, Added::MembershipSet));
    }
    let hash = password_hash()?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (name, email, password_hash) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(email.as_str())
    .bind(hash)
    .fetch_one(conn)
    .await?;
    Ok((id, Added::Created))
}

/// Adds a user (or, for an existing one, sets the role in the tenant).
/// `password_hash` is asked for only when the user is new.
pub async fn add(
    pool: &PgPool,
    email: &Email,
    name: &str,
    tenant_slug: &str,
    role: Role,
    password_hash: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<Added> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(UserError::Invalid("the name must be 1 to 200 characters".into()).into());
    }
    let mut tx = crate::db::begin(pool).await?;
    let tenant_id: i64 = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(tenant_slug)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| UserError::UnknownTenant(tenant_slug.chars().take(63).collect()))?;
    let (user_id, added) = find_or_create(&mut tx, email, name, password_hash).await?;
    set_membership(&mut tx, tenant_id, user_id, role).await?;
    tx.commit().await?;
    Ok(added)
}

/// Gives a user `role` in a tenant, replacing any role they had there.
pub async fn set_membership(
    conn: &mut PgConnection,
    tenant_id: i64,
    user_id: i64,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub email: String,
    pub name: String,
    /// "role in tenant" entries, sorted.
    pub memberships: Vec<String>,
}

/// Users with their memberships; only members of `tenant_slug` when given.
pub async fn list(pool: &PgPool, tenant_slug: Option<&str>) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.email, u.name, \
                coalesce(array_agg(m.role || ' in ' || t.slug ORDER BY t.slug) FILTER (WHERE t.id IS NOT NULL), '{}') AS memberships \
         FROM users u \
         LEFT JOIN tenant_memberships m ON m.user_id = u.id \
         LEFT JOIN tenants t ON t.id = m.tenant_id \
         WHERE $1::text IS NULL OR EXISTS ( \
             SELECT 1 FROM tenant_memberships m2 JOIN tenants t2 ON t2.id = m2.tenant_id \
             WHERE m2.user_id = u.id AND t2.slug = $1) \
         GROUP BY u.id ORDER BY u.email",
    )
    .bind(tenant_slug)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::tenant;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[sqlx::test]
    async fn adding_a_user_creates_it_once_and_then_only_sets_roles(pool: PgPool) {
        tenant(&pool, "acme").await;
        tenant(&pool, "globex").await;
        let hash = || crate::server::password::hash("correct horse battery");
        assert_eq!(
            add(
                &pool,
                &email("Ann@Example.com"),
                "Ann",
                "acme",
                Role::Operator,
                hash
            )
            .await
            .unwrap(),
            Added::Created
        );
        let never =
            || -> anyhow::Result<String> { panic!("an existing user's password is not asked for") };
        assert_eq!(
            add(
                &pool,
                &email("ann@example.com"),
                "Ann",
                "globex",
                Role::Viewer,
                never
            )
            .await
            .unwrap(),
            Added::MembershipSet
        );
        let users = list(&pool, None).await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(
            users[0].memberships,
            ["operator in acme", "viewer in globex"]
        );
        assert_eq!(list(&pool, Some("globex")).await.unwrap().len(), 1);
        assert!(list(&pool, Some("initech")).await.unwrap().is_empty());
    }

    #[sqlx::test]
    async fn bad_input_adds_nothing(pool: PgPool) {
        tenant(&pool, "acme").await;
        let hash = || crate::server::password::hash("correct horse battery");
        let ann = email("ann@example.com");
        assert!(add(&pool, &ann, "Ann", "initech", Role::Viewer, hash)
            .await
            .is_err());
        assert!(add(&pool, &ann, " ", "acme", Role::Viewer, hash)
            .await
            .is_err());
        assert!(list(&pool, None).await.unwrap().is_empty());
    }
}
