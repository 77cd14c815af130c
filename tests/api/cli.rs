//! The `gatehouse` command line.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

fn gatehouse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        command.env_remove(key);
    }
    command
}

#[test]
fn check_config_names_every_invalid_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .arg("check-config")
        .env("GATEHOUSE_LISTEN", "nowhere")
        .env("GATEHOUSE_ACCESS_TOKEN_TTL", "forever")
        .env("GATEHOUSE_ENV", "production")
        .env("GATEHOUSE_ISSUER", "http://id.example.com")
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in [
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_ACCESS_TOKEN_TTL",
        "GATEHOUSE_ISSUER",
    ] {
        assert!(
            stderr.contains(variable),
            "{variable} not named in: {stderr}"
        );
    }
}

#[test]
fn check_config_prints_effective_values_with_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .arg("check-config")
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://gatehouse:hunter22@db.internal/gatehouse",
        )
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("GATEHOUSE_ISSUER=http://localhost:8080"));
    assert!(stdout.contains("GATEHOUSE_DATABASE_URL=postgres://gatehouse:"));
    assert!(!stdout.contains("hunter22"));
}

#[test]
fn production_refuses_to_start_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse()
        .current_dir(dir.path())
        .arg("check-config")
        .env("GATEHOUSE_ENV", "production")
        .env("GATEHOUSE_ISSUER", "https://id.example.com")
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("GATEHOUSE_KEYS_DIR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_makes_an_account_that_can_sign_in() {
    let app = spawn_app(Backend::Sqlite).await;
    let create = |email: &str, extra: &[&str]| {
        gatehouse()
            .env("GATEHOUSE_DATABASE_URL", &app.database_url)
            .args(["user", "create", "--email", email, "--name", "Admin"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // A given password, read from one line of standard input.
    let mut child = create("root@example.com", &["--role", "admin", "--password-stdin"]);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"  spaces kept  \n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stdout.is_empty(),
        "a given password is never printed"
    );
    let token = app
        .access_token("root@example.com", "  spaces kept  ")
        .await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["roles"], serde_json::json!(["admin"]));

    // A generated password, printed once, alone on its line.
    let output = create("second@example.com", &[])
        .wait_with_output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let password = stdout.trim_end_matches('\n');
    assert_eq!(stdout.lines().count(), 1);
    app.access_token("second@example.com", password).await;

    // The same email again is refused.
    let output = create("SECOND@example.com", &[])
        .wait_with_output()
        .unwrap();
    assert!(!output.status.success());
}
