//! Storage: the Postgres pool, migrations, and queries by table family.

pub mod audit;
pub mod backup_sets;
pub mod findings;
pub mod history;
pub mod notifications;
pub mod overview;
pub mod run_failures;
pub mod run_list;
pub mod runs;
pub mod sessions;
pub mod sign_in_attempts;
pub mod start_options;
pub mod tenants;
pub mod users;

#[cfg(test)]
mod schema_tests;
#[cfg(test)]
pub mod testing;

use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// The migrations compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    // Short statements only: compiling one with JIT costs more than it saves
    // (seconds for the claim, whose row estimates are rough).
    connect_with(database_url, max_connections, &[("jit", "off")]).await
}

/// Connections for the run engine's workers. Besides `connect`'s settings,
/// each statement is planned once per connection: the engine's statements
/// are few and run thousands of times, their plans do not depend on the
/// values bound (arrays of ids, a lease, a limit), and planning them anew for
/// every call cost Postgres a sixth of its time on small runs.
pub async fn connect_engine(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(
        database_url,
        max_connections,
        &[("jit", "off"), ("plan_cache_mode", "force_generic_plan")],
    )
    .await
}

async fn connect_with(
    database_url: &str,
    max_connections: u32,
    settings: &[(&str, &str)],
) -> anyhow::Result<PgPool> {
    use anyhow::Context as _;
    use std::str::FromStr as _;
    let options = sqlx::postgres::PgConnectOptions::from_str(database_url)
        .context("DATABASE_URL is not a valid Postgres URL")?
        .options(settings.iter().copied());
    // A connection is tested when it comes back to the pool (sqlx pings it
    // on release); testing it again when it is lent out cost a round trip
    // per statement, a sixth of the hub's time on a signed-in page.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .context("could not connect to Postgres (check DATABASE_URL)")?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    MIGRATOR.run(pool).await.context("applying migrations")?;
    Ok(())
}

/// Whether every migration this binary knows has been applied successfully.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> = match sqlx::query_scalar(
        "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await
    {
        Ok(v) => v,
        // No migrations table yet: nothing applied.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.binary_search(&m.version).is_ok()))
}

/// Begins a transaction on a pooled connection, safe against the caller
/// being cancelled meanwhile (a client that went away, a timeout, a stopping
/// worker). sqlx counts a transaction only once BEGIN's answer has been
/// read, so a caller dropped between sending BEGIN and reading the answer
/// would return the connection to the pool inside a transaction nobody
/// tracks: the next borrower's statements would run in it, hold its locks
/// and vanish with it. Here the round trip runs in a task of its own that
/// always finishes; if the caller is gone by then, the transaction is
/// dropped, which rolls it back before the connection is reused.
#[allow(clippy::disallowed_methods)] // the one place that may
pub async fn begin(pool: &PgPool) -> Result<Transaction, sqlx::Error> {
    let pool = pool.clone();
    run_to_end(async move { pool.begin().await })
        .await
        .unwrap_or(Err(sqlx::Error::PoolClosed))
}

/// `begin`, only if a connection is idle (`None` otherwise).
#[allow(clippy::disallowed_methods)] // the one place that may
pub async fn try_begin(pool: &PgPool) -> Result<Option<Transaction>, sqlx::Error> {
    let pool = pool.clone();
    run_to_end(async move { pool.try_begin().await })
        .await
        .unwrap_or(Err(sqlx::Error::PoolClosed))
}

pub type Transaction = sqlx::Transaction<'static, sqlx::Postgres>;

/// Runs `step` in a task of its own, so that dropping the caller does not
/// cut it short. `None` only when the runtime is shutting down.
async fn run_to_end<T: Send + 'static>(
    step: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    match tokio::spawn(step).await {
        Ok(out) => Some(out),
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::begin;
    use super::testing::{drop_while_answered, in_transaction, one_connection_over_a_slow_link};
    use sqlx::postgres::PgPool;

    #[sqlx::test]
    async fn a_begin_whose_caller_is_cancelled_leaves_no_transaction_open(pool: PgPool) {
        let pool = one_connection_over_a_slow_link(&pool).await;
        assert!(!in_transaction(&pool).await);
        for _ in 0..3 {
            drop_while_answered(begin(&pool)).await;
            assert!(
                !in_transaction(&pool).await,
                "the connection went back to the pool inside a transaction"
            );
        }
        // And a begin left alone still works.
        let mut tx = begin(&pool).await.unwrap();
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(one, 1);
        tx.commit().await.unwrap();
    }
}
