//! Administrators remove a person's second factors after a lost phone: API and command line.

use std::sync::Arc;

use gatehouse::clock::ManualClock;
use serde_json::Value;

use super::*;
use crate::helpers::{Backend, spawn_app_with_clock};

crate::on_every_backend!(an_administrator_resets_a_lost_phone,);

async fn an_administrator_resets_a_lost_phone(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let ada: Value = app.register_user("ada@example.com", PASSWORD).await;
    let ada_id = ada["id"].as_str().unwrap().to_string();
    let secret = enrolled(&app, &clock, "ada@example.com").await;
    let tokens = both_steps(&app, &secret, &clock, "ada@example.com").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/users/{ada_id}/mfa");
    let reset = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    mailed(
        &app,
        "An administrator removed the second factor of your account",
    )
    .await;
    // Whoever holds the phone's sessions is signed out.
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ])
        .await;
    assert_eq!(
        refreshed.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // The password alone signs in again, and the reset is on record.
    let signed_in = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    let events = app
        .get_json("/api/v1/admin/audit?type=mfa.reset", &admin)
        .await;
    assert_eq!(events["items"][0]["user_id"], ada_id.as_str());
    assert_eq!(events["items"][0]["detail"]["removed"], true);
    let unknown = app
        .client
        .delete(app.url("/api/v1/admin/users/00000000-0000-0000-0000-000000000000/mfa"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_resets_second_factors() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    enrolled(&app, &clock, "ada@example.com").await;
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        403
    );
    crate::audit::cli(&app, &["user", "mfa-reset", "ada@example.com"]);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}
