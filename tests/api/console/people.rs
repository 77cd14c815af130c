//! People in the console: searched and paged; a person's page; and each action, audited
//! with the administrator as actor.

use reqwest::StatusCode;
use serde_json::Value;

use super::{administrator, person_path, post};
use crate::browser::{Browser, PASSWORD};
use crate::helpers::{Backend, spawn_app};

crate::on_every_backend!(an_administrator_acts_on_a_person);

async fn an_administrator_acts_on_a_person(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = administrator(&app).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let tokens: Value = app
        .password_grant("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    let ada = person_path(&admin, "ada@example.com").await;
    let page = admin.get(&ada).await;
    assert!(page.body.contains("ada@example.com"), "{}", page.body);
    assert!(
        page.body.contains("gatehouse"),
        "her session's client is listed"
    );

    // Ending every session asks first; confirmed, her refresh token stops working.
    let asked = post(&admin, &ada, &[("action", "end_sessions")]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(
        asked.body.contains(r#"name="confirm" value="yes""#),
        "{}",
        asked.body
    );
    let still = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(still.status(), 200, "nothing ended before the confirmation");
    let still: Value = still.json().await.unwrap();
    let refresh = still["refresh_token"].as_str().unwrap().to_string();
    let ended = post(
        &admin,
        &ada,
        &[("action", "end_sessions"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(
        admin
            .get(ended.location.as_deref().unwrap())
            .await
            .body
            .contains("Every session was ended")
    );
    let refused = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // Roles, then disabling and enabling.
    let roles = post(
        &admin,
        &ada,
        &[("action", "roles"), ("roles", "coach, reviewer")],
    )
    .await;
    assert_eq!(roles.status, StatusCode::SEE_OTHER);
    assert!(admin.get(&ada).await.body.contains("coach, reviewer"));
    let bad = post(
        &admin,
        &ada,
        &[("action", "roles"), ("roles", "Not A Role")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let disabled = post(&admin, &ada, &[("action", "disable"), ("confirm", "yes")]).await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        400
    );
    post(&admin, &ada, &[("action", "enable")]).await;
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );

    // A password-reset link is mailed; the second factors are removed after confirming.
    let sent = post(&admin, &ada, &[("action", "send_reset")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    crate::mfa::mailed(&app, "Reset your password").await;
    let reset = post(&admin, &ada, &[("action", "reset_mfa"), ("confirm", "yes")]).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);

    // All of it on record, by this administrator, on Ada's page.
    let page = admin.get(&ada).await;
    for kind in [
        "session.ended",
        "user.roles_changed",
        "user.disabled",
        "user.enabled",
        "password.reset_link_sent",
        "mfa.reset",
    ] {
        assert!(page.body.contains(kind), "{kind}: {}", page.body);
    }
    assert!(page.body.contains("admin:"), "the administrator as actor");
    // Another person's session cannot be ended through Ada's page.
    let unknown = post(
        &admin,
        "/admin/users/00000000-0000-0000-0000-000000000000",
        &[("action", "enable")],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_searched_and_paged() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = administrator(&app).await;
    for i in 0..30 {
        app.register_user(&format!("coach{i:02}@example.com"), PASSWORD)
            .await;
    }
    let first = admin.get("/admin/users?q=COACH").await;
    assert_eq!(
        first.body.matches("/admin/users/").count(),
        25,
        "a page of 25"
    );
    assert!(!first.body.contains("root@example.com"));
    let next = first.body.split("href=\"/admin/users?").nth(1).unwrap();
    let next = next.split('"').next().unwrap().replace("&#38;", "&");
    let second = admin.get(&format!("/admin/users?{next}")).await;
    assert_eq!(
        second.body.matches("/admin/users/").count(),
        5,
        "{}",
        second.body
    );
    let none = admin.get("/admin/users?q=nobody-here").await;
    assert!(none.body.contains("Nobody matches"));
    let _ = Browser::new(&app);
}
