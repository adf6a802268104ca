//! `opshub user add` and `opshub user list`.

use super::Database;
use crate::model::{Email, NewPassword, Role};

#[derive(clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    action: UserAction,
}

#[derive(clap::Subcommand)]
enum UserAction {
    /// Add a user to a tenant with a role. A new user's password is read
    /// from standard input (first line) or asked for at a terminal; an
    /// existing user keeps theirs and gets the role.
    Add {
        #[arg(long)]
        email: Email,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// operator (may start, cancel, retry) or viewer (read only).
        #[arg(long)]
        role: Role,
    },
    /// List users and their roles.
    List {
        /// Only members of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn run(db: &Database, args: UserArgs) -> anyhow::Result<()> {
    use crate::db::users;
    match args.action {
        UserAction::Add {
            email,
            name,
            tenant,
            role,
        } => {
            let name = name.unwrap_or_else(|| email.local_part().to_string());
            let added = users::add(&db.pool, &email, &name, &tenant, role, || {
                crate::server::password::hash(read_password()?.expose())
            })
            .await?;
            match added {
                users::Added::Created => println!("user {email} created: {role} in {tenant}"),
                users::Added::MembershipSet => {
                    println!("user {email} exists: now {role} in {tenant} (password unchanged)")
                }
            }
        }
        UserAction::List { tenant } => {
            for u in users::list(&db.pool, tenant.as_deref()).await? {
                println!(
                    "{:<30} {:<24} {}",
                    u.email,
                    u.name,
                    u.memberships.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// A new user's password: from a terminal prompt, or the first line of stdin.
fn read_password() -> anyhow::Result<NewPassword> {
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
    NewPassword::parse(password).map_err(anyhow::Error::msg)
}
