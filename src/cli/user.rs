//! `gatehouse user`: create, disable, enable and import accounts, and reset second factors.

use std::io::BufRead;

use clap::{Args, Subcommand};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::{read_line, user_by_email};
use crate::Core;
use crate::auth::{Acting, AuthError, Registration};
use crate::config::Config;
use crate::domain::{Email, Password, Profile, Role, UserName};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account; without --password-stdin a random password is printed once.
    Create(CreateUser),
    /// Disable an account and end all its sessions.
    Disable { email: String },
    /// Enable a disabled account.
    Enable { email: String },
    /// Remove an account's second factors (a lost phone) and end all its sessions.
    MfaReset { email: String },
    /// Import accounts from JSON Lines exported from the old service (see README);
    /// existing emails are left alone, bad lines are reported by number.
    Import { file: std::path::PathBuf },
}

#[derive(Args)]
pub struct CreateUser {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    /// A role to give (repeatable), such as `admin`.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Read the password from one line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Runs one `gatehouse user` command.
pub async fn run(config: Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create(args) => create_user(config, args).await,
        UserCommand::Disable { email } => set_disabled(config, &email, true).await,
        UserCommand::Enable { email } => set_disabled(config, &email, false).await,
        UserCommand::MfaReset { email } => reset_second_factors(config, &email).await,
        UserCommand::Import { file } => import_users(config, &file).await,
    }
}

async fn import_users(config: Config, file: &std::path::Path) -> anyhow::Result<()> {
    use crate::auth::Imported;
    use crate::auth::import::{ImportReport, parse_line};
    use anyhow::Context;
    let mut reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let argon2 = config.passwords.argon2;
    let core = Core::open(config).await?;
    let now = core.clock.now();
    let mut report = ImportReport::default();
    let mut bytes = Vec::new();
    let mut number = 0u64;
    loop {
        bytes.clear();
        if reader
            .read_until(b'\n', &mut bytes)
            .with_context(|| format!("cannot read {}", file.display()))?
            == 0
        {
            break;
        }
        number += 1;
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => parse_line(line.trim_end_matches(['\n', '\r']), now, &argon2),
            Err(_) => Err("not UTF-8".to_string()),
        };
        match parsed {
            Ok(user) => match core.accounts.import(&user).await? {
                Imported::Created => report.imported += 1,
                Imported::Present => report.existing += 1,
                Imported::LegacyIdRecorded => {
                    report.existing += 1;
                    report.legacy_ids_recorded += 1;
                }
                Imported::Refused(problem) => report.refuse(number, problem),
            },
            Err(problem) => report.refuse(number, problem),
        }
    }
    println!(
        "imported {}, already present {}, invalid {}",
        report.imported,
        report.existing,
        report.invalid.len()
    );
    if report.legacy_ids_recorded > 0 {
        println!(
            "old ids recorded on {} account(s) already present",
            report.legacy_ids_recorded
        );
    }
    if !report.invalid.is_empty() {
        anyhow::bail!(
            "{} line(s) were not imported; fix them and run the import again (it skips what is already there)",
            report.invalid.len()
        );
    }
    Ok(())
}

async fn create_user(config: Config, args: CreateUser) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    let email = Email::parse(&args.email)
        .map_err(|e| problems.push(format!("--email: {e}")))
        .ok();
    let name = UserName::parse(&args.name)
        .map_err(|e| problems.push(format!("--name: {e}")))
        .ok();
    let roles: Vec<Role> = args
        .roles
        .iter()
        .filter_map(|r| {
            Role::parse(r)
                .map_err(|e| problems.push(format!("--role {r}: {e}")))
                .ok()
        })
        .collect();
    let (password, generated) = if args.password_stdin {
        (
            Password::parse(&read_line()?)
                .map_err(|e| problems.push(format!("password: {e}")))
                .ok(),
            None,
        )
    } else {
        let generated: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        (Password::parse(&generated).ok(), Some(generated))
    };
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        anyhow::bail!("{}", problems.join("\n"));
    };
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\n"));
    }
    let core = Core::open(config).await?;
    let registration = Registration {
        email,
        name,
        password,
        profile: Profile::default(),
    };
    match core
        .admin
        .create_user(registration, roles, &Acting::cli())
        .await
    {
        Ok(user) => {
            eprintln!("created user {} <{}>", user.id, user.email);
            if let Some(password) = generated {
                println!("{password}");
            }
            Ok(())
        }
        Err(AuthError::EmailTaken) => anyhow::bail!("an account with this email already exists"),
        Err(e) => Err(e.into()),
    }
}

async fn reset_second_factors(config: Config, email: &str) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    let user = user_by_email(&core, email).await?;
    let removed = core
        .admin
        .reset_second_factors(user.id, &Acting::cli())
        .await?;
    let what = if removed {
        "second factors removed"
    } else {
        "had no second factor"
    };
    eprintln!("{} {what}; its sessions ended", user.email);
    Ok(())
}

async fn set_disabled(config: Config, email: &str, disabled: bool) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    let user = user_by_email(&core, email).await?;
    core.admin
        .set_disabled(user.id, disabled, &Acting::cli())
        .await?;
    eprintln!(
        "{} {}",
        user.email,
        if disabled {
            "disabled; its sessions ended"
        } else {
            "enabled"
        }
    );
    Ok(())
}
