//! The administration API (`/api/v1/admin`): who may use it, listing and finding users,
//! roles, ending sessions, disabling accounts.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_every_backend;
use crate::sessions::{PASSWORD, refresh, s, sign_in};

on_every_backend!(
    non_admins_are_refused_everywhere,
    administrators_list_search_and_page_users,
    administrators_set_roles,
    administrators_end_one_or_all_sessions_of_a_user,
    disabling_ends_every_session_and_stops_sign_in,
    an_admin_whose_role_is_taken_away_loses_access_at_once,
);

/// A server with an administrator (`root`), Ada signed in twice, and Bob.
struct Admin {
    app: TestApp,
    /// The administrator's access token.
    admin: String,
    /// Ada's registration, as the API answered it.
    ada: Value,
    ada_id: String,
    /// The tokens of Ada's first sign-in (she has a second session besides).
    ada_tokens: Value,
}

impl Admin {
    async fn start(backend: Backend) -> Self {
        let app = spawn_app(backend).await;
        app.register_user("root@example.com", PASSWORD).await;
        app.make_admin("root@example.com").await;
        let ada = app.register_user("ada@example.com", PASSWORD).await;
        app.register_user("bob@example.com", PASSWORD).await;
        let admin = s(&sign_in(&app, "root@example.com").await, "access_token");
        let ada_tokens = sign_in(&app, "ada@example.com").await;
        sign_in(&app, "ada@example.com").await;
        let ada_id = s(&ada, "id");
        Self {
            app,
            admin,
            ada,
            ada_id,
            ada_tokens,
        }
    }

    /// A request to `path` with `token` as its bearer.
    fn call(&self, method: Method, path: String, token: String) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(&path))
            .bearer_auth(token)
    }
}

/// Non-admins are refused everywhere (403 with an `insufficient_scope` challenge), and
/// a request without a token is 401.
async fn non_admins_are_refused_everywhere(backend: Backend) {
    let setup = Admin::start(backend).await;
    let Admin {
        app,
        ada_id,
        ada_tokens,
        ..
    } = &setup;
    for (method, path) in [
        (Method::GET, "/api/v1/admin/users".to_string()),
        (Method::GET, format!("/api/v1/admin/users/{ada_id}")),
        (Method::PATCH, format!("/api/v1/admin/users/{ada_id}")),
        (
            Method::GET,
            format!("/api/v1/admin/users/{ada_id}/sessions"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/users/{ada_id}/sessions"),
        ),
        (
            Method::DELETE,
            "/api/v1/admin/sessions/AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        ),
    ] {
        let response = setup
            .call(method.clone(), path.clone(), s(ada_tokens, "access_token"))
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        let unauthenticated = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(unauthenticated.status(), 401, "{method} {path}");
    }
}

/// Listing, searching (the query is matched literally), paging, and one user by id.
async fn administrators_list_search_and_page_users(backend: Backend) {
    let setup = Admin::start(backend).await;
    let Admin {
        admin, ada, ada_id, ..
    } = &setup;
    let page: Value = setup
        .call(
            Method::GET,
            "/api/v1/admin/users?limit=2".into(),
            admin.clone(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = s(&page, "next_cursor");
    let rest: Value = setup
        .call(
            Method::GET,
            format!("/api/v1/admin/users?limit=2&cursor={cursor}"),
            admin.clone(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());
    let found: Value = setup
        .call(
            Method::GET,
            "/api/v1/admin/users?q=ADA".into(),
            admin.clone(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["email"], "ada@example.com");
    let none: Value = setup
        .call(
            Method::GET,
            "/api/v1/admin/users?q=%25".into(),
            admin.clone(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        none["items"].as_array().unwrap().len(),
        0,
        "% is matched literally"
    );
    assert_eq!(
        setup
            .call(
                Method::GET,
                "/api/v1/admin/users?limit=0".into(),
                admin.clone()
            )
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let one: Value = setup
        .call(
            Method::GET,
            format!("/api/v1/admin/users/{ada_id}"),
            admin.clone(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one, *ada);
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        setup
            .call(
                Method::GET,
                format!("/api/v1/admin/users/{missing}"),
                admin.clone()
            )
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        setup
            .call(
                Method::GET,
                "/api/v1/admin/users/nonsense".into(),
                admin.clone()
            )
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// Roles are set as a set; invalid input is a 422 listing every error.
async fn administrators_set_roles(backend: Backend) {
    let setup = Admin::start(backend).await;
    let Admin { admin, ada_id, .. } = &setup;
    let response = setup
        .call(
            Method::PATCH,
            format!("/api/v1/admin/users/{ada_id}"),
            admin.clone(),
        )
        .json(&json!({"roles": ["coach", "coach"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["roles"],
        json!(["coach"])
    );
    let bad = setup
        .call(
            Method::PATCH,
            format!("/api/v1/admin/users/{ada_id}"),
            admin.clone(),
        )
        .json(&json!({"roles": ["Not A Role"], "disabled": "yes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The sessions of a user; ending one, then all.
async fn administrators_end_one_or_all_sessions_of_a_user(backend: Backend) {
    let setup = Admin::start(backend).await;
    let Admin {
        app,
        admin,
        ada_id,
        ada_tokens,
        ..
    } = &setup;
    let listed: Value = setup
        .call(
            Method::GET,
            format!("/api/v1/admin/users/{ada_id}/sessions"),
            admin.clone(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sids: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(i, "id"))
        .collect();
    assert_eq!(sids.len(), 2);
    let end_one = setup
        .call(
            Method::DELETE,
            format!("/api/v1/admin/sessions/{}", sids[0]),
            admin.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(end_one.status(), 204);
    let again = setup
        .call(
            Method::DELETE,
            format!("/api/v1/admin/sessions/{}", sids[0]),
            admin.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let end_all = setup
        .call(
            Method::DELETE,
            format!("/api/v1/admin/users/{ada_id}/sessions"),
            admin.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(end_all.status(), 204);
    assert_eq!(
        refresh(app, &s(ada_tokens, "refresh_token"), &[])
            .await
            .status(),
        400
    );
}

/// Disabling ends every session at once and stops sign-in; enabling allows it again.
async fn disabling_ends_every_session_and_stops_sign_in(backend: Backend) {
    let setup = Admin::start(backend).await;
    let Admin {
        app, admin, ada_id, ..
    } = &setup;
    let ada_tokens = sign_in(app, "ada@example.com").await;
    let response = setup
        .call(
            Method::PATCH,
            format!("/api/v1/admin/users/{ada_id}"),
            admin.clone(),
        )
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["disabled"], true);
    assert_eq!(
        refresh(app, &s(&ada_tokens, "refresh_token"), &[])
            .await
            .status(),
        400
    );
    assert_eq!(app.me(&s(&ada_tokens, "access_token")).await.status(), 401);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        400
    );
    setup
        .call(
            Method::PATCH,
            format!("/api/v1/admin/users/{ada_id}"),
            admin.clone(),
        )
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}

/// An admin whose role is taken away loses access at once, whatever the token says.
async fn an_admin_whose_role_is_taken_away_loses_access_at_once(backend: Backend) {
    let setup = Admin::start(backend).await;
    let Admin { app, admin, .. } = &setup;
    let root_id = s(&app.me(admin).await.json::<Value>().await.unwrap(), "id");
    setup
        .call(
            Method::PATCH,
            format!("/api/v1/admin/users/{root_id}"),
            admin.clone(),
        )
        .json(&json!({"roles": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        setup
            .call(Method::GET, "/api/v1/admin/users".into(), admin.clone())
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
