//! `opshub serve` (the hub and its workers) and `opshub worker` (workers
//! only).

use super::Database;
use crate::engine::{WorkerConfig, WorkerPool};
use crate::server::{shutdown, Application, HubConfig};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
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
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Runs executed at once.
    #[arg(long, env = "OPSHUB_WORKERS", default_value_t = 4)]
    concurrency: usize,
    /// Serve Prometheus metrics at http://ADDR/metrics (off when unset).
    #[arg(long, env = "OPSHUB_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    engine: EngineArgs,
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
    /// Most groups of small runs executing at once on the database, across
    /// every worker process (each is database work from start to end;
    /// about the database's cores).
    #[arg(long, env = "OPSHUB_GROUP_PARALLELISM", default_value_t = WorkerConfig::default().group_parallelism as u16,
          value_parser = clap::value_parser!(u16).range(1..))]
    group_parallelism: u16,
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
            group_parallelism: self.group_parallelism.into(),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            ..WorkerConfig::default()
        }
    }
}

pub async fn serve(db: Database, args: ServeArgs) -> anyhow::Result<()> {
    if !args.no_migrate {
        crate::db::migrate(&db.pool).await?;
    }
    let mut hub = HubConfig::from_environment(args.addr)?;
    hub.secure_cookies = args.secure_cookies;
    hub.stalled_after = Duration::from_secs(args.stalled_after_mins.max(1) * 60);
    hub.trusted_proxies = args.trusted_proxies.into();
    hub.metrics_token = args.metrics_token.filter(|t| !t.is_empty()).map(Into::into);
    crate::server::metrics::install();
    let config = args.engine.config(args.workers);
    let grace = config.shutdown_grace;
    let stop = shutdown::on_signal();
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} for metrics"))?;
            Some(tokio::spawn(crate::server::metrics::serve(
                listener,
                db.pool.clone(),
                stop.clone(),
            )))
        }
        None => None,
    };
    let app = Application::build(db.pool, hub).await?;
    let workers = if args.workers > 0 {
        let engine_pool = crate::db::connect_engine(
            &db.url,
            args.workers as u32 + crate::engine::worker::SPARE_CONNECTIONS,
        )
        .await?;
        Some(WorkerPool::spawn(engine_pool, config))
    } else {
        None
    };
    shutdown::run_hub(app, workers, grace, stop).await?;
    if let Some(metrics) = metrics {
        metrics.await??;
    }
    Ok(())
}

pub async fn worker(db: Database, args: WorkerArgs) -> anyhow::Result<()> {
    crate::db::migrate(&db.pool).await?;
    let metrics = match args.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} for metrics"))?,
        ),
        None => None,
    };
    let stop = shutdown::on_signal();
    let config = args.engine.config(args.concurrency.max(1));
    let engine_pool = crate::db::connect_engine(&db.url, db.max_connections).await?;
    db.pool.close().await;
    shutdown::run_worker(engine_pool, config, metrics, stop).await
}
