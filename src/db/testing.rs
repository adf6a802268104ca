//! Fixtures for database tests.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// How late the slow link's answers arrive.
const SLOW_LINK_DELAY: Duration = Duration::from_millis(50);

/// A pool of one connection to the test database over a link whose answers
/// arrive `SLOW_LINK_DELAY` late (a proxy on a local port), which does not
/// test a connection before handing it out: every call uses the same
/// connection, and a caller can be cancelled while an answer is on its way.
pub async fn one_connection_over_a_slow_link(pool: &PgPool) -> PgPool {
    let delay = SLOW_LINK_DELAY;
    let options = pool.connect_options();
    let upstream = format!("{}:{}", options.get_host(), options.get_port());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let options = options.as_ref().clone().host("127.0.0.1").port(port);
    PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("connect over the slow link")
}

/// Drops `call` on a `one_connection_over_a_slow_link` pool while the answer
/// to its first statement is on its way (after the connection is back from
/// its last use), as a client that goes away or a timeout would.
pub async fn drop_while_answered<F: std::future::Future>(call: F) {
    // The last use's release is answered one delay after it.
    tokio::time::sleep(SLOW_LINK_DELAY * 3).await;
    let cut = tokio::time::timeout(SLOW_LINK_DELAY * 3 / 5, call).await;
    assert!(cut.is_err(), "the call ended before it was dropped");
}

/// Whether the connection of a one-connection pool is inside a transaction
/// block: its clock stands still between two statements.
pub async fn in_transaction(pool: &PgPool) -> bool {
    let now = || sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("SELECT now()");
    let first = now().fetch_one(pool).await.expect("now");
    tokio::time::sleep(Duration::from_millis(2)).await;
    first == now().fetch_one(pool).await.expect("now")
}

/// How many rows `table` holds (a table name from the test itself).
pub async fn rows_in(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("count rows")
}

pub async fn tenant(pool: &PgPool, slug: &str) -> i64 {
    sqlx::query_scalar("INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id")
        .bind(slug)
        .fetch_one(pool)
        .await
        .expect("insert tenant")
}

pub async fn user(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO users (name, email, password_hash) VALUES ($1, $1, 'x') RETURNING id",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .expect("insert user")
}

/// A pending drift run with the given idempotency key.
pub async fn pending_run(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    key: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key) \
         VALUES ($1, $2, 'drift', 'generate', $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(key)
    .fetch_one(pool)
    .await
}

/// Sets a run's status (and the timestamps its status requires).
pub async fn set_status(pool: &PgPool, run_id: i64, status: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = $2, \
         started_at = CASE WHEN $2 = 'running' THEN now() ELSE started_at END, \
         finished_at = CASE WHEN $2 IN ('pending', 'running') THEN NULL ELSE now() END \
         WHERE id = $1",
    )
    .bind(run_id)
    .bind(status)
    .execute(pool)
    .await
    .map(|_| ())
}

/// A run's status as stored.
pub async fn status_of(pool: &PgPool, run_id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM bulk_operation_runs WHERE id = $1")
        .bind(run_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The password every [`member`] signs in with.
pub const MEMBER_PASSWORD: &str = "correct horse battery staple";

/// A user who signs in with [`MEMBER_PASSWORD`] and has `role` in the tenant
/// (an existing user just gains the membership).
pub async fn member(pool: &PgPool, tenant_id: i64, email: &str, role: &str) -> i64 {
    let email = crate::model::Email::parse(email).expect("an email address");
    let role = crate::model::Role::parse(role).expect("a role");
    let mut conn = pool.acquire().await.expect("connection");
    let (user_id, _) = crate::db::users::find_or_create(&mut conn, &email, email.as_str(), || {
        crate::server::password::hash(MEMBER_PASSWORD)
    })
    .await
    .expect("find or create the user");
    crate::db::users::set_membership(&mut conn, tenant_id, user_id, role)
        .await
        .expect("membership");
    user_id
}

/// A finished `backup_set.add_policies` run of a new backup set whose one
/// item failed, so it can be retried.
pub async fn failed_backup_run(pool: &PgPool, tenant_id: i64, user_id: i64) -> i64 {
    let backup_set: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'Nightly') RETURNING id",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await
    .expect("backup set");
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids) \
         VALUES ($1, $2, 'backup_set', 'add_policies', md5(random()::text), $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(serde_json::json!({
        "backup_set_id": backup_set,
        "policy_ids": [987654],
        "options": {"include_assignments": false}
    }))
    .fetch_one(pool)
    .await
    .expect("run");
    set_status(pool, run, "running").await.expect("running");
    let mut conn = pool.acquire().await.expect("connection");
    let failure = crate::model::FailureEntry {
        reason_code: "policy_not_found".into(),
        reason: "The policy does not exist.".into(),
        item_id: Some("987654".into()),
        skipped: false,
    };
    crate::engine::failures::record(&mut conn, tenant_id, run, &[failure])
        .await
        .expect("failures");
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = 'completed_with_errors', finished_at = now(), \
         total_items = 1, processed_items = 1, failed = 1 WHERE id = $1",
    )
    .bind(run)
    .execute(pool)
    .await
    .expect("finish");
    run
}

/// Everything a tenant owns, as text: equal before and after means nothing
/// of the tenant changed.
pub async fn tenant_snapshot(pool: &PgPool, tenant_id: i64) -> String {
    let mut out = String::new();
    for table in [
        "bulk_operation_runs",
        "bulk_operation_run_failures",
        "bulk_operation_run_failure_counts",
        "audit_logs",
        "notifications",
        "findings",
        "backup_sets",
        "backup_items",
        "inventory_sync_runs",
        "tenant_memberships",
    ] {
        let rows: String = sqlx::query_scalar(&format!(
            "SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text FROM {table} t WHERE tenant_id = $1"
        ))
        .bind(tenant_id)
        .fetch_one(pool)
        .await
        .expect("snapshot");
        out.push_str(table);
        out.push_str(&rows);
        out.push('\n');
    }
    out
}

/// A new drift finding about `subject` in a scope "all".
pub async fn finding(pool: &PgPool, tenant_id: i64, subject: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO findings (tenant_id, scope_key, fingerprint, subject_type, subject_external_id, evidence_jsonb) \
         VALUES ($1, 'all', md5($2), 'compliance_policy', $2, jsonb_build_object('change_type', 'added', 'display_name', $2)) \
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(subject)
    .fetch_one(pool)
    .await
    .expect("finding")
}

/// Two completed inventory syncs of `scope_key`, an hour apart:
/// (baseline, current).
pub async fn two_syncs(pool: &PgPool, tenant_id: i64, scope_key: &str) -> (i64, i64) {
    let mut ids = Vec::new();
    for hours in [2, 1] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO inventory_sync_runs (tenant_id, selection_hash, status, started_at, finished_at) \
             VALUES ($1, $2, 'completed', now() - make_interval(hours => $3), now() - make_interval(hours => $3)) RETURNING id",
        )
        .bind(tenant_id)
        .bind(scope_key)
        .bind(hours)
        .fetch_one(pool)
        .await
        .expect("inventory sync");
        ids.push(id);
    }
    (ids[0], ids[1])
}

/// A checksum of every table of the database but the two that record
/// visits (`user_sessions`, `sign_in_failures`) and the migrations' own:
/// equal before and after means nothing stored changed.
pub async fn database_checksum(pool: &PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename NOT IN ('user_sessions', 'sign_in_failures', '_sqlx_migrations') \
         ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    assert!(tables.len() > 10, "tables found: {tables:?}");
    let mut out = String::new();
    for table in tables {
        let sum: String = sqlx::query_scalar(&format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM \"{table}\" t"
        ))
        .fetch_one(pool)
        .await
        .expect("checksum");
        out.push_str(&format!("{table}={sum}\n"));
    }
    out
}
