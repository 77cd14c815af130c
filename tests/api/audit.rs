//! The audit log: every security event lands there, and administrators can read it.

use std::collections::HashSet;
use std::process::Command;

use serde_json::{Value, json};

use crate::browser::Browser;
use std::sync::Arc;

use gatehouse::clock::ManualClock;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with_clock};
use crate::on_both_databases;

on_both_databases!(
    security_events_are_recorded_and_can_be_filtered,
    failed_sign_ins_on_an_existing_account_are_attributed_to_it,
    disabling_records_the_same_events_from_the_api_and_the_command_line,
);

const PASSWORD: &str = "analytical engine";

pub(crate) fn cli(app: &TestApp, args: &[&str]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        command.env_remove(key);
    }
    let output = command
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .env("GATEHOUSE_KEYS_DIR", &app.keys_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn security_events_are_recorded_and_can_be_filtered(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        backend,
        &[("GATEHOUSE_REFRESH_REUSE_GRACE", "0s")],
        clock.clone(),
    )
    .await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let ada = app.register_user("ada@example.com", PASSWORD).await;
    let ada_id = ada["id"].as_str().unwrap().to_string();

    // Sign-ins, a failure, a replayed refresh token, a password change.
    assert_eq!(
        app.password_grant("ada@example.com", "not the password")
            .await
            .status(),
        400
    );
    let tokens: Value = app
        .password_grant("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let first = tokens["refresh_token"].as_str().unwrap().to_string();
    app.token(&[("grant_type", "refresh_token"), ("refresh_token", &first)])
        .await;
    clock.advance(std::time::Duration::from_secs(1));
    app.token(&[("grant_type", "refresh_token"), ("refresh_token", &first)])
        .await;
    let tokens: Value = app
        .password_grant("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&json!({"current_password": PASSWORD, "new_password": "difference engine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // Administration through the API and the CLI.
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/api/v1/admin/users/{ada_id}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    patch(json!({"roles": ["coach"]})).await.unwrap();
    patch(json!({"disabled": true})).await.unwrap();
    patch(json!({"disabled": false})).await.unwrap();
    cli(
        &app,
        &[
            "client",
            "create",
            "--id",
            "audited",
            "--public",
            "--redirect-uri",
            "https://a.example.com/cb",
        ],
    );
    cli(&app, &["client", "delete", "audited"]);
    cli(&app, &["keys", "rotate"]);
    let listed = {
        let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .env("GATEHOUSE_KEYS_DIR", &app.keys_dir)
            .args(["keys", "list"])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let next = listed
        .lines()
        .find(|l| l.contains("\tnext\t"))
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    cli(&app, &["keys", "revoke", &next]);

    let read = |query: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let response = app
                .client
                .get(app.url(&format!("/api/v1/admin/audit{query}")))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let all = read("?limit=200".into()).await;
    let text = all.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("difference engine") && !text.contains(&first)
    );
    let types: HashSet<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "user.registered",
        "login.succeeded",
        "login.failed",
        "refresh.reused",
        "session.ended",
        "password.changed",
        "user.roles_changed",
        "user.disabled",
        "user.enabled",
        "client.created",
        "client.deleted",
        "key.rotated",
        "key.revoked",
    ] {
        assert!(types.contains(expected), "no {expected} in {types:?}");
    }
    let failed = &read("?type=login.failed".into()).await["items"][0];
    assert_eq!(failed["detail"]["username"], "ada@example.com");
    assert_eq!(failed["ip"], "127.0.0.1");
    let disabled = &read("?type=user.disabled".into()).await["items"][0];
    assert_eq!(disabled["user_id"], ada_id.as_str());
    assert!(disabled["actor"].as_str().unwrap().starts_with("admin:"));

    // Filters and paging.
    let adas = read(format!("?user={ada_id}&limit=200")).await;
    assert!(
        adas["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["user_id"] == ada_id.as_str())
    );
    let page = read("?limit=2".into()).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let older = read(format!("?limit=2&cursor={cursor}")).await;
    assert_ne!(page["items"][0]["id"], older["items"][0]["id"]);
    let future = read(format!(
        "?since={}",
        (chrono::Utc::now() + chrono::Duration::hours(1))
            .to_rfc3339()
            .replace('+', "%2B")
    ))
    .await;
    assert_eq!(future["items"].as_array().unwrap().len(), 0);
    let forbidden = app
        .client
        .get(app.url("/api/v1/admin/audit"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(forbidden.status() == 401 || forbidden.status() == 403);
}

/// An administrator reading one account's events sees the attack on it; the client is
/// answered exactly as for an address nobody has.
async fn failed_sign_ins_on_an_existing_account_are_attributed_to_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let ada = app.register_user("ada@example.com", PASSWORD).await;
    let ada_id = ada["id"].as_str().unwrap();

    let wrong = app
        .password_grant("ada@example.com", "not the password")
        .await;
    let unknown = app
        .password_grant("nobody@example.com", "not the password")
        .await;
    let browser = Browser::new(&app);
    let mut pages = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let form = browser.get("/login").await;
        let page = browser
            .post(
                "/login",
                &[
                    ("csrf", &form.csrf()),
                    ("email", email),
                    ("password", "not the password"),
                ],
            )
            .await;
        pages.push((page.status, page.body.replace(email, "EMAIL")));
    }

    assert_eq!(wrong.status(), unknown.status());
    assert_eq!(
        wrong.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
    assert_eq!(pages[0].0, pages[1].0);
    let csrf_free = |body: &str| {
        body.lines()
            .filter(|l| !l.contains("name=\"csrf\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(csrf_free(&pages[0].1), csrf_free(&pages[1].1));
    let events: Value = app
        .get_json("/api/v1/admin/audit?type=login.failed&limit=10", &admin)
        .await;
    let unknown_type = app
        .get_json("/api/v1/admin/audit?type=login.nope", &admin)
        .await;
    assert_eq!(unknown_type["status"], 400);
    let detail = unknown_type["detail"].as_str().unwrap();
    assert!(
        detail.contains("mfa.enabled") && detail.contains("client.updated"),
        "{detail}"
    );
    let by_name = |username: &str| -> Vec<Value> {
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["detail"]["username"] == username)
            .map(|e| e["user_id"].clone())
            .collect()
    };
    assert_eq!(
        by_name("ada@example.com"),
        vec![json!(ada_id), json!(ada_id)]
    );
    assert_eq!(
        by_name("nobody@example.com"),
        vec![Value::Null, Value::Null]
    );
    let adas: Value = app
        .get_json(
            &format!("/api/v1/admin/audit?user={ada_id}&type=login.failed"),
            &admin,
        )
        .await;
    assert_eq!(adas["items"].as_array().unwrap().len(), 2);
}

/// The admin API and `gatehouse user disable` take one path: both record the account
/// disabled and its sessions ended, differing only in who did it.
async fn disabling_records_the_same_events_from_the_api_and_the_command_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let mut ids = Vec::new();
    for email in ["ada@example.com", "bob@example.com"] {
        let user = app.register_user(email, PASSWORD).await;
        app.access_token(email, PASSWORD).await;
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let by_api = app
        .client
        .patch(app.url(&format!("/api/v1/admin/users/{}", ids[0])))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_api.status(), 200);
    cli(&app, &["user", "disable", "bob@example.com"]);

    let mut recorded = Vec::new();
    for id in &ids {
        let events: Value = app
            .get_json(&format!("/api/v1/admin/audit?user={id}&limit=50"), &admin)
            .await;
        let mut administered: Vec<(String, String, Value)> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "user.disabled" || e["type"] == "session.ended")
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_string(),
                    e["actor"].as_str().unwrap().to_string(),
                    e["detail"].clone(),
                )
            })
            .collect();
        administered.sort_by(|a, b| a.0.cmp(&b.0));
        recorded.push(administered);
    }
    let admin_actor = format!("admin:{}", root["id"].as_str().unwrap());
    let expected = |actor: &str| {
        vec![
            (
                "session.ended".to_string(),
                actor.to_string(),
                json!({"cause": "user_disabled"}),
            ),
            ("user.disabled".to_string(), actor.to_string(), json!({})),
        ]
    };
    assert_eq!(recorded[0], expected(&admin_actor));
    assert_eq!(recorded[1], expected("cli"));
}
