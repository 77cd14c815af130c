//! Who gets into the console: administrators only (a 403 page for others, the login page
//! for signed-out visitors), with a second factor when their role requires one; and every
//! form refused without the page's CSRF token.

use reqwest::StatusCode;

use super::{administrator, person_path};
use crate::browser::Browser;
use crate::helpers::{Backend, spawn_app, spawn_app_with};

const PAGES: [&str; 6] = [
    "/admin",
    "/admin/users",
    "/admin/clients",
    "/admin/keys",
    "/admin/audit",
    "/admin/audit?type=login.succeeded",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_in_administrators_see_the_console() {
    let app = spawn_app(Backend::Sqlite).await;
    let anonymous = Browser::new(&app);
    for path in PAGES {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let to = page.location.unwrap();
        assert!(to.starts_with("/login?return_to=%2Fadmin"), "{path}: {to}");
    }

    let someone = Browser::new(&app);
    someone.register("ada@example.com").await;
    for path in PAGES {
        let page = someone.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.body.contains("<html"),
            "a page, not JSON: {}",
            page.body
        );
    }

    let admin = administrator(&app).await;
    let ada = person_path(&admin, "ada@example.com").await;
    for path in PAGES.iter().copied().chain([ada.as_str()]) {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let headers = &page.headers;
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
    }
}

/// Every form of the console, posted without the CSRF field: refused, nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_form_needs_the_csrf_field() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = administrator(&app).await;
    let ada = Browser::new(&app);
    ada.register("ada@example.com").await;
    let ada_path = person_path(&admin, "ada@example.com").await;
    let kid = app.signing_key_pem().0;
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            ada_path.clone(),
            vec![("action", "disable"), ("confirm", "yes")],
        ),
        (
            ada_path.clone(),
            vec![("action", "end_sessions"), ("confirm", "yes")],
        ),
        (
            ada_path.clone(),
            vec![("action", "roles"), ("roles", "admin")],
        ),
        (
            ada_path.clone(),
            vec![("action", "reset_mfa"), ("confirm", "yes")],
        ),
        (ada_path.clone(), vec![("action", "send_reset")]),
        (
            "/admin/clients".into(),
            vec![("id", "sneaky"), ("kind", "public")],
        ),
        (
            "/admin/clients/gatehouse/delete".into(),
            vec![("confirm", "yes")],
        ),
        ("/admin/keys/rotate".into(), vec![]),
        (
            format!("/admin/keys/{kid}/revoke"),
            vec![("confirm", "yes")],
        ),
    ];
    for (path, fields) in &forms {
        let mut with_a_wrong_token = fields.clone();
        with_a_wrong_token.push(("csrf", "not-the-token"));
        for body in [fields.clone(), with_a_wrong_token] {
            let refused = admin.post(path, &body).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path} {body:?}");
        }
    }
    // Nothing happened: Ada signs in, her roles and the keys are as they were.
    assert_eq!(ada.get("/account").await.status, StatusCode::OK);
    let people = admin.get("/admin/users?q=ada%40example.com").await;
    assert!(!people.body.contains("<td>admin</td>"), "{}", people.body);
    assert!(!admin.get("/admin/clients").await.body.contains("sneaky"));
    let jwks = app
        .get("/.well-known/jwks.json")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        jwks.matches("\"kid\"").count(),
        1,
        "no key rotated or revoked"
    );

    // And someone who is no administrator cannot post them, with or without the token.
    for (path, fields) in &forms {
        let refused = super::post(&ada, path, fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
}

/// With `admin` among the roles that require a second factor, a session that did not use
/// one is sent to sign in with one (RFC 9470's step-up, on the pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_asks_for_a_second_factor_when_the_role_requires_one() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let admin = administrator(&app).await;
    assert_eq!(admin.get("/admin").await.status, StatusCode::OK);
    // A second instance with the policy, on the same data (the browser's cookies are
    // the host's, whatever the port).
    let strict = app
        .sibling_with(|config| {
            config.accounts.mfa_required_roles =
                vec![gatehouse::domain::Role::parse("admin").unwrap()];
        })
        .await;
    let stepped = admin.get(&format!("{}/admin/users", strict.base)).await;
    assert_eq!(stepped.status, StatusCode::SEE_OTHER);
    let to = stepped.location.unwrap();
    assert!(
        to.starts_with("/login?return_to=%2Fadmin%2Fusers")
            && to.contains("second_factor=required"),
        "{to}"
    );
}
