//! The `opshub` binary: one program, a subcommand per role. It parses the
//! command line and hands it to the command's module in `opshub::cli`.

#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    let cli = opshub::cli::Cli::parse();
    cli.init_logging();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "ssr")]
async fn run(cli: opshub::cli::Cli) -> anyhow::Result<()> {
    use opshub::cli::{runs, seed, serve, users, Command};
    let db = cli.database().await?;
    match cli.command {
        Command::Serve(args) => serve::serve(db, args).await,
        Command::Worker(args) => serve::worker(db, args).await,
        Command::Migrate => seed::migrate(&db).await,
        Command::Seed(args) => seed::seed(&db, args).await,
        Command::Start(args) => runs::start(&db, args).await,
        Command::ImportInventory(args) => runs::import_inventory(&db, args).await,
        Command::Runs(args) => runs::list(&db, args).await,
        Command::Cancel(args) => runs::cancel(&db, args).await,
        Command::Retry(args) => runs::retry(&db, args).await,
        Command::User(args) => users::run(&db, args).await,
        #[cfg(feature = "bench")]
        Command::Bench(args) => opshub::cli::bench::run(&db, args).await,
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser entry point is `hydrate()` in lib.rs.
}
