//! The `opshub` binary: one program, a subcommand per role.

#[cfg(feature = "ssr")]
mod cli {
    use anyhow::Context as _;
    use clap::{Parser, Subcommand, ValueEnum};
    use opshub::server::{http, state::AppState, telemetry};
    use std::net::SocketAddr;

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
        command: Command,
    }

    #[derive(Clone, Copy, ValueEnum)]
    enum LogFormat {
        Human,
        Json,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Apply migrations, then serve the hub.
        Serve {
            /// Address to listen on.
            #[arg(long, env = "OPSHUB_ADDR", default_value = "127.0.0.1:3000")]
            addr: SocketAddr,
            /// Do not apply migrations at start-up.
            #[arg(long)]
            no_migrate: bool,
        },
        /// Apply pending migrations and exit.
        Migrate,
        /// Load data into the database.
        Seed {
            /// Load the demo tenants, users, inventory, findings and runs.
            #[arg(long, required = true)]
            demo: bool,
        },
    }

    pub async fn run() -> anyhow::Result<()> {
        let cli = Cli::parse();
        telemetry::init(matches!(cli.log_format, LogFormat::Json));
        let url = cli
            .database_url
            .as_deref()
            .context("DATABASE_URL is not set: pass --database-url or set DATABASE_URL")?;
        let pool = opshub::db::connect(url, cli.db_max_connections).await?;
        match cli.command {
            Command::Migrate => {
                opshub::db::migrate(&pool).await?;
                println!("migrations applied");
            }
            Command::Seed { demo: _ } => {
                opshub::db::migrate(&pool).await?;
                let report = opshub::seed::demo::run(&pool, chrono::Utc::now()).await?;
                for (slug, created) in &report.tenants {
                    if *created {
                        println!("tenant {slug}: demo history created");
                    } else {
                        println!("tenant {slug}: already has runs; left unchanged");
                    }
                }
                println!(
                    "\nDemo users (password: {}):",
                    opshub::seed::demo::DEMO_PASSWORD
                );
                for user in &opshub::seed::demo::DEMO_USERS {
                    let roles: Vec<String> = user
                        .memberships
                        .iter()
                        .map(|(t, r)| format!("{r} in {t}"))
                        .collect();
                    println!("  {:<26} {}", user.email, roles.join(", "));
                }
            }
            Command::Serve { addr, no_migrate } => {
                if !no_migrate {
                    opshub::db::migrate(&pool).await?;
                }
                let mut conf = leptos::config::get_configuration(None)
                    .context("reading the Leptos configuration")?;
                conf.leptos_options.site_addr = addr;
                let state = AppState {
                    leptos_options: conf.leptos_options,
                    pool,
                };
                http::serve(state, addr).await?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser entry point is `hydrate()` in lib.rs.
}
