//! The `gatehouse` command: parses arguments and starts things; the work lives in the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use gatehouse::cli::client::ClientCommand;
use gatehouse::cli::keys::KeysCommand;
use gatehouse::cli::sessions::SessionsCommand;
use gatehouse::cli::user::UserCommand;
use gatehouse::clock::SystemClock;
use gatehouse::config::{Config, RawSettings};
use gatehouse::{cli, telemetry};

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
    /// Manage OAuth clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// See and end sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let config = match load_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log.format, &config.log.level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Command::Serve => cli::server::serve(config).await,
            Command::Migrate => cli::server::migrate(config).await,
            Command::CheckConfig => cli::server::check_config(&config),
            Command::User { command } => cli::user::run(config, command).await,
            Command::Client { command } => cli::client::run(config, command).await,
            Command::Sessions { command } => cli::sessions::run(config, command).await,
            Command::Keys { command } => {
                cli::keys::run(config, command, Arc::new(SystemClock)).await
            }
        }
    });
    // A password hash still running on a blocking thread (its request gave up at the end
    // of the shutdown grace) must not keep the process alive: dropping the runtime would
    // wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
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
