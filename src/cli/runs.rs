//! Runs from the command line: start, import-inventory, runs, cancel and
//! retry, with `--wait` following a run to its end.

use super::{find_tenant, Actor, Database};
use crate::engine::{self, StartRequest};
use crate::model::{OperationKind, RunStatus};
use anyhow::Context as _;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args)]
pub struct StartArgs {
    /// Operation kind: inventory.sync, drift.generate or backup_set.add_policies.
    kind: String,
    #[command(flatten)]
    actor: Actor,
    /// The operation's scope, as JSON.
    #[arg(long, default_value = "{}")]
    scope: String,
    /// A JSON file the operation takes as input (inventory.sync's snapshot).
    #[arg(long)]
    payload_file: Option<PathBuf>,
    /// Follow the run until it ends; the exit code tells the outcome.
    #[arg(long)]
    wait: bool,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    file: PathBuf,
    #[command(flatten)]
    actor: Actor,
    #[arg(long)]
    wait: bool,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long, default_value_t = 20)]
    limit: i64,
}

#[derive(clap::Args)]
pub struct CancelArgs {
    run_id: String,
    #[command(flatten)]
    actor: Actor,
}

#[derive(clap::Args)]
pub struct RetryArgs {
    run_id: String,
    #[command(flatten)]
    actor: Actor,
    #[arg(long)]
    wait: bool,
}

pub async fn start(db: &Database, args: StartArgs) -> anyhow::Result<()> {
    let kind = OperationKind::parse(&args.kind).with_context(|| {
        let kinds: Vec<_> = OperationKind::ALL.iter().map(|k| k.key()).collect();
        format!(
            "unknown operation kind '{}'; expected one of {}",
            args.kind,
            kinds.join(", ")
        )
    })?;
    let scope: serde_json::Value =
        serde_json::from_str(&args.scope).context("--scope is not valid JSON")?;
    let payload = args.payload_file.map(|f| read_json(&f)).transpose()?;
    start_run(&db.pool, kind, &args.actor, scope, payload, args.wait).await
}

pub async fn import_inventory(db: &Database, args: ImportArgs) -> anyhow::Result<()> {
    let payload = read_json(&args.file)?;
    let source = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_string());
    let scope = serde_json::json!({ "source": source });
    start_run(
        &db.pool,
        OperationKind::InventorySync,
        &args.actor,
        scope,
        Some(payload),
        args.wait,
    )
    .await
}

pub async fn list(db: &Database, args: ListArgs) -> anyhow::Result<()> {
    let tenant = find_tenant(&db.pool, &args.tenant).await?;
    let runs = crate::db::run_list::page(
        &db.pool,
        tenant,
        &Default::default(),
        args.limit.clamp(1, 1000),
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
            crate::model::time::format_absolute(r.created_at)
        );
    }
    Ok(())
}

pub async fn cancel(db: &Database, args: CancelArgs) -> anyhow::Result<()> {
    let (tenant, user) = args.actor.resolve(&db.pool).await?;
    let id = crate::model::parse_id(&args.run_id).map_err(anyhow::Error::msg)?;
    match engine::cancel(&db.pool, tenant, user, id)
        .await
        .map_err(start_error)?
    {
        engine::Cancelled::Aborted => println!("run {id} aborted"),
        engine::Cancelled::Requested => println!("run {id} is stopping"),
    }
    Ok(())
}

pub async fn retry(db: &Database, args: RetryArgs) -> anyhow::Result<()> {
    let (tenant, user) = args.actor.resolve(&db.pool).await?;
    let id = crate::model::parse_id(&args.run_id).map_err(anyhow::Error::msg)?;
    let started = engine::retry_failed(&db.pool, tenant, user, id)
        .await
        .map_err(start_error)?;
    report_started(started);
    if args.wait {
        follow(&db.pool, tenant, started.run_id).await?;
    }
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    use crate::model::start::MAX_UPLOAD_BYTES;
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_UPLOAD_BYTES as u64,
        "{} is larger than {} MiB",
        path.display(),
        MAX_UPLOAD_BYTES >> 20
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn start_error(err: engine::operation::RequestError) -> anyhow::Error {
    anyhow::anyhow!("{}", crate::error::AppError::from(err))
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
    pool: &PgPool,
    kind: OperationKind,
    actor: &Actor,
    scope: serde_json::Value,
    payload: Option<serde_json::Value>,
    wait: bool,
) -> anyhow::Result<()> {
    let (tenant_id, user_id) = actor.resolve(pool).await?;
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
async fn follow(pool: &PgPool, tenant_id: i64, run_id: i64) -> anyhow::Result<()> {
    use std::io::Write as _;
    loop {
        let run = crate::db::runs::find_detail(&mut *pool.acquire().await?, tenant_id, run_id)
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
