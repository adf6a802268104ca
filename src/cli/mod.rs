//! The command line: the arguments of every subcommand, and one file per
//! group of commands. `main.rs` parses and dispatches; the work is here.

pub mod runs;
pub mod seed;
pub mod serve;
pub mod users;

#[cfg(feature = "bench")]
pub mod bench;

use crate::model::Email;
use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sqlx::PgPool;

#[derive(Parser)]
#[command(
    name = "opshub",
    version,
    about = "Multi-tenant operations runs monitoring hub"
)]
pub struct Cli {
    /// Postgres connection URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Maximum database connections of this process.
    #[arg(
        long,
        env = "OPSHUB_DB_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    db_max_connections: u32,
    /// Log format.
    #[arg(long, env = "OPSHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply migrations, then serve the hub.
    Serve(serve::ServeArgs),
    /// Execute runs only (no web server) until Ctrl-C or SIGTERM.
    Worker(serve::WorkerArgs),
    /// Start an operation as a user of a tenant.
    Start(runs::StartArgs),
    /// Import an inventory snapshot (JSON file) as an inventory.sync run.
    ImportInventory(runs::ImportArgs),
    /// Measure the engine or the hub on this database (in tenants of its own).
    #[cfg(feature = "bench")]
    Bench(bench::BenchArgs),
    /// Manage users and their roles in tenants.
    User(users::UserArgs),
    /// List a tenant's recent runs.
    Runs(runs::ListArgs),
    /// Cancel a run.
    Cancel(runs::CancelArgs),
    /// Start a new run for the failed items of a finished run.
    Retry(runs::RetryArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Load data into the database.
    Seed(seed::SeedArgs),
}

/// The database every command works on.
pub struct Database {
    pub url: String,
    /// The process's pool (`--db-max-connections`).
    pub pool: PgPool,
    pub max_connections: u32,
}

impl Cli {
    /// Starts logging as asked.
    pub fn init_logging(&self) {
        crate::server::telemetry::init(matches!(self.log_format, LogFormat::Json));
    }

    /// Connects to the database of `--database-url` (or `DATABASE_URL`).
    pub async fn database(&self) -> anyhow::Result<Database> {
        let url = self
            .database_url
            .clone()
            .context("DATABASE_URL is not set: pass --database-url or set DATABASE_URL")?;
        let pool = crate::db::connect(&url, self.db_max_connections).await?;
        Ok(Database {
            url,
            pool,
            max_connections: self.db_max_connections,
        })
    }
}

/// Who acts: a user of a tenant.
#[derive(clap::Args)]
pub struct Actor {
    /// Tenant slug.
    #[arg(long)]
    tenant: String,
    /// Email of the user acting.
    #[arg(long)]
    user: Email,
}

impl Actor {
    /// The tenant's id and the user's.
    async fn resolve(&self, pool: &PgPool) -> anyhow::Result<(i64, i64)> {
        let tenant = find_tenant(pool, &self.tenant).await?;
        let user = crate::db::users::id_by_email(pool, &self.user).await?;
        let user = user.with_context(|| format!("user '{}' does not exist", self.user))?;
        Ok((tenant, user))
    }
}

async fn find_tenant(pool: &PgPool, slug: &str) -> anyhow::Result<i64> {
    crate::db::tenants::find_by_slug(pool, slug)
        .await?
        .map(|t| t.id)
        .with_context(|| format!("tenant '{slug}' does not exist"))
}
