//! The `gatehouse` command line.

use std::io::Write;
use std::process::{Command, Stdio};

mod clients;
mod config;
mod keys;
mod serve;
mod users;

fn gatehouse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        command.env_remove(key);
    }
    command
}

/// Runs `gatehouse ARGS` against the test's database, with `stdin` as standard input.
fn run(app: &crate::helpers::TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = gatehouse()
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `gatehouse user import FILE` on the test's database.
pub(crate) fn import(
    app: &crate::helpers::TestApp,
    file: &std::path::Path,
) -> std::process::Output {
    gatehouse()
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .args(["user", "import"])
        .arg(file)
        .output()
        .unwrap()
}
