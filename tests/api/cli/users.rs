//! `gatehouse user` and `gatehouse sessions`: accounts made, imported, disabled, and their
//! sessions listed and revoked, all offline.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use super::{gatehouse, import, run};
use crate::helpers::{Backend, spawn_app};

crate::on_both_databases!(user_import_counts_good_duplicate_and_bad_lines_and_is_idempotent);

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
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_disabled_and_sessions_revoked_offline() {
    let app = spawn_app(Backend::Sqlite).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let first: Value = app
        .password_grant("ada@example.com", "analytical engine")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .password_grant("ada@example.com", "analytical engine")
        .await
        .json()
        .await
        .unwrap();
    let refresh = |token: &Value| {
        let token = token["refresh_token"].as_str().unwrap().to_string();
        let app = &app;
        async move {
            app.token(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .await
                .status()
        }
    };

    let listed =
        String::from_utf8(run(&app, &["sessions", "list", "--user", "ada@example.com"], "").stdout)
            .unwrap();
    assert_eq!(listed.lines().count(), 2);
    let sid = listed
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();

    assert!(
        run(&app, &["sessions", "revoke", "--session", &sid], "")
            .status
            .success()
    );
    assert!(
        !run(&app, &["sessions", "revoke", "--session", &sid], "")
            .status
            .success()
    );
    let survivors =
        String::from_utf8(run(&app, &["sessions", "list", "--user", "ada@example.com"], "").stdout)
            .unwrap();
    assert_eq!(survivors.lines().count(), 1);

    assert!(
        run(
            &app,
            &["sessions", "revoke", "--user", "ada@example.com"],
            ""
        )
        .status
        .success()
    );
    assert_eq!(refresh(&first).await, 400);
    assert_eq!(refresh(&second).await, 400);

    let third: Value = app
        .password_grant("ada@example.com", "analytical engine")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        run(&app, &["user", "disable", "ada@example.com"], "")
            .status
            .success()
    );
    assert_eq!(
        refresh(&third).await,
        400,
        "disabling ends the sessions at once"
    );
    assert_eq!(
        app.password_grant("ada@example.com", "analytical engine")
            .await
            .status(),
        400
    );
    assert!(
        run(&app, &["user", "enable", "ada@example.com"], "")
            .status
            .success()
    );
    assert_eq!(
        app.password_grant("ada@example.com", "analytical engine")
            .await
            .status(),
        200
    );
    assert!(
        !run(&app, &["user", "disable", "nobody@example.com"], "")
            .status
            .success()
    );
    assert!(!run(&app, &["sessions", "revoke"], "").status.success());
}

async fn user_import_counts_good_duplicate_and_bad_lines_and_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("taken@example.com", "already here, thanks")
        .await;
    // As the old service's passlib wrote them.
    let old_hash = bcrypt::hash("from the old days", 4).unwrap();
    let other_hash = bcrypt::hash("another old secret", 4).unwrap();
    let lines = [
        format!(
            r#"{{"email":"Old@Example.com","name":"Old Timer","hashed_password":"{old_hash}","profile":{{"country":"France","preferred_language":"fr"}},"created_at":"2023-02-01 09:15:00.5"}}"#
        ),
        format!(
            r#"{{"email":"second@example.com","name":"Second","hashed_password":"{other_hash}"}}"#
        ),
        String::new(),
        format!(
            r#"{{"email":"OLD@example.com","name":"Duplicate","hashed_password":"{other_hash}"}}"#
        ),
        format!(
            r#"{{"email":"taken@example.com","name":"Taken","hashed_password":"{other_hash}"}}"#
        ),
        r#"{"email":"no-hash@example.com","name":"No Hash"}"#.to_string(),
        r#"{"email":"plain@example.com","name":"Plain","hashed_password":"hunter2"}"#.to_string(),
        "this is not json".to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let first = import(&app, &file);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr),
    );
    assert!(
        !first.status.success(),
        "bad lines make the exit status fail"
    );
    assert!(
        stdout.contains("imported 2, already present 2, invalid 3"),
        "{stdout}"
    );
    for line in [
        "line 6: hashed_password: is required",
        "line 7: hashed_password",
        "line 8: not JSON",
    ] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert!(
        !stderr.contains(&old_hash) && !stderr.contains(&other_hash),
        "hashes are never printed: {stderr}"
    );

    let again = import(&app, &file);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("imported 0, already present 4, invalid 3")
    );

    // Imported people sign in with their old password, and are rehashed to argon2id.
    assert_eq!(
        app.password_grant("old@example.com", "wrong")
            .await
            .status(),
        400
    );
    let token = app
        .access_token("old@example.com", "from the old days")
        .await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["name"], "Old Timer");
    assert_eq!(me["profile"]["preferred_language"], "fr");
    assert_eq!(me["email_verified"], false);
    assert!(
        me["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2023-02-01T09:15:00")
    );
    assert!(
        app.stored_hash("old@example.com")
            .await
            .starts_with("$argon2id$")
    );
    // The account that was already there kept its password.
    assert_eq!(
        app.password_grant("taken@example.com", "already here, thanks")
            .await
            .status(),
        200
    );
}
