//! `opshub bench engine`: what the run engine sustains on a real Postgres,
//! measured like the peer job queues it is compared with.
//!
//! A *tiny run* is a `backup_set.add_policies` of one policy: start → claim
//! → complete, with its audit entries (started, finished), its two
//! notifications (queued, completed) and its live events. Every measurement
//! uses a fresh tenant of its own. The Markdown report is returned (the
//! command prints it to stdout); progress goes to stderr.

use crate::engine::notify::{RUN_COMPLETED, RUN_QUEUED};
use crate::engine::operations::{backup_add_policies, inventory_sync};
use crate::engine::{self, StartRequest, WorkerConfig, WorkerPool};
use crate::model::{OperationKind, RunAuditAction, RunStatus};
use anyhow::Context as _;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Concurrent callers that start tiny runs.
const CALLERS: usize = 32;
/// How often a drain checks whether the tenant's runs are all finished.
const DRAIN_POLL: Duration = Duration::from_millis(5);
/// How often a drain reports its progress on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A drain during which nothing moves for this long has stalled.
const STALL: Duration = Duration::from_secs(120);
/// Time given to freshly spawned workers to connect and LISTEN before a
/// measurement that needs them idle.
const WORKERS_SETTLE: Duration = Duration::from_millis(500);
/// Time for closed sessions to publish their statistics before they are read.
const STATS_SETTLE: Duration = Duration::from_secs(1);
/// Runs started one at a time to measure start-to-claim latency, and the
/// pause between them.
const LATENCY_RUNS: usize = 200;
const LATENCY_PAUSE: Duration = Duration::from_millis(20);
/// How long worker processes get to stop after SIGTERM (their default
/// shutdown grace is 20 s).
const PROCESS_STOP_WAIT: Duration = Duration::from_secs(30);
/// Environment the worker processes inherit; everything else is cleared so
/// they run with the same defaults as the in-process workers.
const PASSED_ENV: [&str; 3] = ["RUST_LOG", "OPSHUB_LOG_FORMAT", "HOSTNAME"];
/// Statements listed per profiled phase.
const TOP_STATEMENTS: i64 = 8;

/// Marks the bench's own SQL, which the profile leaves out.
macro_rules! marker {
    () => {
        "/* bench */"
    };
}
macro_rules! bench_sql {
    ($sql:literal) => {
        concat!(marker!(), " ", $sql)
    };
}
const MARKER: &str = marker!();

/// The measurements, any of which `--skip` leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// Starts, burn and end to end of tiny runs, per rep.
    Tiny,
    /// Items per second of one large run of each itemized kind.
    Items,
    /// Start-to-claim latency with idle workers.
    Latency,
    /// Tiny runs burned by worker processes.
    ScaleOut,
    /// Statements, WAL and row writes per tiny run (rep 1).
    Profile,
}

#[derive(clap::Args)]
pub struct EngineBench {
    /// Where worker processes connect; set by the caller.
    #[arg(skip)]
    pub database_url: String,
    /// Tiny runs per measurement.
    #[arg(long, default_value_t = 10_000)]
    pub runs: usize,
    /// Items of each large run (the inventory snapshot: at most as many as one
    /// inventory.sync accepts).
    #[arg(long, default_value_t = 100_000)]
    pub items: usize,
    /// Runs each worker process (or the bench's own workers) executes at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Most groups of small runs executing at once on the database (the
    /// workers' `--group-parallelism`), for the bench's own workers and the
    /// worker processes alike.
    #[arg(long, default_value_t = WorkerConfig::default().group_parallelism as u16,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub group_parallelism: u16,
    /// Times the tiny-run, large-run and scale-out measurements are repeated on the
    /// same database.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Worker process counts of the scale-out measurement.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub processes: Vec<usize>,
    /// Measurements to leave out.
    #[arg(long, value_delimiter = ',', value_enum)]
    skip: Vec<Part>,
}

impl EngineBench {
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.runs >= 1, "--runs must be at least 1");
        anyhow::ensure!(
            (1..=backup_add_policies::MAX_POLICIES).contains(&self.items),
            "--items is between 1 and {} (one run's limit)",
            backup_add_policies::MAX_POLICIES
        );
        anyhow::ensure!(self.concurrency >= 1, "--concurrency must be at least 1");
        anyhow::ensure!(self.reps >= 1, "--reps must be at least 1");
        anyhow::ensure!(
            !self.wants(Part::ScaleOut)
                || (!self.processes.is_empty() && self.processes.iter().all(|&n| n >= 1)),
            "--processes lists worker process counts of at least 1"
        );
        Ok(())
    }

    fn wants(&self, part: Part) -> bool {
        !self.skip.contains(&part)
    }

    fn worker_connections(&self) -> usize {
        self.concurrency + crate::engine::worker::SPARE_CONNECTIONS as usize
    }
}

/// Runs the measurements `opts` asks for and returns the Markdown report.
/// `pool` carries the bench's own queries (setup, polling, checks); callers
/// and workers get connections of their own.
pub async fn run_engine(pool: &PgPool, opts: EngineBench) -> anyhow::Result<String> {
    opts.check()?;
    let bench = Bench {
        control: pool.clone(),
        opts,
    };
    bench.check_connection_limit().await?;
    let mut report = bench.header().await?;
    let mut summary = Summary::default();
    if bench.opts.wants(Part::Tiny) {
        report += &bench.tiny(&mut summary).await?;
    }
    if bench.opts.wants(Part::Items) {
        report += &bench.items(&mut summary).await?;
    }
    if bench.opts.wants(Part::Latency) {
        report += &bench.latency().await?;
    }
    if bench.opts.wants(Part::ScaleOut) {
        report += &bench.scale_out(&mut summary).await?;
    }
    report += &summary.markdown();
    Ok(report)
}

struct Bench {
    control: PgPool,
    opts: EngineBench,
}

/// A fresh tenant with an operator, a backup set and `policy_ids` policies.
struct Tenant {
    id: i64,
    user_id: i64,
    backup_set_id: i64,
    policy_ids: Vec<i64>,
}

/// Rates of one rep of tiny runs, per second.
struct TinyRep {
    starts: f64,
    burn: f64,
    /// The machine's busy CPU time in the burn window, ms per 1,000 runs.
    burn_cpu: Option<f64>,
    end_to_end: f64,
}

impl Bench {
    /// Fails before measuring anything when the most connections one
    /// measurement holds would exceed the server's limit.
    async fn check_connection_limit(&self) -> anyhow::Result<()> {
        let limit: i64 = sqlx::query_scalar(bench_sql!(
            "SELECT current_setting('max_connections')::bigint"
        ))
        .fetch_one(&self.control)
        .await?;
        let workers = self.opts.worker_connections();
        let processes = if self.opts.wants(Part::ScaleOut) {
            self.opts.processes.iter().copied().max().unwrap_or(1)
        } else {
            1
        };
        let control = self.control.options().get_max_connections() as usize;
        let needed = control + (CALLERS + workers).max(processes * workers);
        anyhow::ensure!(
            needed as i64 <= limit,
            "this benchmark may hold {needed} connections but the server allows {limit}: \
             raise max_connections, or lower --processes or --concurrency"
        );
        Ok(())
    }

    /// What was measured where.
    async fn header(&self) -> anyhow::Result<String> {
        let names = [
            "server_version",
            "fsync",
            "synchronous_commit",
            "shared_buffers",
            "max_connections",
        ];
        let settings: Vec<(String, String)> = sqlx::query_as(bench_sql!(
            "SELECT n, current_setting(n) FROM unnest($1::text[]) AS n"
        ))
        .bind(&names[..])
        .fetch_all(&self.control)
        .await?;
        let settings: Vec<String> = settings
            .iter()
            .map(|(n, v)| match n.as_str() {
                "server_version" => format!("Postgres {v}"),
                _ => format!("{n}={v}"),
            })
            .collect();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let o = &self.opts;
        Ok(format!(
            "## opshub engine benchmark\n\n\
             {}; {cpus} CPUs shared by the bench, its workers and Postgres.\n\
             Tiny run: `backup_set.add_policies` of one policy (start → claim → complete, with audit \
             entries, both notifications and live events). {} tiny runs per measurement, started by \
             {CALLERS} callers; worker concurrency {} per process, at most {} groups of small runs at \
             once on the database; reps of the tiny runs, the large runs and the scale-out: {}.\n\n",
            settings.join(", "),
            o.runs,
            o.concurrency,
            o.group_parallelism,
            o.reps,
        ))
    }

    /// Tiny runs, `reps` times on the same database; the first rep's phases
    /// are profiled when the server allows it.
    async fn tiny(&self, summary: &mut Summary) -> anyhow::Result<String> {
        let profiler = if self.opts.wants(Part::Profile) {
            Profiler::open(&self.control).await
        } else {
            Err("left out (--skip profile)".into())
        };
        let mut reps = Vec::new();
        let mut profiles = None;
        for rep in 1..=self.opts.reps {
            let profiler = profiler.as_ref().ok().filter(|_| rep == 1);
            let (rates, profiled) = self.tiny_rep(rep, profiler).await?;
            eprintln!(
                "rep {rep}: starts {:.0}/s, burn {:.0} runs/s, end to end {:.0} runs/s",
                rates.starts, rates.burn, rates.end_to_end
            );
            reps.push(rates);
            profiles = profiles.or(profiled);
        }
        let c = self.opts.concurrency;
        summary.add(
            format!("start, {CALLERS} callers"),
            reps.iter().map(|r| r.starts).collect(),
        );
        summary.add(
            format!("burn c{c} (tiny runs)"),
            reps.iter().map(|r| r.burn).collect(),
        );
        summary.add(
            format!("end-to-end c{c} (tiny runs)"),
            reps.iter().map(|r| r.end_to_end).collect(),
        );
        let mut out = tiny_table(&reps, self.opts.runs, c);
        match (profiles, profiler) {
            (Some([start, burn]), _) => out += &profile_markdown(&start, &burn, self.opts.runs),
            (None, Err(why)) => {
                let _ = writeln!(out, "Profile unavailable: {why}.\n");
            }
            (None, Ok(_)) => {}
        }
        Ok(out)
    }

    /// One rep: the backlog's starts with no worker running, its burn by
    /// workers started on it, then end to end (started while workers run).
    async fn tiny_rep(
        &self,
        rep: usize,
        profiler: Option<&Profiler>,
    ) -> anyhow::Result<(TinyRep, Option<[Profile; 2]>)> {
        let n = self.opts.runs;
        eprintln!("rep {rep}: starting {n} tiny runs, no workers");
        let backlog = self.new_tenant(n).await?;
        let (starts, start_profile) = profiled(profiler, self.start_tiny_runs(&backlog)).await?;
        self.settle().await?;
        eprintln!("rep {rep}: burning the backlog");
        let busy = BusyCpu::start();
        let (burn, burn_profile) = profiled(profiler, self.burn(&backlog)).await?;
        let burn_cpu = busy.ms_per_thousand(n);
        self.verify_tiny_runs(&backlog).await?;

        eprintln!("rep {rep}: end to end, workers running");
        let fresh = self.new_tenant(n).await?;
        let workers = self.spawn_workers().await?;
        tokio::time::sleep(WORKERS_SETTLE).await;
        let began = Instant::now();
        self.start_tiny_runs(&fresh).await?;
        self.wait_drained(&fresh).await?;
        let end_to_end = began.elapsed();
        workers.stop().await;
        self.verify_tiny_runs(&fresh).await?;

        let rate = |took: Duration| n as f64 / took.as_secs_f64();
        let rates = TinyRep {
            starts: rate(starts),
            burn: rate(burn),
            burn_cpu,
            end_to_end: rate(end_to_end),
        };
        let profiles = start_profile.zip(burn_profile).map(|(s, b)| [s, b]);
        Ok((rates, profiles))
    }

    /// Between starting a backlog and burning it, not timed: the peers'
    /// protocol analyzes the job table here (after truncating it before
    /// each rep). opshub keeps every earlier run, as the burn must hold while
    /// they accumulate, so it vacuums what earlier phases left as well as
    /// analyzing: otherwise autovacuum lands inside a timed window at random
    /// (after the items phase, on 200,000 fresh rows).
    ///
    /// Then a checkpoint, for the same reason: one started by the WAL
    /// written so far (`max_wal_size`) or by its timer landed inside a
    /// window at random and made every page's first change after it write
    /// the whole page to the WAL. After this one, every window starts at the
    /// same point of the checkpoint cycle. It needs the right to run
    /// CHECKPOINT (a superuser or `pg_checkpoint`); without it the bench says
    /// so and goes on.
    async fn settle(&self) -> anyhow::Result<()> {
        sqlx::query(bench_sql!("VACUUM (ANALYZE)"))
            .execute(&self.control)
            .await?;
        if let Err(err) = sqlx::query(bench_sql!("CHECKPOINT"))
            .execute(&self.control)
            .await
        {
            eprintln!("no checkpoint before the timed window: {err}");
        }
        Ok(())
    }

    /// Starts workers on the tenant's backlog and times them until every
    /// run is finished; the workers' startup is inside the window.
    async fn burn(&self, tenant: &Tenant) -> anyhow::Result<Duration> {
        let began = Instant::now();
        let workers = self.spawn_workers().await?;
        self.wait_drained(tenant).await?;
        let took = began.elapsed();
        workers.stop().await;
        Ok(took)
    }

    /// One large run of each itemized kind, on idle workers; items per
    /// second between the run's started_at and finished_at (DB clock).
    async fn items(&self, summary: &mut Summary) -> anyhow::Result<String> {
        let items = self.opts.items;
        let entries = items.min(inventory_sync::MAX_POLICIES);
        let add = LargeRun {
            label: "backup_set.add_policies",
            items,
        };
        let sync = LargeRun {
            label: "inventory.sync",
            items: entries,
        };
        let mut out = String::from(
            "### Items of one large run\n\n\
             | run | rep | items | start s | claim → end s | items/s |\n|---|---:|---:|---:|---:|---:|\n",
        );
        // One large run lasts a second or two, within a shared machine's noise: each
        // rep measures both runs anew, in fresh tenants.
        let mut rates = [Vec::new(), Vec::new()];
        for rep in 1..=self.opts.reps {
            let policies = self.new_tenant(items).await?;
            let inventory = self.new_tenant(0).await?;
            self.settle().await?;
            let workers = self.spawn_workers().await?;
            eprintln!("items, rep {rep}: one backup_set.add_policies of {items} policies");
            let add_took = add
                .measure(self, &policies, add_policies(&policies))
                .await?;
            eprintln!("items, rep {rep}: one inventory.sync of a {entries}-entry snapshot");
            let sync_took = sync
                .measure(self, &inventory, inventory_snapshot(&inventory, entries))
                .await?;
            workers.stop().await;
            for (rates, (run, took)) in rates.iter_mut().zip([(&add, add_took), (&sync, sync_took)])
            {
                let rate = run.items as f64 / took.running.max(1e-6);
                let _ = writeln!(
                    out,
                    "| `{}` | {rep} | {} | {:.2} | {:.2} | {rate:.0} |",
                    run.label,
                    run.items,
                    took.start.as_secs_f64(),
                    took.running
                );
                rates.push(rate);
            }
        }
        let [add_rates, sync_rates] = rates;
        summary.add(format!("items {}", add.label), add_rates);
        summary.add(format!("items {}", sync.label), sync_rates);
        if entries < items {
            let _ = writeln!(
                out,
                "\nThe snapshot holds {entries} entries, the most one inventory.sync accepts."
            );
        }
        out.push('\n');
        Ok(out)
    }

    /// Start-to-claim latency with idle workers: runs started one at a
    /// time, measured on the database clock (started_at − created_at) and
    /// on the client's (from `engine::start` returning to the claim being
    /// visible, polled every millisecond).
    async fn latency(&self) -> anyhow::Result<String> {
        eprintln!("latency: {LATENCY_RUNS} runs started one at a time, idle workers");
        let tenant = self.new_tenant(LATENCY_RUNS).await?;
        let workers = self.spawn_workers().await?;
        tokio::time::sleep(WORKERS_SETTLE).await;
        let mut client = Vec::with_capacity(LATENCY_RUNS);
        for &policy in &tenant.policy_ids {
            let started = engine::start(&self.control, tiny_run(&tenant, policy))
                .await
                .context("starting a run")?;
            let returned = Instant::now();
            self.wait_claimed(&tenant, started.run_id).await?;
            client.push(returned.elapsed().as_secs_f64() * 1e3);
            tokio::time::sleep(LATENCY_PAUSE).await;
        }
        self.wait_drained(&tenant).await?;
        workers.stop().await;
        let server: Vec<f64> = sqlx::query_scalar(bench_sql!(
            "SELECT extract(epoch FROM started_at - created_at)::float8 * 1000 \
             FROM bulk_operation_runs WHERE tenant_id = $1"
        ))
        .bind(tenant.id)
        .fetch_all(&self.control)
        .await?;
        let row = |what: &str, samples: Vec<f64>| {
            let p = Percentiles::of(samples);
            format!("| {what} | {:.1} | {:.1} | {:.1} |\n", p.p50, p.p99, p.max)
        };
        Ok(format!(
            "### Start-to-claim latency, idle workers ({LATENCY_RUNS} runs, one every ~{} ms)\n\n\
             | measured | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|\n{}{}\n",
            LATENCY_PAUSE.as_millis(),
            row("database: started_at − created_at", server),
            row("client: start returned → claim visible", client),
        ))
    }

    /// For each process count, `reps` times: a backlog of tiny runs burned
    /// by that many `opshub worker` processes started on it (cold: their
    /// startup and every new connection's first statements inside the
    /// window), then a second backlog burned by the same processes, warm
    /// and idle, released to them at once. Each rep takes the counts in
    /// another order (rotated by one), so no count always measures on the
    /// largest table or right after the same neighbour.
    async fn scale_out(&self, summary: &mut Summary) -> anyhow::Result<String> {
        let c = self.opts.concurrency;
        let mut out = format!(
            "### Scale-out: {} tiny runs burned by `opshub worker` processes\n\n\
             Each rep measures every process count once, in an order rotated by one per rep: \
             a backlog burned by processes started on it (cold), then another by the same \
             processes, idle, released to them at once (warm).\n\n\
             The last column is the CPU time the whole machine (Postgres, the workers, the bench) \
             spent per 1,000 runs in the warm window.\n\n\
             | rep | processes | concurrency each | cold seconds | cold runs/s | warm seconds | warm runs/s | warm CPU ms per 1,000 runs |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|\n",
            self.opts.runs
        );
        let counts = &self.opts.processes;
        let mut cold_rates = vec![Vec::new(); counts.len()];
        let mut warm_rates = vec![Vec::new(); counts.len()];
        for rep in 1..=self.opts.reps {
            for i in (0..counts.len()).map(|i| (i + rep - 1) % counts.len()) {
                let processes = counts[i];
                let label = processes_label(processes);
                eprintln!("scale-out, rep {rep}: {} runs, {label}", self.opts.runs);
                let took = self.burn_by_processes(processes).await?;
                let cold = self.opts.runs as f64 / took.cold;
                let warm = self.opts.runs as f64 / took.warm;
                eprintln!(
                    "scale-out, rep {rep}: {label}, cold {cold:.0} runs/s, warm {warm:.0} runs/s"
                );
                let cpu = cpu_cell(took.warm_cpu);
                let _ = writeln!(
                    out,
                    "| {rep} | {processes} | {c} | {:.2} | {cold:.0} | {:.2} | {warm:.0} | {cpu} |",
                    took.cold, took.warm
                );
                cold_rates[i].push(cold);
                warm_rates[i].push(warm);
            }
        }
        for ((&processes, cold), warm) in counts.iter().zip(cold_rates).zip(warm_rates) {
            let label = processes_label(processes);
            summary.add(format!("burn c{c}, {label}, warm"), warm);
            summary.add(format!("burn c{c}, {label}, started in the window"), cold);
        }
        out.push('\n');
        Ok(out)
    }

    /// Seconds `processes` worker processes take to burn a backlog of tiny
    /// runs they were started on, and then a second backlog, started while
    /// claims were held back (behind the advisory lock claims take turns
    /// on) and released at once.
    async fn burn_by_processes(&self, processes: usize) -> anyhow::Result<ScaleOutRep> {
        let first = self.new_tenant(self.opts.runs).await?;
        self.start_tiny_runs(&first).await?;
        self.settle().await?;
        let began = Instant::now();
        let children = WorkerProcesses::spawn(&self.opts, processes)?;
        let burned = async {
            self.wait_drained(&first).await?;
            let cold = began.elapsed().as_secs_f64();
            let second = self.new_tenant(self.opts.runs).await?;
            let gate = ClaimsHeld::hold(&self.opts.database_url).await?;
            self.start_tiny_runs(&second).await?;
            self.settle().await?;
            eprintln!("scale-out: the second backlog released to the warm processes");
            let busy = BusyCpu::start();
            let began = Instant::now();
            gate.release().await?;
            self.wait_drained(&second).await?;
            let warm = began.elapsed().as_secs_f64();
            let warm_cpu = busy.ms_per_thousand(self.opts.runs);
            anyhow::Ok((
                ScaleOutRep {
                    cold,
                    warm,
                    warm_cpu,
                },
                second,
            ))
        }
        .await;
        children.stop().await?;
        let (took, second) = burned?;
        self.verify_tiny_runs(&first).await?;
        self.verify_tiny_runs(&second).await?;
        Ok(took)
    }

    /// A tenant with an operator, a backup set and `policies` policies,
    /// written on one connection whose statistics are then published, so
    /// they cannot land in a profiled window.
    async fn new_tenant(&self, policies: usize) -> anyhow::Result<Tenant> {
        let tag = super::new_tag();
        let mut conn = self.control.acquire().await?;
        let id: i64 = sqlx::query_scalar(bench_sql!(
            "INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING id"
        ))
        .bind(format!("bench-{tag}"))
        .bind(format!("Benchmark {tag}"))
        .fetch_one(&mut *conn)
        .await?;
        let user_id: i64 = sqlx::query_scalar(bench_sql!(
            "INSERT INTO users (name, email, password_hash) VALUES ('Bench', $1, '!') RETURNING id"
        ))
        .bind(format!("bench-{tag}@opshub.invalid"))
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query(bench_sql!(
            "INSERT INTO tenant_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'operator')"
        ))
        .bind(id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
        let backup_set_id: i64 = sqlx::query_scalar(bench_sql!(
            "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'Benchmark') RETURNING id"
        ))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let policy_ids: Vec<i64> = sqlx::query_scalar(bench_sql!(
            "INSERT INTO policies (tenant_id, external_id, policy_type, display_name, settings, settings_hash) \
             SELECT $1, 'bench-' || g, 'configuration_policy', 'Bench policy ' || g, \
                    jsonb_build_object('n', g, 'enabled', true), md5(g::text) \
             FROM generate_series(1, $2) g RETURNING id"
        ))
        .bind(id)
        .bind(policies as i32)
        .fetch_all(&mut *conn)
        .await?;
        publish_stats(&mut conn).await;
        Ok(Tenant {
            id,
            user_id,
            backup_set_id,
            policy_ids,
        })
    }

    /// Starts one tiny run per policy of the tenant through `engine::start`,
    /// from CALLERS concurrent callers on connections opened beforehand;
    /// returns how long the starts took. Closing the callers' connections
    /// afterwards publishes their statistics.
    async fn start_tiny_runs(&self, tenant: &Tenant) -> anyhow::Result<Duration> {
        let pool = crate::db::connect(&self.opts.database_url, CALLERS as u32).await?;
        let warm = futures_util::future::try_join_all((0..CALLERS).map(|_| pool.acquire())).await?;
        drop(warm);
        let began = Instant::now();
        let per_caller = tenant.policy_ids.len().div_ceil(CALLERS).max(1);
        let mut callers = tokio::task::JoinSet::new();
        for chunk in tenant.policy_ids.chunks(per_caller) {
            let requests: Vec<StartRequest> = chunk.iter().map(|&p| tiny_run(tenant, p)).collect();
            let pool = pool.clone();
            callers.spawn(async move {
                for req in requests {
                    let started = engine::start(&pool, req).await.context("starting a run")?;
                    anyhow::ensure!(!started.deduplicated, "a tiny run was deduplicated");
                }
                anyhow::Ok(())
            });
        }
        while let Some(caller) = callers.join_next().await {
            caller??;
        }
        let took = began.elapsed();
        pool.close().await;
        Ok(took)
    }

    async fn spawn_workers(&self) -> anyhow::Result<Workers> {
        let pool = crate::db::connect_engine(
            &self.opts.database_url,
            self.opts.worker_connections() as u32,
        )
        .await?;
        let config = WorkerConfig {
            concurrency: self.opts.concurrency,
            group_parallelism: self.opts.group_parallelism.into(),
            ..WorkerConfig::default()
        };
        let workers = WorkerPool::spawn(pool.clone(), config);
        Ok(Workers { pool, workers })
    }

    /// Waits until none of the tenant's runs is pending or running, checking
    /// every DRAIN_POLL; fails when nothing moves for STALL.
    async fn wait_drained(&self, tenant: &Tenant) -> anyhow::Result<()> {
        let active = [RunStatus::Pending.as_str(), RunStatus::Running.as_str()];
        let mut last = (i64::MAX, i64::MIN);
        let mut moved = Instant::now();
        let mut report = Instant::now() + PROGRESS_EVERY;
        loop {
            // Each probe reads one entry of the pending or the running
            // index: an EXISTS over both statuses was planned as a scan of
            // the table, which the burn's finished runs made slower with
            // every poll and every rep.
            let busy: bool = sqlx::query_scalar(bench_sql!(
                "SELECT (SELECT id FROM bulk_operation_runs WHERE tenant_id = $1 AND status = 'pending' \
                         ORDER BY created_at, id LIMIT 1) IS NOT NULL \
                     OR (SELECT id FROM bulk_operation_runs WHERE tenant_id = $1 AND status = 'running' \
                         ORDER BY id LIMIT 1) IS NOT NULL"
            ))
            .bind(tenant.id)
            .fetch_one(&self.control)
            .await?;
            if !busy {
                return Ok(());
            }
            if Instant::now() >= report {
                report += PROGRESS_EVERY;
                // Active runs and items processed: either moving is progress.
                let now: (i64, i64) = sqlx::query_as(bench_sql!(
                    "SELECT count(*) FILTER (WHERE status = ANY($2)), coalesce(sum(processed_items), 0)::bigint \
                     FROM bulk_operation_runs WHERE tenant_id = $1"
                ))
                .bind(tenant.id)
                .bind(&active[..])
                .fetch_one(&self.control)
                .await?;
                eprintln!("  {} runs active, {} items processed", now.0, now.1);
                if now != last {
                    (last, moved) = (now, Instant::now());
                }
                anyhow::ensure!(
                    moved.elapsed() < STALL,
                    "stalled: {} runs still active and nothing moved for {STALL:?}",
                    now.0
                );
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Waits until the run has been claimed (polled every millisecond).
    async fn wait_claimed(&self, tenant: &Tenant, run_id: i64) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let claimed: bool = sqlx::query_scalar(bench_sql!(
                "SELECT started_at IS NOT NULL FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(tenant.id)
            .bind(run_id)
            .fetch_one(&self.control)
            .await?;
            if claimed {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < until,
                "run {run_id} was not claimed within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Every run of the tenant completed, with exactly one started and one
    /// finished audit entry and exactly one queued and one completed
    /// notification.
    async fn verify_tiny_runs(&self, tenant: &Tenant) -> anyhow::Result<()> {
        // The grouped counts are estimated at a few hundred rows; a nested
        // loop over them would take minutes on a table of tens of thousands.
        let mut tx = crate::db::begin(&self.control).await?;
        sqlx::query("SET LOCAL enable_nestloop = off")
            .execute(&mut *tx)
            .await?;
        let (runs, completed, audited, notified): (i64, i64, i64, i64) =
            sqlx::query_as(bench_sql!(
                "WITH audits AS ( \
                     SELECT subject_id AS id, count(*) FILTER (WHERE action = $2) AS started, \
                            count(*) FILTER (WHERE action = $3) AS finished \
                     FROM audit_logs WHERE tenant_id = $1 AND subject_type = 'bulk_operation_run' \
                     GROUP BY subject_id), \
                 notes AS ( \
                     SELECT (data -> 'run' ->> 'id')::bigint AS id, count(*) FILTER (WHERE type = $4) AS queued, \
                            count(*) FILTER (WHERE type = $5) AS completed, count(*) AS total \
                     FROM notifications WHERE tenant_id = $1 GROUP BY 1) \
                 SELECT count(*), count(*) FILTER (WHERE r.status = $6), \
                        count(*) FILTER (WHERE a.started = 1 AND a.finished = 1), \
                        count(*) FILTER (WHERE n.queued = 1 AND n.completed = 1 AND n.total = 2) \
                 FROM bulk_operation_runs r LEFT JOIN audits a ON a.id = r.id LEFT JOIN notes n ON n.id = r.id \
                 WHERE r.tenant_id = $1"
            ))
            .bind(tenant.id)
            .bind(RunAuditAction::Started.as_str())
            .bind(RunAuditAction::Finished.as_str())
            .bind(RUN_QUEUED)
            .bind(RUN_COMPLETED)
            .bind(RunStatus::Completed.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let expected = tenant.policy_ids.len() as i64;
        anyhow::ensure!(
            (runs, completed, audited, notified) == (expected, expected, expected, expected),
            "of {expected} tiny runs, {runs} exist, {completed} completed, {audited} have their two audit \
             entries and {notified} their two notifications"
        );
        Ok(())
    }
}

/// A tiny run: adds one policy to the tenant's backup set.
fn tiny_run(tenant: &Tenant, policy_id: i64) -> StartRequest {
    StartRequest {
        tenant_id: tenant.id,
        user_id: tenant.user_id,
        kind: OperationKind::BackupSetAddPolicies,
        scope: json!({"backup_set_id": tenant.backup_set_id, "policy_ids": [policy_id]}),
        payload: None,
    }
}

/// Adds all the tenant's policies to its backup set in one run.
fn add_policies(tenant: &Tenant) -> StartRequest {
    StartRequest {
        tenant_id: tenant.id,
        user_id: tenant.user_id,
        kind: OperationKind::BackupSetAddPolicies,
        scope: json!({"backup_set_id": tenant.backup_set_id, "policy_ids": &tenant.policy_ids}),
        payload: None,
    }
}

/// Imports a snapshot of `entries` new policies, as `opshub import-inventory` does.
fn inventory_snapshot(tenant: &Tenant, entries: usize) -> StartRequest {
    let policies: Vec<Value> = (1..=entries)
        .map(|i| {
            json!({
                "external_id": format!("bench-sync-{i}"),
                "policy_type": "configuration_policy",
                "display_name": format!("Bench synced policy {i}"),
                "settings": {"n": i, "enabled": true},
            })
        })
        .collect();
    StartRequest {
        tenant_id: tenant.id,
        user_id: tenant.user_id,
        kind: OperationKind::InventorySync,
        scope: json!({"source": "bench-snapshot.json"}),
        payload: Some(json!({"selection": {"bench": true}, "policies": policies})),
    }
}

/// One large run whose every item must succeed.
struct LargeRun {
    label: &'static str,
    items: usize,
}

struct LargeRunTimes {
    /// `engine::start` (validation and the run's row), client clock.
    start: Duration,
    /// started_at → finished_at, seconds on the database clock.
    running: f64,
}

impl LargeRun {
    async fn measure(
        &self,
        bench: &Bench,
        tenant: &Tenant,
        req: StartRequest,
    ) -> anyhow::Result<LargeRunTimes> {
        let began = Instant::now();
        let started = engine::start(&bench.control, req)
            .await
            .with_context(|| format!("starting {}", self.label))?;
        let start = began.elapsed();
        bench.wait_drained(tenant).await?;
        let (running, succeeded): (f64, i32) = sqlx::query_as(bench_sql!(
            "SELECT extract(epoch FROM finished_at - started_at)::float8, succeeded \
             FROM bulk_operation_runs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.id)
        .bind(started.run_id)
        .fetch_one(&bench.control)
        .await?;
        anyhow::ensure!(
            succeeded as usize == self.items,
            "{} succeeded for {succeeded} of {} items",
            self.label,
            self.items
        );
        Ok(LargeRunTimes { start, running })
    }
}

/// The bench's in-process workers, on connections of their own.
struct Workers {
    pool: PgPool,
    workers: WorkerPool,
}

impl Workers {
    /// Stops the workers and closes their connections, whose sessions then
    /// publish their statistics.
    async fn stop(self) {
        self.workers.shutdown().await;
        self.pool.close().await;
    }
}

/// "1 worker process", "4 worker processes".
fn processes_label(processes: usize) -> String {
    match processes {
        1 => "1 worker process".to_string(),
        n => format!("{n} worker processes"),
    }
}

/// Seconds of one scale-out measurement.
struct ScaleOutRep {
    /// The processes started on the backlog, inside the window.
    cold: f64,
    /// The same processes, idle, on a backlog released to them at once.
    warm: f64,
    /// The machine's busy CPU time in the warm window, ms per 1,000 runs.
    warm_cpu: Option<f64>,
}

/// The whole machine's busy CPU time (Postgres, the workers and the bench)
/// from `start` on, when the system tells.
struct BusyCpu(Option<f64>);

impl BusyCpu {
    fn start() -> BusyCpu {
        BusyCpu(busy_cpu_seconds())
    }

    /// Milliseconds busy since `start`, per 1,000 of `runs`.
    fn ms_per_thousand(self, runs: usize) -> Option<f64> {
        let busy = busy_cpu_seconds()? - self.0?;
        Some(busy * 1000.0 / (runs as f64 / 1000.0))
    }
}

/// A table cell of [`BusyCpu::ms_per_thousand`].
fn cpu_cell(ms: Option<f64>) -> String {
    ms.map_or("—".to_string(), |ms| format!("{ms:.0}"))
}

/// CPU seconds this machine has been busy since boot, all CPUs together
/// (`/proc/stat`: user, nice, system, irq and softirq time; idle, I/O wait
/// and time stolen by the hypervisor left out). None off Linux.
fn busy_cpu_seconds() -> Option<f64> {
    /// `/proc/stat` counts in USER_HZ, 100 per second on Linux.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    Some(busy_ticks(&stat)? as f64 / TICKS_PER_SECOND)
}

/// The busy ticks of the all-CPUs line of `/proc/stat`.
fn busy_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let busy = [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| fields.get(i).copied())
        .sum::<Option<u64>>()?;
    Some(busy)
}

/// Every claim held back: a connection of its own holding the advisory
/// lock claims take turns on, so a backlog can be started untimed and
/// released to idle workers at once.
struct ClaimsHeld(PgConnection);

impl ClaimsHeld {
    async fn hold(database_url: &str) -> anyhow::Result<ClaimsHeld> {
        use sqlx::Connection as _;
        let mut conn = PgConnection::connect(database_url).await?;
        engine::lifecycle::hold_claims(&mut conn).await?;
        Ok(ClaimsHeld(conn))
    }

    async fn release(self) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut conn = self.0;
        engine::lifecycle::release_claims(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }
}

/// `opshub worker` processes of this executable on the bench's database.
struct WorkerProcesses(Vec<tokio::process::Child>);

impl WorkerProcesses {
    /// Their log goes where this process's log goes (stderr).
    fn spawn(opts: &EngineBench, count: usize) -> anyhow::Result<WorkerProcesses> {
        let exe = std::env::current_exe().context("finding this program")?;
        let mut children = Vec::with_capacity(count);
        for _ in 0..count {
            let mut cmd = tokio::process::Command::new(&exe);
            cmd.arg("worker")
                .args(["--concurrency", &opts.concurrency.to_string()])
                .args(["--group-parallelism", &opts.group_parallelism.to_string()])
                .args([
                    "--db-max-connections",
                    &opts.worker_connections().to_string(),
                ])
                .env_clear()
                .env("DATABASE_URL", &opts.database_url)
                .stdin(Stdio::null())
                .kill_on_drop(true);
            for name in PASSED_ENV {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
            children.push(cmd.spawn().context("starting a worker process")?);
        }
        Ok(WorkerProcesses(children))
    }

    /// SIGTERM (their clean shutdown), then waits; kills any still running
    /// after PROCESS_STOP_WAIT.
    async fn stop(self) -> anyhow::Result<()> {
        for pid in self.0.iter().filter_map(|c| c.id()) {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await
                .context("signalling a worker process")?;
        }
        for mut child in self.0 {
            match tokio::time::timeout(PROCESS_STOP_WAIT, child.wait()).await {
                Ok(status) => {
                    let status = status?;
                    if !status.success() {
                        eprintln!("a worker process ended with {status}");
                    }
                }
                Err(_) => {
                    eprintln!(
                        "a worker process did not stop within {PROCESS_STOP_WAIT:?}; killing it"
                    );
                    child.kill().await?;
                }
            }
        }
        Ok(())
    }
}

/// Runs `work` inside a profiled window when a profiler is given.
async fn profiled<T>(
    profiler: Option<&Profiler>,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Option<Profile>)> {
    let Some(profiler) = profiler else {
        return Ok((work.await?, None));
    };
    let before = profiler.begin().await?;
    let value = work.await?;
    Ok((value, Some(profiler.end(before).await?)))
}

/// Makes this session's statistics visible at once (Postgres 15 and
/// later; older servers publish them within half a second).
async fn publish_stats(conn: &mut PgConnection) {
    let _ = sqlx::query(bench_sql!("SELECT pg_stat_force_next_flush()"))
        .execute(conn)
        .await;
}

/// Counts what the database does during a window, from
/// `pg_stat_statements`, `pg_stat_wal` and `pg_stat_user_tables`.
struct Profiler {
    pool: PgPool,
}

/// Row counters of every table at the start of a window.
type TableCounters = HashMap<String, RowCounts>;

#[derive(Clone, Copy, Default)]
struct RowCounts {
    inserted: i64,
    updated: i64,
    hot_updated: i64,
    indexes: i64,
}

/// One profiled window.
struct Profile {
    statements: i64,
    statement_ms: f64,
    wal_bytes: i64,
    wal_records: i64,
    wal_fpi: i64,
    /// Tables written during the window, by name, with the window's counts.
    tables: Vec<(String, RowCounts)>,
    /// Most frequent statements: text, calls, mean ms.
    top: Vec<(String, i64, f64)>,
}

/// What `Profile::figures` holds, and the decimals each is shown with.
const FIGURES: [(&str, usize); 5] = [
    ("statements executed", 1),
    ("statement time, ms", 3),
    ("WAL bytes", 0),
    ("WAL records", 1),
    ("WAL full-page images", 2),
];

impl Profile {
    /// The window's totals, in the order of FIGURES.
    fn figures(&self) -> [f64; 5] {
        [
            self.statements as f64,
            self.statement_ms,
            self.wal_bytes as f64,
            self.wal_records as f64,
            self.wal_fpi as f64,
        ]
    }
}

impl Profiler {
    /// Available when `pg_stat_statements` is in shared_preload_libraries;
    /// otherwise says why not.
    async fn open(pool: &PgPool) -> Result<Profiler, String> {
        let checks = [
            bench_sql!("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"),
            bench_sql!("SELECT count(*) FROM pg_stat_statements"),
            bench_sql!("SELECT wal_bytes FROM pg_stat_wal"),
        ];
        for sql in checks {
            sqlx::query(sql)
                .execute(pool)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(Profiler { pool: pool.clone() })
    }

    /// Resets the statement and WAL counters and reads the row counters,
    /// once the sessions that worked before have published their statistics.
    async fn begin(&self) -> anyhow::Result<TableCounters> {
        tokio::time::sleep(STATS_SETTLE).await;
        sqlx::query(bench_sql!("SELECT pg_stat_statements_reset()"))
            .execute(&self.pool)
            .await?;
        sqlx::query(bench_sql!("SELECT pg_stat_reset_shared('wal')"))
            .execute(&self.pool)
            .await?;
        self.table_counters().await
    }

    /// What happened since `begin`, leaving out the bench's own statements.
    async fn end(&self, before: TableCounters) -> anyhow::Result<Profile> {
        tokio::time::sleep(STATS_SETTLE).await;
        let (statements, statement_ms): (i64, f64) = sqlx::query_as(bench_sql!(
            "SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8 \
             FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND strpos(query, $1) = 0"
        ))
        .bind(MARKER)
        .fetch_one(&self.pool)
        .await?;
        let top: Vec<(String, i64, f64)> = sqlx::query_as(bench_sql!(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 80), calls, mean_exec_time \
             FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND strpos(query, $1) = 0 \
             ORDER BY calls DESC, total_exec_time DESC LIMIT $2"
        ))
        .bind(MARKER)
        .bind(TOP_STATEMENTS)
        .fetch_all(&self.pool)
        .await?;
        let (wal_bytes, wal_records, wal_fpi): (i64, i64, i64) = sqlx::query_as(bench_sql!(
            "SELECT wal_bytes::bigint, wal_records, wal_fpi FROM pg_stat_wal"
        ))
        .fetch_one(&self.pool)
        .await?;
        let mut tables: Vec<(String, RowCounts)> = self
            .table_counters()
            .await?
            .into_iter()
            .map(|(name, after)| {
                let was = before.get(&name).copied().unwrap_or_default();
                let delta = RowCounts {
                    inserted: after.inserted - was.inserted,
                    updated: after.updated - was.updated,
                    hot_updated: after.hot_updated - was.hot_updated,
                    indexes: after.indexes,
                };
                (name, delta)
            })
            .filter(|(_, d)| d.inserted + d.updated > 0)
            .collect();
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Profile {
            statements,
            statement_ms,
            wal_bytes,
            wal_records,
            wal_fpi,
            tables,
            top,
        })
    }

    async fn table_counters(&self) -> anyhow::Result<TableCounters> {
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(bench_sql!(
            "SELECT t.relname::text, t.n_tup_ins, t.n_tup_upd, t.n_tup_hot_upd, \
                    (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid) \
             FROM pg_stat_user_tables t"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, inserted, updated, hot_updated, indexes)| {
                let counts = RowCounts {
                    inserted,
                    updated,
                    hot_updated,
                    indexes,
                };
                (name, counts)
            })
            .collect())
    }
}

/// The profile of rep 1, per tiny run.
fn profile_markdown(start: &Profile, burn: &Profile, runs: usize) -> String {
    let per = |v: f64| v / runs as f64;
    let mut out = format!(
        "### What one tiny run costs (rep 1, {runs} runs; the bench's own queries left out)\n\n\
         | per tiny run | start | burn | total |\n|---|---:|---:|---:|\n"
    );
    let (start_figures, burn_figures) = (start.figures(), burn.figures());
    for (i, (what, digits)) in FIGURES.into_iter().enumerate() {
        let (s, b) = (per(start_figures[i]), per(burn_figures[i]));
        let _ = writeln!(
            out,
            "| {what} | {s:.digits$} | {b:.digits$} | {:.digits$} |",
            s + b
        );
    }
    out += "\nRows written per tiny run (index entries: inserts and non-HOT updates × the table's \
            indexes, an upper bound where indexes are partial):\n\n\
            | phase | table | inserts | updates | of them HOT | indexes | index entries |\n\
            |---|---|---:|---:|---:|---:|---:|\n";
    for (phase, profile) in [("start", start), ("burn", burn)] {
        for (table, d) in &profile.tables {
            let entries = (d.inserted + d.updated - d.hot_updated) * d.indexes;
            let _ = writeln!(
                out,
                "| {phase} | {table} | {:.2} | {:.2} | {:.2} | {} | {:.2} |",
                per(d.inserted as f64),
                per(d.updated as f64),
                per(d.hot_updated as f64),
                d.indexes,
                per(entries as f64)
            );
        }
    }
    let _ = write!(
        out,
        "\nMost frequent statements ({TOP_STATEMENTS} per phase):\n\n\
         | phase | statement | calls per run | mean ms |\n|---|---|---:|---:|\n"
    );
    for (phase, profile) in [("start", start), ("burn", burn)] {
        for (query, calls, mean) in &profile.top {
            let query = query.replace('|', "\\|");
            let _ = writeln!(
                out,
                "| {phase} | `{query}` | {:.2} | {mean:.3} |",
                per(*calls as f64)
            );
        }
    }
    out.push('\n');
    out
}

/// Per-rep rates and their fall from the first rep to the last.
fn tiny_table(reps: &[TinyRep], runs: usize, concurrency: usize) -> String {
    let mut out = format!(
        "### Tiny runs ({runs} per measurement, {CALLERS} callers, worker concurrency {concurrency})\n\n\
         starts: no worker running; burn: workers started on that backlog (their startup inside \
         the window) until all are finished; end to end: started while workers run. \
         Burn CPU: the time the whole machine (Postgres, the workers, the bench) was busy in the \
         burn window, per 1,000 runs: a slower rep that cost no more work was a slower machine.\n\n\
         | rep | starts/s | burn runs/s | burn CPU ms per 1,000 runs | end-to-end runs/s |\n\
         |---:|---:|---:|---:|---:|\n"
    );
    for (i, r) in reps.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {} | {:.0} |",
            i + 1,
            r.starts,
            r.burn,
            cpu_cell(r.burn_cpu),
            r.end_to_end
        );
    }
    if let [first, .., last] = reps {
        let fall = |a: f64, b: f64| format!("{:+.1} %", (a - b) / a * 100.0);
        let cpu_change = match (first.burn_cpu, last.burn_cpu) {
            (Some(a), Some(b)) => format!("{:+.1} % work", (b - a) / a * 100.0),
            _ => "—".to_string(),
        };
        let _ = writeln!(
            out,
            "| fall (+) or rise (−), rep 1 → {} | {} | {} | {cpu_change} | {} |",
            reps.len(),
            fall(first.starts, last.starts),
            fall(first.burn, last.burn),
            fall(first.end_to_end, last.end_to_end)
        );
    }
    out.push('\n');
    out
}

/// The headline figures in the peer suite's table shape (`| system |
/// measurement | median | min | max | runs |`), so one parser reads both.
#[derive(Default)]
struct Summary(Vec<(String, Vec<f64>)>);

impl Summary {
    fn add(&mut self, measurement: String, rates: Vec<f64>) {
        self.0.push((measurement, rates));
    }

    fn markdown(&self) -> String {
        let mut out = String::from(
            "### Summary (per second)\n\n\
             | system | measurement | median/s | min | max | runs |\n|---|---|---:|---:|---:|---:|\n",
        );
        for (measurement, rates) in &self.0 {
            let mut sorted = rates.clone();
            sorted.sort_by(f64::total_cmp);
            let (Some(min), Some(max)) = (sorted.first(), sorted.last()) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| opshub | {measurement} | {:.0} | {min:.0} | {max:.0} | {} |",
                median(&sorted),
                sorted.len()
            );
        }
        out
    }
}

/// The median of sorted, non-empty values (the mean of the middle two for
/// an even count, as the peer suite does).
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Nearest-rank percentiles of milliseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<f64>) -> Percentiles {
        samples.sort_by(f64::total_cmp);
        let at = |p: f64| super::nearest_rank(&samples, p).unwrap_or(0.0);
        Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_match_the_peer_suite() {
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let p = Percentiles::of((1..=200).map(f64::from).collect());
        assert_eq!((p.p50, p.p99, p.max), (100.0, 198.0, 200.0));
        assert_eq!(Percentiles::of(Vec::new()).p99, 0.0);
    }

    #[test]
    fn the_summary_has_the_peer_table_shape() {
        let mut s = Summary::default();
        s.add("burn c32 (tiny runs)".into(), vec![300.0, 100.0, 200.0]);
        let table = s.markdown();
        assert!(table.contains("| system | measurement | median/s | min | max | runs |"));
        assert!(table.contains("| opshub | burn c32 (tiny runs) | 200 | 100 | 300 | 3 |"));
    }

    #[test]
    fn the_bench_marks_its_own_sql() {
        assert!(bench_sql!("SELECT 1").starts_with(MARKER));
    }

    #[test]
    fn busy_ticks_count_user_nice_system_irq_and_softirq_only() {
        let stat = "cpu  1000 30 150 3000 57 0 16 13 0 0\ncpu0 500 15 75 1500 28 0 8 6 0 0\n";
        assert_eq!(busy_ticks(stat), Some(1000 + 30 + 150 + 16));
        assert_eq!(busy_ticks("cpu0 1 2 3\n"), None);
        assert_eq!(busy_ticks("cpu  1 x 3 4 5 6 7\n"), None);
    }
}
