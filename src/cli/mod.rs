//! The `gatehouse` subcommands as library code: `main.rs` parses the arguments and
//! calls one `run` here, and tests can call the same functions.

pub mod client;
pub mod keys;
pub mod server;
pub mod sessions;
pub mod user;

use std::io::BufRead;

use crate::Core;
use crate::domain::{Email, User};

/// One line of standard input, without its line ending.
fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

async fn user_by_email(core: &Core, email: &str) -> anyhow::Result<User> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email: {e}"))?;
    core.accounts
        .find_by_email(&email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account with the email {email}"))
}
