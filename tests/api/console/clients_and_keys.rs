//! Clients and signing keys in the console: a client created (checked as the command line
//! checks it; its generated secret shown once and working), deleted after a confirmation;
//! a key rotated (in the JWKS at once) and revoked after a confirmation that says what
//! revoking does.

use reqwest::StatusCode;

use super::{administrator, post};
use crate::helpers::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_created_used_and_deleted() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = administrator(&app).await;
    let created = post(
        &admin,
        "/admin/clients",
        &[
            ("id", "billing"),
            ("kind", "confidential"),
            ("grant.client_credentials", "yes"),
            ("scopes", "invoices:read"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = created
        .body
        .split(r#"<code class="secret">"#)
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the secret, shown once")
        .to_string();
    let token = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("billing", Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "invoices:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let listed = admin.get("/admin/clients").await;
    assert!(
        listed.body.contains("billing") && !listed.body.contains(&secret),
        "shown once"
    );

    // Checked as the command line checks: a taken id, a redirect URI that is not one.
    let taken = post(
        &admin,
        "/admin/clients",
        &[
            ("id", "billing"),
            ("kind", "public"),
            ("grant.authorization_code", "yes"),
            ("redirect_uris", "https://app.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.body.contains("already exists"), "{}", taken.body);
    let bad = post(
        &admin,
        "/admin/clients",
        &[
            ("id", "spa"),
            ("kind", "public"),
            ("grant.authorization_code", "yes"),
            ("redirect_uris", "not a url"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains(r#"value="spa""#),
        "the form keeps what was typed"
    );

    let asked = post(&admin, "/admin/clients/billing/delete", &[]).await;
    assert!(asked.body.contains(r#"name="confirm" value="yes""#));
    assert!(
        admin.get("/admin/clients").await.body.contains("billing"),
        "not yet"
    );
    let deleted = post(
        &admin,
        "/admin/clients/billing/delete",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(
        !admin
            .get("/admin/clients")
            .await
            .body
            .contains("<code>billing</code>")
    );
    let gone = post(
        &admin,
        "/admin/clients/billing/delete",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_rotated_into_the_jwks_and_revoked_out_of_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = administrator(&app).await;
    let first = app.published_kids().await;
    assert_eq!(first.len(), 1);

    let rotated = post(&admin, "/admin/keys/rotate", &[]).await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER);
    let page = admin.get(rotated.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("A new key was published"),
        "{}",
        page.body
    );
    let both = app.published_kids().await;
    assert_eq!(both.len(), 2, "published at once: {both:?}");
    let new = both.iter().find(|k| !first.contains(k)).unwrap().clone();
    assert!(page.body.contains(&new) && page.body.contains("next"));
    // A second rotation while this one is under way changes nothing.
    let again = post(&admin, "/admin/keys/rotate", &[]).await;
    assert!(again.location.unwrap().contains("pending"));
    assert_eq!(app.published_kids().await.len(), 2);

    let asked = post(&admin, &format!("/admin/keys/{new}/revoke"), &[]).await;
    assert!(
        asked.body.contains("GATEHOUSE_JWKS_MAX_AGE"),
        "says what revoking does: {}",
        asked.body
    );
    assert_eq!(
        app.published_kids().await.len(),
        2,
        "not before the confirmation"
    );
    let revoked = post(
        &admin,
        &format!("/admin/keys/{new}/revoke"),
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.published_kids().await, first);
    let unknown = post(
        &admin,
        "/admin/keys/no-such-kid/revoke",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let audit = admin.get("/admin/audit?type=key.rotated").await;
    assert!(
        audit.body.contains("key.rotated") && audit.body.contains(&new),
        "{}",
        audit.body
    );
}
