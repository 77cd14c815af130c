//! Mailed links over HTTP, with the file transport: registration sends a verification
//! mail whose link verifies the address once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

crate::on_both_databases!(
    registration_mails_a_link_that_verifies_the_address_once,
    a_tampered_or_unknown_token_verifies_nothing,
);

const PASSWORD: &str = "correct horse battery";

/// The messages written so far, waiting until there are `count` of them.
async fn mails(app: &TestApp, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let found: Vec<String> = std::fs::read_dir(&app.config.mail_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "fewer than {count} messages in {}",
        app.config.mail_dir.display()
    );
}

/// The message as a reader sees it: quoted-printable soft breaks and `=3D` undone.
fn decoded(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=3D", "=")
}

/// The path and query of the verification link in a message.
fn verification_link(app: &TestApp, raw: &str) -> String {
    let text = decoded(raw);
    let start = text
        .find(&format!("{}/verify-email?token=", app.issuer))
        .unwrap_or_else(|| panic!("no verification link in:\n{text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_:/.?=".contains(*c))
        .collect();
    link[app.issuer.len()..].to_string()
}

async fn verified(app: &TestApp, email: &str) -> bool {
    let grant: Value = app
        .password_grant(email, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .me(grant["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    me["email_verified"].as_bool().unwrap()
}

async fn registration_mails_a_link_that_verifies_the_address_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;

    let mail = mails(&app, 1).await.remove(0);
    assert!(
        mail.contains("Subject: Confirm your email address"),
        "{mail}"
    );
    assert!(mail.contains("ada@example.com>"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    assert!(decoded(&mail).contains("expires in 24 hours"), "{mail}");
    assert!(!verified(&app, "ada@example.com").await);

    let link = verification_link(&app, &mail);
    let first = app.get(&link).await;
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("confirmed"));
    assert!(verified(&app, "ada@example.com").await);

    let again = app.get(&link).await;
    assert_eq!(again.status(), 400, "a link works once");
}

async fn a_tampered_or_unknown_token_verifies_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let link = verification_link(&app, &mails(&app, 1).await[0]);
    let token = link.split("token=").nth(1).unwrap();
    let mut tampered: Vec<char> = token.chars().collect();
    tampered[5] = if tampered[5] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();

    for path in [
        format!("/verify-email?token={tampered}"),
        format!("/verify-email?token={}", &token[..20]),
        "/verify-email?token=".to_string(),
        "/verify-email".to_string(),
        "/verify-email?token=%00%FF<script>".to_string(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
    }
    assert!(!verified(&app, "ada@example.com").await);
    // The real link still works after all that.
    assert_eq!(app.get(&link).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_verifies_nothing() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_EMAIL_VERIFICATION_TTL", "1s")],
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let link = verification_link(&app, &mails(&app, 1).await[0]);

    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(app.get(&link).await.status(), 400);
    assert!(!verified(&app, "ada@example.com").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_speaks_the_language_of_the_account() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .register(&json!({
            "email": "amelie@example.com",
            "name": "Amélie",
            "password": PASSWORD,
            "profile": {"preferred_language": "fr"}
        }))
        .await;
    assert_eq!(response.status(), 201);

    let mail = mails(&app, 1).await.remove(0);
    assert!(
        mail.contains("Subject: Confirmez votre adresse e-mail"),
        "{mail}"
    );
    let text = decoded(&mail);
    assert!(text.contains("expire dans 24 heures"), "{text}");
    verification_link(&app, &mail);
}
