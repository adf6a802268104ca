//! Sessions as the session layer stores them (`user_sessions`): written by
//! the hub's store, looked up with their member by every signed-in
//! request, and re-checked by open event streams.

use sqlx::PgPool;

/// Whether the session `session_id` still exists (not signed out, not
/// expired) and `user_id` is still a member of `tenant_id`. A session's
/// user never changes under one id: signing in again issues a new one.
pub async fn grants(
    pool: &PgPool,
    session_id: &str,
    user_id: i64,
    tenant_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_sessions WHERE id = $1 AND expiry_date > now()) \
            AND EXISTS (SELECT 1 FROM tenant_memberships WHERE user_id = $2 AND tenant_id = $3)",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(tenant_id)
    .fetch_one(pool)
    .await
}

/// What a request's session id leads to.
#[derive(Debug)]
pub enum SessionLookup {
    /// No live session has this id (signed out, expired, never issued).
    Missing,
    /// A live session that does not name its user beside its data (stored
    /// before sessions did): its data says who it is.
    Unnamed,
    /// The session's user is a member of no tenant (or is gone).
    NoMembership,
    /// The session's user, in the tenant the session remembers when they
    /// are still a member there (else in their first tenant by name).
    Member {
        member: crate::db::users::Member,
        remembered_tenant: Option<i64>,
    },
}

/// Finds the live session `session_id` and its user's membership in one
/// statement: the lookup every signed-in request starts with.
pub async fn lookup(
    db: impl sqlx::PgExecutor<'_>,
    session_id: &str,
) -> Result<SessionLookup, sqlx::Error> {
    use sqlx::Row as _;
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT s.user_id AS session_user_id, s.tenant_id AS remembered_tenant_id, member.* \
             FROM user_sessions s \
             LEFT JOIN LATERAL ({}) member ON true \
             WHERE s.id = $1 AND s.expiry_date > now()",
            crate::db::users::member_sql("s.user_id", "s.tenant_id")
        )
    });
    let Some(row) = sqlx::query(SQL.as_str())
        .bind(session_id)
        .fetch_optional(db)
        .await?
    else {
        return Ok(SessionLookup::Missing);
    };
    if row.try_get::<Option<i64>, _>("session_user_id")?.is_none() {
        return Ok(SessionLookup::Unnamed);
    }
    if row.try_get::<Option<i64>, _>("user_id")?.is_none() {
        return Ok(SessionLookup::NoMembership);
    }
    Ok(match crate::db::users::member_from_row(&row)? {
        Some(member) => SessionLookup::Member {
            member,
            remembered_tenant: row.try_get("remembered_tenant_id")?,
        },
        None => SessionLookup::NoMembership,
    })
}

/// A session as the store writes it: its serialized record, its expiry,
/// and the user and tenant its data names.
pub struct StoredSession<'a> {
    pub id: &'a str,
    pub data: &'a [u8],
    pub expiry: chrono::DateTime<chrono::Utc>,
    pub user_id: Option<i64>,
    pub tenant_id: Option<i64>,
}

/// What storing a session does when its id is stored already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfStored {
    /// Writes nothing (a new session whose random id clashed).
    Keep,
    /// Replaces it (a session that changed).
    Replace,
}

/// Stores a session in one statement; false when nothing was written (the
/// id was stored already and `if_stored` is [`IfStored::Keep`]).
pub async fn store(
    pool: &PgPool,
    s: &StoredSession<'_>,
    if_stored: IfStored,
) -> Result<bool, sqlx::Error> {
    let sql = match if_stored {
        IfStored::Keep => {
            "INSERT INTO user_sessions (id, data, expiry_date, user_id, tenant_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING"
        }
        IfStored::Replace => {
            "INSERT INTO user_sessions (id, data, expiry_date, user_id, tenant_id) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date, \
                 user_id = excluded.user_id, tenant_id = excluded.tenant_id"
        }
    };
    let written = sqlx::query(sql)
        .bind(s.id)
        .bind(s.data)
        .bind(s.expiry)
        .bind(s.user_id)
        .bind(s.tenant_id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(written == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{member, tenant};

    async fn session(
        pool: &PgPool,
        id: &str,
        user_id: Option<i64>,
        tenant_id: Option<i64>,
        hours: i64,
    ) {
        let stored = StoredSession {
            id,
            data: b"opaque",
            expiry: chrono::Utc::now() + chrono::Duration::hours(hours),
            user_id,
            tenant_id,
        };
        store(pool, &stored, IfStored::Replace).await.unwrap();
    }

    #[sqlx::test]
    async fn a_lookup_tells_members_from_missing_unnamed_and_memberless_sessions(pool: PgPool) {
        let acme = tenant(&pool, "acme").await;
        let globex = tenant(&pool, "globex").await;
        let ann = member(&pool, acme, "ann@acme.example", "operator").await;
        member(&pool, globex, "ann@acme.example", "viewer").await;
        let bob = member(&pool, acme, "bob@acme.example", "operator").await;
        sqlx::query("DELETE FROM tenant_memberships WHERE user_id = $1")
            .bind(bob)
            .execute(&pool)
            .await
            .unwrap();
        session(&pool, "in-globex", Some(ann), Some(globex), 1).await;
        session(&pool, "left-tenant", Some(ann), Some(9_999), 1).await;
        session(&pool, "expired", Some(ann), Some(acme), -1).await;
        session(&pool, "unnamed", None, None, 1).await;
        session(&pool, "memberless", Some(bob), Some(acme), 1).await;

        match lookup(&pool, "in-globex").await.unwrap() {
            SessionLookup::Member {
                member,
                remembered_tenant,
            } => {
                assert_eq!((member.user_id, member.tenant.id), (ann, globex));
                assert_eq!(member.role, crate::model::Role::Viewer);
                assert_eq!(member.tenants.len(), 2);
                assert_eq!(remembered_tenant, Some(globex));
            }
            other => panic!("{other:?}"),
        }
        // A remembered tenant the user is no member of: their first by name.
        match lookup(&pool, "left-tenant").await.unwrap() {
            SessionLookup::Member {
                member,
                remembered_tenant,
            } => assert_eq!((member.tenant.id, remembered_tenant), (acme, Some(9_999))),
            other => panic!("{other:?}"),
        }
        for (id, expected) in [
            ("expired", "Missing"),
            ("never-issued", "Missing"),
            ("unnamed", "Unnamed"),
            ("memberless", "NoMembership"),
        ] {
            let found = format!("{:?}", lookup(&pool, id).await.unwrap());
            assert_eq!(found, expected, "{id}");
        }
    }
}
