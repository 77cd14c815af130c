//! The `gatehouse` command: parses arguments and starts things; the work lives in the library.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gatehouse::auth::{AuthError, Registration};
use gatehouse::config::{Config, RawSettings};
use gatehouse::domain::{Email, Password, Profile, Role, UserName};
use gatehouse::{Application, Core, telemetry};
use rand::Rng;
use rand::distr::Alphanumeric;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Identity provider and OAuth 2.0 / OpenID Connect server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and print the effective values (secrets hidden).
    CheckConfig,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; without --password-stdin a random password is printed once.
    Create(CreateUser),
}

#[derive(Args)]
struct CreateUser {
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: String,
    /// A role to give (repeatable), such as `admin`.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Read the password from one line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, &config.log_level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::CheckConfig => check_config(&config),
            Command::User {
                command: UserCommand::Create(args),
            } => create_user(config, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config() -> Result<Config, String> {
    let raw = RawSettings::from_environment().map_err(|e| e.to_string())?;
    for unknown in raw.unknown() {
        eprintln!("warning: {unknown} is not a Gatehouse setting and is ignored");
    }
    Config::from_raw(&raw).map_err(|e| e.to_string())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if !config.is_production() {
        tracing::warn!("running in development mode; set GATEHOUSE_ENV=production for real use");
    }
    let app = Application::build(config).await?;
    app.run_until(gatehouse::app::shutdown_signal()).await?;
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let core = Core::open(config).await?;
    println!("migrations applied ({})", core.db.dialect());
    Ok(())
}

fn check_config(config: &Config) -> anyhow::Result<()> {
    config.check_keys_present()?;
    for (name, value) in config.describe() {
        println!("{name}={value}");
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
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        (
            Password::parse(line)
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
    match core.accounts.create(registration, roles).await {
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
