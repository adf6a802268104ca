//! A user's notifications in one tenant: storing them, the bell, the list,
//! marking read.
//! Every query filters by tenant and by the notifiable user.

use crate::model::cursor::Cursor;
use crate::model::notification::{BELL_SIZE, UNREAD_CAP};
use crate::model::{Bell, NotificationItem, NotificationPage};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    /// `data` as JSON text (selected `data::text`): the entry reads a few
    /// fields straight from it.
    data: String,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
}

impl Row {
    fn item(&self) -> NotificationItem {
        NotificationItem::from_data(
            self.id.to_string(),
            &self.data,
            self.created_at,
            self.read_at.is_some(),
        )
    }
}

/// Stores a database notification for a user, inside the caller's
/// transaction so it commits (or not) with the change it reports.
pub async fn notify_user(
    conn: &mut sqlx::PgConnection,
    tenant_id: i64,
    user_id: i64,
    notification_type: &str,
    data: serde_json::Value,
    at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO notifications (tenant_id, id, type, notifiable_type, notifiable_id, data, read_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'user', $4, $5, $6, $7, $7)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(notification_type)
    .bind(user_id)
    .bind(data)
    .bind(read_at)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The unread count (capped) and the latest entries, in one query: with no
/// entries at all there is nothing unread either.
pub async fn bell(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    user_id: i64,
) -> Result<Bell, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct BellRow {
        #[sqlx(flatten)]
        row: Row,
        unread: i64,
    }
    let rows: Vec<BellRow> = sqlx::query_as(
        "SELECT id, data::text AS data, created_at, read_at, \
                (SELECT count(*) FROM (SELECT 1 FROM notifications \
                 WHERE tenant_id = $1 AND notifiable_type = 'user' AND notifiable_id = $2 \
                   AND read_at IS NULL LIMIT $3) capped) AS unread \
         FROM notifications \
         WHERE tenant_id = $1 AND notifiable_type = 'user' AND notifiable_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(UNREAD_CAP)
    .bind(BELL_SIZE)
    .fetch_all(db)
    .await?;
    Ok(Bell {
        unread: rows.first().map_or(0, |r| r.unread),
        latest: rows.iter().map(|r| r.row.item()).collect(),
    })
}

/// Newest first, `limit` at a time, by keyset (no OFFSET).
pub async fn page(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    user_id: i64,
    before: Option<Cursor<Uuid>>,
    limit: i64,
) -> Result<NotificationPage, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, data::text AS data, created_at, read_at FROM notifications \
         WHERE tenant_id = $1 AND notifiable_type = 'user' AND notifiable_id = $2 \
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(before.map(|c| c.created_at))
    .bind(before.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    Ok(NotificationPage {
        items: rows.iter().map(Row::item).collect(),
        older: more
            .then(|| rows.last())
            .flatten()
            .map(|r| Cursor::new(r.created_at, r.id)),
    })
}

/// Marks one of the user's notifications read (again is fine). False when
/// it is not theirs in this tenant, or does not exist.
pub async fn mark_read(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query(
        "UPDATE notifications SET read_at = coalesce(read_at, now()), \
             updated_at = CASE WHEN read_at IS NULL THEN now() ELSE updated_at END \
         WHERE tenant_id = $1 AND notifiable_type = 'user' AND notifiable_id = $2 AND id = $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(found == 1)
}

/// Marks all of the user's notifications in the tenant read; returns how
/// many were unread.
pub async fn mark_all_read(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE notifications SET read_at = now(), updated_at = now() \
         WHERE tenant_id = $1 AND notifiable_type = 'user' AND notifiable_id = $2 AND read_at IS NULL",
    )
    .bind(tenant_id)
    .bind(user_id)
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{tenant, user};

    async fn notify(pool: &PgPool, tenant_id: i64, user_id: i64, n: i64) -> Uuid {
        let mut conn = pool.acquire().await.unwrap();
        notify_user(
            &mut conn,
            tenant_id,
            user_id,
            "opshub.run_completed",
            serde_json::json!({"title": format!("run {n}"), "run": {"id": n}}),
            Utc::now() - chrono::Duration::seconds(1000 - n),
            None,
        )
        .await
        .unwrap()
    }

    #[sqlx::test]
    async fn pages_follow_the_keyset_and_stay_stable_while_new_ones_arrive(pool: PgPool) {
        let t = tenant(&pool, "acme").await;
        let u = user(&pool, "ann@acme.example").await;
        for n in 1..=5 {
            notify(&pool, t, u, n).await;
        }
        let first = page(&pool, t, u, None, 2).await.unwrap();
        let titles =
            |p: &NotificationPage| p.items.iter().map(|i| i.title.clone()).collect::<Vec<_>>();
        assert_eq!(titles(&first), ["run 5", "run 4"]);
        // A new notification does not shift the next page.
        notify(&pool, t, u, 6).await;
        let cursor = first.older.unwrap();
        let second = page(&pool, t, u, Some(cursor), 2).await.unwrap();
        assert_eq!(titles(&second), ["run 3", "run 2"]);
        let third = page(&pool, t, u, second.older, 2).await.unwrap();
        assert_eq!(titles(&third), ["run 1"]);
        assert_eq!(third.older, None);
        assert!(Cursor::<Uuid>::parse("garbage").is_err());
        assert!(Cursor::<Uuid>::parse("12_not-a-uuid").is_err());
    }

    #[sqlx::test]
    async fn marking_read_is_idempotent_and_only_for_the_own_user_and_tenant(pool: PgPool) {
        let acme = tenant(&pool, "acme").await;
        let globex = tenant(&pool, "globex").await;
        let ann = user(&pool, "ann@acme.example").await;
        let bob = user(&pool, "bob@acme.example").await;
        let mine = notify(&pool, acme, ann, 1).await;
        notify(&pool, acme, ann, 2).await;
        let bobs = notify(&pool, acme, bob, 3).await;
        assert_eq!(bell(&pool, acme, ann).await.unwrap().unread, 2);

        assert!(mark_read(&pool, acme, ann, mine).await.unwrap());
        let read_at: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT read_at FROM notifications WHERE id = $1")
                .bind(mine)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(
            mark_read(&pool, acme, ann, mine).await.unwrap(),
            "again is fine"
        );
        let again: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT read_at FROM notifications WHERE id = $1")
                .bind(mine)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(read_at, again, "the first read time is kept");
        assert_eq!(bell(&pool, acme, ann).await.unwrap().unread, 1);

        assert!(
            !mark_read(&pool, acme, ann, bobs).await.unwrap(),
            "not ann's"
        );
        assert!(
            !mark_read(&pool, globex, bob, bobs).await.unwrap(),
            "wrong tenant"
        );
        assert_eq!(bell(&pool, acme, bob).await.unwrap().unread, 1);

        assert_eq!(mark_all_read(&pool, acme, ann).await.unwrap(), 1);
        assert_eq!(bell(&pool, acme, ann).await.unwrap().unread, 0);
        assert_eq!(
            bell(&pool, acme, bob).await.unwrap().unread,
            1,
            "bob's stay unread"
        );
    }
}
