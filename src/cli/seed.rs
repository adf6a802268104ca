//! `opshub migrate` and `opshub seed`.

use super::Database;

#[derive(clap::Args)]
pub struct SeedArgs {
    /// Load the demo tenants, users, inventory, findings and runs.
    #[arg(long, required = true)]
    demo: bool,
}

pub async fn migrate(db: &Database) -> anyhow::Result<()> {
    crate::db::migrate(&db.pool).await?;
    println!("migrations applied");
    Ok(())
}

pub async fn seed(db: &Database, _args: SeedArgs) -> anyhow::Result<()> {
    use crate::seed::demo;
    crate::db::migrate(&db.pool).await?;
    let report = demo::run(&db.pool, chrono::Utc::now()).await?;
    for (slug, created) in &report.tenants {
        if *created {
            println!("tenant {slug}: demo history created");
        } else {
            println!("tenant {slug}: already has runs; left unchanged");
        }
    }
    println!("\nDemo users (password: {}):", demo::DEMO_PASSWORD);
    for user in &demo::DEMO_USERS {
        let roles: Vec<String> = user
            .memberships
            .iter()
            .map(|(t, r)| format!("{r} in {t}"))
            .collect();
        println!("  {:<26} {}", user.email, roles.join(", "));
    }
    Ok(())
}
