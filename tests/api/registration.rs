//! `POST /api/v1/auth/register`.

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    registration_returns_the_user_without_the_hash,
    a_taken_email_is_a_conflict_whatever_its_case,
    registration_names_every_invalid_field,
    roles_in_the_body_are_ignored,
);

async fn registration_returns_the_user_without_the_hash(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .register(&json!({
            "email": "Ada.Lovelace@Example.com",
            "name": "Ada Lovelace",
            "password": "analytical engine",
            "profile": {"country": "GB", "city": "London", "preferred_language": "en",
                        "business_context": {"stage": "seed", "team": 4}}
        }))
        .await;

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    assert!(!text.contains("argon2") && !text.contains("analytical engine"));
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["email"], "ada.lovelace@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["disabled"], false);
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["profile"]["city"], "London");
    assert_eq!(user["profile"]["business_context"]["team"], 4);
    assert!(user["id"].as_str().unwrap().len() == 36);
    assert!(user.get("password_hash").is_none());
}

async fn a_taken_email_is_a_conflict_whatever_its_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("grace@example.com", "compiler cobol")
        .await;

    let response = app
        .register(
            &json!({"email": "GRACE@Example.COM", "name": "Other", "password": "another one"}),
        )
        .await;

    assert_eq!(response.status(), 409);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 409);
}

async fn registration_names_every_invalid_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (
            json!({"name": "A", "password": "long enough"}),
            vec!["email"],
        ),
        (
            json!({"email": "not-an-email", "name": "A", "password": "long enough"}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.com", "password": "long enough"}),
            vec!["name"],
        ),
        (
            json!({"email": "a@example.com", "name": "   ", "password": "long enough"}),
            vec!["name"],
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": "short"}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": "x".repeat(129)}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": 12345678}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "name": "A", "password": "long enough",
                   "profile": {"country": 1, "preferred_language": "not a tag", "business_context": [1]}}),
            vec![
                "profile.country",
                "profile.preferred_language",
                "profile.business_context",
            ],
        ),
        (
            json!({"email": 5, "name": null, "password": "short"}),
            vec!["email", "name", "password"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.register(&body).await;
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{body}");
    }
}

async fn roles_in_the_body_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .register(
            &json!({"email": "mallory@example.com", "name": "M", "password": "let me in please",
                          "roles": ["admin"], "disabled": false, "email_verified": true}),
        )
        .await;

    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["email_verified"], false);
    let token = app
        .access_token("mallory@example.com", "let me in please")
        .await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["roles"], json!([]));
}
