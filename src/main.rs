//! The `opshub` binary: one program, a subcommand per role.

#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
mod cli {
    use anyhow::Context as _;
    use clap::{Parser, Subcommand, ValueEnum};
    use opshub::engine::{self, StartRequest, WorkerConfig, WorkerPool};
    use opshub::model::{OperationKind, RunStatus};
    use opshub::server::{shutdown, state::AppState, telemetry};
    use std::net::SocketAddr;
    use std::time::Duration;

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
            /// Runs this process executes at once; 0 serves the hub only.
            #[arg(long, env = "OPSHUB_WORKERS", default_value_t = 4)]
            workers: usize,
            /// Mark the session cookie Secure; set it when the hub is reached over HTTPS.
            #[arg(long, env = "OPSHUB_SECURE_COOKIES")]
            secure_cookies: bool,
            /// Minutes without progress after which the overview flags a running run as stalled.
            #[arg(long, env = "OPSHUB_STALLED_AFTER_MINS", default_value_t = 10)]
            stalled_after_mins: u64,
            /// A reverse proxy (CIDR, repeatable) whose X-Forwarded-For names
            /// the client; otherwise the client is the TCP peer.
            #[arg(
                long = "trusted-proxy",
                env = "OPSHUB_TRUSTED_PROXIES",
                value_delimiter = ','
            )]
            trusted_proxies: Vec<ipnet::IpNet>,
            /// Serve Prometheus metrics at http://ADDR/metrics (off when unset).
            #[arg(long, env = "OPSHUB_METRICS_ADDR")]
            metrics_addr: Option<SocketAddr>,
            /// Serve /metrics on the hub too, to requests bearing this token.
            #[arg(long, env = "OPSHUB_METRICS_TOKEN", hide_env_values = true)]
            metrics_token: Option<String>,
            #[command(flatten)]
            engine: EngineArgs,
        },
        /// Execute runs only (no web server) until Ctrl-C or SIGTERM.
        Worker {
            /// Runs executed at once.
            #[arg(long, env = "OPSHUB_WORKERS", default_value_t = 4)]
            concurrency: usize,
            /// Serve Prometheus metrics at http://ADDR/metrics (off when unset).
            #[arg(long, env = "OPSHUB_METRICS_ADDR")]
            metrics_addr: Option<SocketAddr>,
            #[command(flatten)]
            engine: EngineArgs,
        },
        /// Start an operation as a user of a tenant.
        Start {
            /// Operation kind: inventory.sync, drift.generate or backup_set.add_policies.
            kind: String,
            #[command(flatten)]
            actor: Actor,
            /// The operation's scope, as JSON.
            #[arg(long, default_value = "{}")]
            scope: String,
            /// A JSON file the operation takes as input (inventory.sync's snapshot).
            #[arg(long)]
            payload_file: Option<std::path::PathBuf>,
            /// Follow the run until it ends; the exit code tells the outcome.
            #[arg(long)]
            wait: bool,
        },
        /// Import an inventory snapshot (JSON file) as an inventory.sync run.
        ImportInventory {
            file: std::path::PathBuf,
            #[command(flatten)]
            actor: Actor,
            #[arg(long)]
            wait: bool,
        },
        /// Measure the engine or the hub on this database (in tenants of its own).
        Bench {
            #[command(subcommand)]
            part: BenchPart,
        },
        /// Manage users and their roles in tenants.
        User {
            #[command(subcommand)]
            action: UserAction,
        },
        /// List a tenant's recent runs.
        Runs {
            #[arg(long)]
            tenant: String,
            #[arg(long, default_value_t = 20)]
            limit: i64,
        },
        /// Cancel a run.
        Cancel {
            run_id: String,
            #[command(flatten)]
            actor: Actor,
        },
        /// Start a new run for the failed items of a finished run.
        Retry {
            run_id: String,
            #[command(flatten)]
            actor: Actor,
            #[arg(long)]
            wait: bool,
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

    #[derive(Subcommand)]
    enum BenchPart {
        /// The run engine measured like the peer job queues: tiny runs
        /// (starts, burn, end to end), items per second, start-to-claim
        /// latency, scale-out over worker processes, cost per run.
        #[command(args_override_self = true)]
        Engine {
            #[command(flatten)]
            opts: opshub::bench::EngineBench,
            /// Also write the Markdown report to this file.
            #[arg(long)]
            report: Option<std::path::PathBuf>,
        },
        /// Latency of the runs list and the bell over HTTP, against a long
        /// history loaded into tenants of its own.
        Hub {
            /// Runs to load (half of them into the measured tenant, the rest
            /// over nine others).
            #[arg(long, default_value_t = 1_000_000)]
            runs: usize,
            /// Notifications to load for the measured tenant's user.
            #[arg(long, default_value_t = 100_000)]
            notifications: usize,
            /// Timed requests per measurement.
            #[arg(long, default_value_t = 300)]
            requests: usize,
            /// Keep the loaded data instead of removing it afterwards.
            #[arg(long)]
            keep: bool,
        },
    }

    #[derive(Subcommand)]
    enum UserAction {
        /// Add a user to a tenant with a role. A new user's password is read
        /// from standard input (first line) or asked for at a terminal; an
        /// existing user keeps theirs and gets the role.
        Add {
            #[arg(long)]
            email: String,
            /// Display name (default: the part of the email before @).
            #[arg(long)]
            name: Option<String>,
            /// Tenant slug.
            #[arg(long)]
            tenant: String,
            /// operator (may start, cancel, retry) or viewer (read only).
            #[arg(long)]
            role: String,
        },
        /// List users and their roles.
        List {
            /// Only members of this tenant.
            #[arg(long)]
            tenant: Option<String>,
        },
    }

    /// A new user's password: from a terminal prompt, or the first line of stdin.
    fn read_password() -> anyhow::Result<String> {
        use std::io::IsTerminal as _;
        let password = if std::io::stdin().is_terminal() {
            let first = rpassword::prompt_password("Password: ")?;
            let again = rpassword::prompt_password("Again: ")?;
            anyhow::ensure!(first == again, "the passwords differ");
            first
        } else {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        };
        opshub::db::users::check_password(&password)?;
        Ok(password)
    }

    #[derive(clap::Args)]
    struct Actor {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Email of the user acting.
        #[arg(long)]
        user: String,
    }

    #[derive(clap::Args)]
    struct EngineArgs {
        /// Seconds a claim holds without a heartbeat (a dead worker's runs
        /// are recovered after at most this plus the poll interval).
        #[arg(long, env = "OPSHUB_LEASE_SECS", default_value_t = 30)]
        lease_secs: u64,
        /// Fallback polling interval in milliseconds.
        #[arg(long, env = "OPSHUB_POLL_MS", default_value_t = 1000)]
        poll_ms: u64,
        /// Claims of one run before it fails with worker_lost.
        #[arg(long, env = "OPSHUB_MAX_ATTEMPTS", default_value_t = 3)]
        max_attempts: i32,
        /// Most items a run records per batch.
        #[arg(long, env = "OPSHUB_MAX_BATCH", default_value_t = 5_000)]
        max_batch: usize,
        /// Milliseconds to pause between a run's batches, to throttle what
        /// runs do to the systems they touch (0: no pause).
        #[arg(long, env = "OPSHUB_BATCH_PAUSE_MS", default_value_t = 0)]
        batch_pause_ms: u64,
        /// Most runs of one tenant running at once across all workers
        /// (unset: no cap; claims are fair between tenants either way).
        #[arg(long, env = "OPSHUB_TENANT_CONCURRENCY", value_parser = clap::value_parser!(i32).range(1..))]
        tenant_concurrency: Option<i32>,
        /// On Ctrl-C or SIGTERM: seconds in-flight batches and HTTP requests
        /// may take to finish before the process exits (what a batch leaves
        /// is released for another worker).
        #[arg(long, env = "OPSHUB_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
        shutdown_grace_secs: u64,
    }

    impl EngineArgs {
        fn config(&self, concurrency: usize) -> WorkerConfig {
            WorkerConfig {
                concurrency,
                lease: Duration::from_secs(self.lease_secs.max(1)),
                poll_interval: Duration::from_millis(self.poll_ms.max(10)),
                max_attempts: self.max_attempts.max(1),
                max_batch: self.max_batch.max(1),
                batch_pause: Duration::from_millis(self.batch_pause_ms),
                tenant_concurrency: self.tenant_concurrency,
                shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
                ..WorkerConfig::default()
            }
        }
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
            Command::Serve {
                addr,
                no_migrate,
                workers,
                secure_cookies,
                stalled_after_mins,
                trusted_proxies,
                metrics_addr,
                metrics_token,
                engine,
            } => {
                if !no_migrate {
                    opshub::db::migrate(&pool).await?;
                }
                let mut conf = leptos::config::get_configuration(None)
                    .context("reading the Leptos configuration")?;
                conf.leptos_options.site_addr = addr;
                opshub::server::assets::use_hashed_names_if_built(&mut conf.leptos_options);
                opshub::server::metrics::install();
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr}"))?;
                let config = engine.config(workers);
                let grace = config.shutdown_grace;
                let stop = shutdown::on_signal();
                let metrics = match metrics_addr {
                    Some(addr) => {
                        let listener = tokio::net::TcpListener::bind(addr)
                            .await
                            .with_context(|| format!("listening on {addr} for metrics"))?;
                        Some(tokio::spawn(opshub::server::metrics::serve(
                            listener,
                            pool.clone(),
                            stop.clone(),
                        )))
                    }
                    None => None,
                };
                let workers = if workers > 0 {
                    let engine_pool = opshub::db::connect_engine(
                        url,
                        workers as u32 + opshub::engine::worker::SPARE_CONNECTIONS,
                    )
                    .await?;
                    Some(WorkerPool::spawn(engine_pool, config))
                } else {
                    None
                };
                let state = AppState {
                    leptos_options: conf.leptos_options,
                    live: opshub::server::live::LiveHub::spawn(pool.clone()),
                    pool,
                    secure_cookies,
                    stalled_after: Duration::from_secs(stalled_after_mins.max(1) * 60),
                    trusted_proxies: trusted_proxies.into(),
                    metrics_token: metrics_token.filter(|t| !t.is_empty()).map(Into::into),
                };
                shutdown::run_hub(state, listener, workers, grace, stop).await?;
                if let Some(metrics) = metrics {
                    metrics.await??;
                }
            }
            Command::Worker {
                concurrency,
                metrics_addr,
                engine,
            } => {
                opshub::db::migrate(&pool).await?;
                let metrics = match metrics_addr {
                    Some(addr) => Some(
                        tokio::net::TcpListener::bind(addr)
                            .await
                            .with_context(|| format!("listening on {addr} for metrics"))?,
                    ),
                    None => None,
                };
                let stop = shutdown::on_signal();
                let config = engine.config(concurrency.max(1));
                let engine_pool = opshub::db::connect_engine(url, cli.db_max_connections).await?;
                pool.close().await;
                shutdown::run_worker(engine_pool, config, metrics, stop).await?;
            }
            Command::Start {
                kind,
                actor,
                scope,
                payload_file,
                wait,
            } => {
                let kind = OperationKind::parse(&kind).with_context(|| {
                    let kinds: Vec<_> = OperationKind::ALL.iter().map(|k| k.key()).collect();
                    format!(
                        "unknown operation kind '{kind}'; expected one of {}",
                        kinds.join(", ")
                    )
                })?;
                let scope: serde_json::Value =
                    serde_json::from_str(&scope).context("--scope is not valid JSON")?;
                let payload = payload_file.map(|f| read_json(&f)).transpose()?;
                start_run(&pool, kind, &actor, scope, payload, wait).await?;
            }
            Command::ImportInventory { file, actor, wait } => {
                let payload = read_json(&file)?;
                let source = file.file_name().map(|n| n.to_string_lossy().to_string());
                let scope = serde_json::json!({ "source": source });
                start_run(
                    &pool,
                    OperationKind::InventorySync,
                    &actor,
                    scope,
                    Some(payload),
                    wait,
                )
                .await?;
            }
            Command::Bench {
                part: BenchPart::Engine { mut opts, report },
            } => {
                opshub::db::migrate(&pool).await?;
                opts.database_url = url.to_string();
                let markdown = opshub::bench::run_engine(&pool, opts).await?;
                if let Some(path) = report {
                    std::fs::write(&path, &markdown)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                println!("{markdown}");
            }
            Command::Bench {
                part:
                    BenchPart::Hub {
                        runs,
                        notifications,
                        requests,
                        keep,
                    },
            } => {
                opshub::db::migrate(&pool).await?;
                anyhow::ensure!(
                    (1_000..=100_000_000).contains(&runs),
                    "--runs is between 1000 and 100000000"
                );
                anyhow::ensure!(
                    (1..=100_000_000).contains(&notifications),
                    "--notifications is between 1 and 100000000"
                );
                anyhow::ensure!(
                    (10..=1_000_000).contains(&requests),
                    "--requests is between 10 and 1000000"
                );
                let opts = opshub::bench::HubBench {
                    runs,
                    notifications,
                    requests,
                    keep,
                };
                println!("{}", opshub::bench::run_hub(&pool, opts).await?);
            }
            Command::User {
                action:
                    UserAction::Add {
                        email,
                        name,
                        tenant,
                        role,
                    },
            } => {
                let name =
                    name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
                let added = opshub::db::users::add(&pool, &email, &name, &tenant, &role, || {
                    opshub::server::password::hash(&read_password()?)
                })
                .await?;
                match added {
                    opshub::db::users::Added::Created => {
                        println!("user {email} created: {role} in {tenant}")
                    }
                    opshub::db::users::Added::MembershipSet => {
                        println!("user {email} exists: now {role} in {tenant} (password unchanged)")
                    }
                }
            }
            Command::User {
                action: UserAction::List { tenant },
            } => {
                for u in opshub::db::users::list(&pool, tenant.as_deref()).await? {
                    println!(
                        "{:<30} {:<24} {}",
                        u.email,
                        u.name,
                        u.memberships.join(", ")
                    );
                }
            }
            Command::Runs { tenant, limit } => {
                let tenant = find_tenant(&pool, &tenant).await?;
                let runs = opshub::db::run_list::page(
                    &pool,
                    tenant,
                    &Default::default(),
                    limit.clamp(1, 1000),
                    chrono::Utc::now(),
                )
                .await?
                .runs;
                println!(
                    "{:>8}  {:<26} {:<20} {:>13}  {:<20} created",
                    "run", "operation", "status", "progress", "initiator"
                );
                for r in runs {
                    let progress = match r.counters.total_items {
                        Some(t) => format!("{}/{t}", r.counters.processed_items),
                        None => r.counters.processed_items.to_string(),
                    };
                    println!(
                        "{:>8}  {:<26} {:<20} {:>13}  {:<20} {}",
                        r.id,
                        r.operation_key(),
                        r.bucket().label(),
                        progress,
                        r.initiator,
                        opshub::model::time::format_absolute(r.created_at)
                    );
                }
            }
            Command::Cancel { run_id, actor } => {
                let (tenant, user) = resolve_actor(&pool, &actor).await?;
                let id = opshub::model::parse_id(&run_id).map_err(anyhow::Error::msg)?;
                match engine::cancel(&pool, tenant, user, id)
                    .await
                    .map_err(start_error)?
                {
                    engine::Cancelled::Aborted => println!("run {id} aborted"),
                    engine::Cancelled::Requested => println!("run {id} is stopping"),
                }
            }
            Command::Retry {
                run_id,
                actor,
                wait,
            } => {
                let (tenant, user) = resolve_actor(&pool, &actor).await?;
                let id = opshub::model::parse_id(&run_id).map_err(anyhow::Error::msg)?;
                let started = engine::retry_failed(&pool, tenant, user, id)
                    .await
                    .map_err(start_error)?;
                report_started(started);
                if wait {
                    follow(&pool, tenant, started.run_id).await?;
                }
            }
        }
        Ok(())
    }
    fn read_json(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
        const MAX: u64 = 16 * 1024 * 1024;
        let size = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        anyhow::ensure!(size <= MAX, "{} is larger than 16 MiB", path.display());
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
    }

    async fn find_tenant(pool: &sqlx::PgPool, slug: &str) -> anyhow::Result<i64> {
        opshub::db::tenants::find_by_slug(pool, slug)
            .await?
            .map(|t| t.id)
            .with_context(|| format!("tenant '{slug}' does not exist"))
    }

    async fn resolve_actor(pool: &sqlx::PgPool, actor: &Actor) -> anyhow::Result<(i64, i64)> {
        let tenant = find_tenant(pool, &actor.tenant).await?;
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(actor.user.trim().to_lowercase())
            .fetch_optional(pool)
            .await?;
        let user = user.with_context(|| format!("user '{}' does not exist", actor.user))?;
        Ok((tenant, user))
    }

    fn start_error(err: engine::operation::StartError) -> anyhow::Error {
        anyhow::anyhow!("{}", opshub::error::AppError::from(err))
    }

    fn report_started(started: engine::Started) {
        if started.deduplicated {
            println!(
                "run {} (joined the active run with the same scope)",
                started.run_id
            );
        } else {
            println!("run {} (queued)", started.run_id);
        }
    }

    async fn start_run(
        pool: &sqlx::PgPool,
        kind: OperationKind,
        actor: &Actor,
        scope: serde_json::Value,
        payload: Option<serde_json::Value>,
        wait: bool,
    ) -> anyhow::Result<()> {
        let (tenant_id, user_id) = resolve_actor(pool, actor).await?;
        let req = StartRequest {
            tenant_id,
            user_id,
            kind,
            scope,
            payload,
        };
        let started = engine::start(pool, req).await.map_err(start_error)?;
        report_started(started);
        if wait {
            follow(pool, tenant_id, started.run_id).await?;
        }
        Ok(())
    }

    /// Shows a progress bar until the run ends; exits 0 when it succeeded,
    /// 2 when it partially succeeded, 1 when it failed or was aborted.
    async fn follow(pool: &sqlx::PgPool, tenant_id: i64, run_id: i64) -> anyhow::Result<()> {
        use std::io::Write as _;
        loop {
            let run = opshub::db::runs::find_detail(pool, tenant_id, run_id)
                .await?
                .with_context(|| format!("run {run_id} disappeared"))?
                .summary;
            let c = run.counters;
            let pct = c.percent().unwrap_or(0) as usize;
            let bar = format!("{}{}", "#".repeat(pct / 4), "-".repeat(25 - pct / 4));
            let total = c
                .total_items
                .map(|t| t.to_string())
                .unwrap_or_else(|| "?".into());
            print!(
                "\r[{bar}] {pct:>3}% {}/{total}  ok {} failed {} skipped {}  {:<20}",
                c.processed_items,
                c.succeeded,
                c.failed,
                c.skipped,
                run.bucket().label()
            );
            std::io::stdout().flush().ok();
            if !run.status.is_active() {
                println!();
                std::process::exit(match run.status {
                    RunStatus::Completed => 0,
                    RunStatus::CompletedWithErrors => 2,
                    _ => 1,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
