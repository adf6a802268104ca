//! Users and their memberships, as managed from the command line.

use sqlx::PgPool;

/// Shortest password accepted for a new user.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("tenant '{0}' does not exist")]
    UnknownTenant(String),
}

/// A checked email address: trimmed, lowercased, `local@domain.tld`.
pub fn normalize_email(raw: &str) -> Result<String, UserError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(UserError::Invalid(format!(
            "'{}' is not an email address",
            raw.trim().chars().take(60).collect::<String>()
        )))
    }
}

pub fn check_password(password: &str) -> Result<(), UserError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(UserError::Invalid(format!(
            "the password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if n > 1024 {
        return Err(UserError::Invalid(
            "the password is longer than 1024 characters".into(),
        ));
    }
    Ok(())
}

pub fn check_role(role: &str) -> Result<(), UserError> {
    match role {
        "operator" | "viewer" => Ok(()),
        _ => Err(UserError::Invalid(format!(
            "role must be operator or viewer, not '{}'",
            role.chars().take(40).collect::<String>()
        ))),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// A new user was created with the given password.
    Created,
    /// The user existed; only the membership was set (password unchanged).
    MembershipSet,
}

/// Adds a user (or, for an existing one, sets the role in the tenant).
/// `password_hash` is asked for only when the user is new.
pub async fn add(
    pool: &PgPool,
    email: &str,
    name: &str,
    tenant_slug: &str,
    role: &str,
    password_hash: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<Added> {
    let email = normalize_email(email)?;
    check_role(role)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(UserError::Invalid("the name must be 1 to 200 characters".into()).into());
    }
    let mut tx = pool.begin().await?;
    let tenant_id: i64 = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(tenant_slug)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| UserError::UnknownTenant(tenant_slug.chars().take(63).collect()))?;
    let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
    let (user_id, added) = match existing {
        Some(id) => (id, Added::MembershipSet),
        None => {
            let hash = password_hash()?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (name, email, password_hash) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(name)
            .bind(&email)
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
            (id, Added::Created)
        }
    };
    set_membership(&mut tx, tenant_id, user_id, role).await?;
    tx.commit().await?;
    Ok(added)
}

/// Gives a user `role` in a tenant, replacing any role they had there.
pub async fn set_membership(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    user_id: i64,
    role: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(role)
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

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_roles_are_checked() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough password").is_ok());
        assert!(check_role("operator").is_ok());
        assert!(check_role("admin").is_err());
    }

    #[sqlx::test]
    async fn adding_a_user_creates_it_once_and_then_only_sets_roles(pool: PgPool) {
        tenant(&pool, "acme").await;
        tenant(&pool, "globex").await;
        let hash = || crate::server::password::hash("correct horse battery");
        assert_eq!(
            add(&pool, "Ann@Example.com", "Ann", "acme", "operator", hash)
                .await
                .unwrap(),
            Added::Created
        );
        let never =
            || -> anyhow::Result<String> { panic!("an existing user's password is not asked for") };
        assert_eq!(
            add(&pool, "ann@example.com", "Ann", "globex", "viewer", never)
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
        assert!(add(&pool, "not-an-email", "Ann", "acme", "operator", hash)
            .await
            .is_err());
        assert!(add(&pool, "ann@example.com", "Ann", "acme", "admin", hash)
            .await
            .is_err());
        assert!(
            add(&pool, "ann@example.com", "Ann", "initech", "viewer", hash)
                .await
                .is_err()
        );
        assert!(add(&pool, "ann@example.com", " ", "acme", "viewer", hash)
            .await
            .is_err());
        assert!(list(&pool, None).await.unwrap().is_empty());
    }
}
