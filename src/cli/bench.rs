//! `opshub bench engine` and `opshub bench hub` (built with the `bench`
//! feature only).

use super::Database;
use anyhow::Context as _;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    part: BenchPart,
}

#[derive(clap::Subcommand)]
enum BenchPart {
    /// The run engine measured like the peer job queues: tiny runs
    /// (starts, burn, end to end), items per second, start-to-claim
    /// latency, scale-out over worker processes, cost per run.
    #[command(args_override_self = true)]
    Engine {
        #[command(flatten)]
        opts: crate::bench::EngineBench,
        /// Also write the Markdown report to this file.
        #[arg(long)]
        report: Option<std::path::PathBuf>,
    },
    /// Latency of the runs list and the bell over HTTP, against a long
    /// history loaded into tenants of its own.
    Hub {
        /// Runs to load (half of them into the measured tenant, the rest
        /// over nine others).
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
        runs: u64,
        /// Notifications to load for the measured tenant's user.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        notifications: u64,
        /// Timed requests per measurement.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
        requests: u64,
        /// Keep the loaded data instead of removing it afterwards.
        #[arg(long)]
        keep: bool,
    },
}

pub async fn run(db: &Database, args: BenchArgs) -> anyhow::Result<()> {
    crate::db::migrate(&db.pool).await?;
    match args.part {
        BenchPart::Engine { mut opts, report } => {
            opts.database_url = db.url.clone();
            let markdown = crate::bench::run_engine(&db.pool, opts).await?;
            if let Some(path) = report {
                std::fs::write(&path, &markdown)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!("{markdown}");
        }
        BenchPart::Hub {
            runs,
            notifications,
            requests,
            keep,
        } => {
            let opts = crate::bench::HubBench {
                runs: runs as usize,
                notifications: notifications as usize,
                requests: requests as usize,
                keep,
            };
            println!("{}", crate::bench::run_hub(&db.pool, opts).await?);
        }
    }
    Ok(())
}
