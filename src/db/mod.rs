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
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
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
