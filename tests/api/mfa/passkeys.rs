//! Passkeys over HTTP, with a software authenticator (webauthn-authenticator-rs's
//! `SoftPasskey`, which signs as a real one would): registering one through the API, using
//! it as the second step on the login page, removing it; and the refusals — another
//! origin, a ceremony used twice, a credential that is not registered, a counter gone back.
//! Signing in with a passkey alone (a discoverable credential) is driven in Chromium.

use std::sync::Arc;

use gatehouse::clock::ManualClock;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

use super::*;
use crate::browser::Browser;
use crate::helpers::{Backend, TestApp, spawn_app_with_clock};

crate::on_every_backend!(a_passkey_is_registered_used_as_the_second_step_and_removed);

/// The origin the test app's pages are served from (its issuer).
fn origin(app: &TestApp) -> Url {
    Url::parse(&app.issuer).unwrap()
}

/// A software authenticator that says it verified the user.
fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

async fn api(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/auth/passkeys{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Starts a registration named `name`; the ceremony id and the options.
async fn start(app: &TestApp, token: &str, name: &str) -> (String, CreationChallengeResponse) {
    let begun = api(
        app,
        token,
        "/registration",
        json!({"name": name, "password": PASSWORD}),
    )
    .await;
    assert_eq!(begun.status(), 200);
    let begun: Value = begun.json().await.unwrap();
    let selection = &begun["public_key"]["publicKey"]["authenticatorSelection"];
    // A discoverable credential with user verification, as passkeys must be.
    assert_eq!(selection["residentKey"], "required", "{begun}");
    assert_eq!(selection["userVerification"], "required", "{begun}");
    let mut options: CreationChallengeResponse =
        serde_json::from_value(begun["public_key"].clone()).unwrap();
    // The software authenticator keeps no resident keys; the server's check of the
    // answer does not depend on it.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.require_resident_key = false;
        selection.resident_key = None;
    }
    (begun["ceremony_id"].as_str().unwrap().to_string(), options)
}

/// Registers a passkey of `key` through the API, as a browser at `at` would.
async fn register(
    app: &TestApp,
    token: &str,
    key: &mut SoftPasskey,
    at: &Url,
) -> reqwest::Response {
    let (ceremony, options) = start(app, token, "Laptop").await;
    let credential = key
        .do_registration(at.clone(), options)
        .expect("the authenticator registers");
    api(
        app,
        token,
        "/registration/finish",
        json!({"ceremony_id": ceremony, "credential": credential}),
    )
    .await
}

/// The login page's passkey step for a browser whose sign-in waits for it: the answer of
/// `/login/passkey/step/finish`.
async fn passkey_step(
    browser: &Browser<'_>,
    csrf: &str,
    key: &mut SoftPasskey,
    at: &Url,
) -> crate::browser::Page {
    let begun = browser.post("/login/passkey/step", &[("csrf", csrf)]).await;
    assert_eq!(begun.status, reqwest::StatusCode::OK, "{}", begun.body);
    let begun: Value = serde_json::from_str(&begun.body).unwrap();
    let options: RequestChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    let credential = key
        .do_authentication(at.clone(), options)
        .expect("the authenticator signs");
    let credential = serde_json::to_string(&credential).unwrap();
    browser
        .post(
            "/login/passkey/step/finish",
            &[
                ("csrf", csrf),
                ("credential", &credential),
                ("return_to", "/account"),
            ],
        )
        .await
}

async fn a_passkey_is_registered_used_as_the_second_step_and_removed(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let mut key = authenticator();

    let added = register(&app, &token, &mut key, &origin(&app)).await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["name"], "Laptop");
    let listed = app.get_json("/api/v1/auth/passkeys", &token).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(status(&app, &token).await["passkeys"][0]["id"], added["id"]);
    mailed(&app, "A passkey was added to your account").await;

    // A passkey is a second factor: the password alone no longer signs in, and the
    // password grant's code step cannot use a passkey — it says so.
    let token_for_code = mfa_token(&app, "ada@example.com").await;
    let no_code = second_step(&app, &token_for_code, "123456").await;
    assert_eq!(no_code.status(), 400);
    let no_code: Value = no_code.json().await.unwrap();
    assert_eq!(no_code["error"], "invalid_grant");
    assert!(
        no_code["error_description"]
            .as_str()
            .unwrap()
            .contains("passkey"),
        "{no_code}"
    );

    // On the login page it answers the second step.
    let browser = Browser::new(&app);
    let page = sign_in_on_page(&browser, "ada@example.com", "/account").await;
    assert!(
        page.body.contains(r#"data-passkey="step""#),
        "{}",
        page.body
    );
    let done = passkey_step(&browser, &page.csrf(), &mut key, &origin(&app)).await;
    assert_eq!(done.status, reqwest::StatusCode::OK, "{}", done.body);
    assert_eq!(
        serde_json::from_str::<Value>(&done.body).unwrap()["redirect"],
        "/account"
    );
    assert_eq!(
        browser.get("/account").await.status,
        reqwest::StatusCode::OK
    );
    let used = app.get_json("/api/v1/auth/passkeys", &token).await;
    assert!(used["items"][0]["last_used_at"].is_string(), "{used}");

    let id = added["id"].as_str().unwrap();
    let removed = app
        .client
        .delete(app.url(&format!("/api/v1/auth/passkeys/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/auth/passkeys/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_do_not_hold_are_refused() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;

    // Another origin of the relying party's domain (another scheme, another port): the
    // authenticator signs, the server refuses.
    let mut key = authenticator();
    for elsewhere in ["https://localhost:8080", "http://localhost:9999"] {
        let elsewhere = Url::parse(elsewhere).unwrap();
        let refused = register(&app, &token, &mut key, &elsewhere).await;
        assert_eq!(refused.status(), 422, "{elsewhere}");
    }

    // A ceremony is used once.
    let (ceremony, options) = start(&app, &token, "Phone").await;
    let credential = key.do_registration(origin(&app), options).unwrap();
    let body = json!({"ceremony_id": ceremony, "credential": credential});
    assert_eq!(
        api(&app, &token, "/registration/finish", body.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        api(&app, &token, "/registration/finish", body)
            .await
            .status(),
        422
    );
    // Not a credential at all; a name that is not one.
    let (ceremony, _) = start(&app, &token, "Tablet").await;
    let junk = json!({"ceremony_id": ceremony, "credential": {"id": "x"}});
    assert_eq!(
        api(&app, &token, "/registration/finish", junk)
            .await
            .status(),
        422
    );
    let unnamed = api(
        &app,
        &token,
        "/registration",
        json!({"name": " ", "password": PASSWORD}),
    )
    .await;
    assert_eq!(unnamed.status(), 422);
    let wrong = api(
        &app,
        &token,
        "/registration",
        json!({"name": "X", "password": "not it at all"}),
    )
    .await;
    assert_eq!(wrong.status(), 422);

    // A credential that is not the account's (Eve's, registered to her) does not answer
    // Ada's second step, even signing Ada's challenge.
    app.register_user("eve@example.com", PASSWORD).await;
    let eve_token = app.access_token("eve@example.com", PASSWORD).await;
    let mut eves_key = authenticator();
    let (ceremony, options) = start(&app, &eve_token, "Eve's").await;
    let eves = eves_key.do_registration(origin(&app), options).unwrap();
    let eves_id = serde_json::to_value(&eves).unwrap()["rawId"].clone();
    let body = json!({"ceremony_id": ceremony, "credential": eves});
    assert_eq!(
        api(&app, &eve_token, "/registration/finish", body)
            .await
            .status(),
        200
    );
    let browser = Browser::new(&app);
    let page = sign_in_on_page(&browser, "ada@example.com", "/account").await;
    let csrf = page.csrf();
    let begun = browser
        .post("/login/passkey/step", &[("csrf", &csrf)])
        .await;
    let mut begun: Value = serde_json::from_str(&begun.body).unwrap();
    begun["options"]["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": eves_id}]);
    let options: RequestChallengeResponse =
        serde_json::from_value(begun["options"].clone()).unwrap();
    let forged = eves_key.do_authentication(origin(&app), options).unwrap();
    let forged = serde_json::to_string(&forged).unwrap();
    let refused = browser
        .post(
            "/login/passkey/step/finish",
            &[
                ("csrf", &csrf),
                ("credential", &forged),
                ("return_to", "/account"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        browser.get("/account").await.location.is_some(),
        "not signed in"
    );

    // Passwordless sign-in with an answer that is no credential, or an unknown ceremony.
    let unknown = browser
        .post(
            "/login/passkey/finish",
            &[
                ("csrf", &csrf),
                ("ceremony", "nothing"),
                ("credential", "{}"),
            ],
        )
        .await;
    assert_eq!(
        unknown.status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    let begun = browser.post("/login/passkey", &[("csrf", &csrf)]).await;
    let begun: Value = serde_json::from_str(&begun.body).unwrap();
    assert_eq!(
        begun["options"]["publicKey"]["userVerification"],
        "required"
    );
    let ceremony = begun["ceremony"].as_str().unwrap();
    let garbage = browser
        .post(
            "/login/passkey/finish",
            &[
                ("csrf", &csrf),
                ("ceremony", ceremony),
                ("credential", "not json"),
            ],
        )
        .await;
    assert_eq!(garbage.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    // The ceremony was spent by that answer.
    let spent = browser
        .post(
            "/login/passkey/finish",
            &[
                ("csrf", &csrf),
                ("ceremony", ceremony),
                ("credential", "{}"),
            ],
        )
        .await;
    assert_eq!(spent.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    // Without the page's CSRF token nothing is looked at.
    let forged = browser.post("/login/passkey", &[("csrf", "nope")]).await;
    assert_eq!(forged.status, reqwest::StatusCode::FORBIDDEN);
}

/// A passkey whose signature counter goes back, as a copied authenticator's would, is
/// refused and the clone warning audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_gone_back_is_refused_and_audited() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    app.make_admin("ada@example.com").await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let mut key = authenticator();
    assert_eq!(
        register(&app, &token, &mut key, &origin(&app))
            .await
            .status(),
        200
    );

    // The server has seen a higher count than this authenticator will send.
    let core = app.core().await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    let user = gatehouse::domain::UserId::parse(me["id"].as_str().unwrap()).unwrap();
    let stored = gatehouse::store::PasskeyStore::passkeys(&core.db, user)
        .await
        .unwrap();
    let mut credential: Value = serde_json::from_slice(&stored[0].credential).unwrap();
    credential["cred"]["counter"] = json!(1000);
    gatehouse::store::PasskeyStore::passkey_used(
        &core.db,
        stored[0].id,
        credential.to_string().as_bytes(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();

    let browser = Browser::new(&app);
    let page = sign_in_on_page(&browser, "ada@example.com", "/account").await;
    let refused = passkey_step(&browser, &page.csrf(), &mut key, &origin(&app)).await;
    assert_eq!(
        refused.status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        browser.get("/account").await.location.is_some(),
        "not signed in"
    );
    let audit = app
        .get_json("/api/v1/admin/audit?type=passkey.clone_warning", &token)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
}

/// A role that requires a second factor keeps the last one; an administrator's reset
/// removes passkeys with the rest; both ends are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_passkey_of_a_required_role_stays_until_an_administrator_resets_it() {
    let clock = Arc::new(ManualClock::starting_now());
    let policy = [("GATEHOUSE_MFA_REQUIRED_ROLES", "coach")];
    let app = spawn_app_with_clock(Backend::Sqlite, &policy, clock.clone()).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let ada: Value = app.register_user("ada@example.com", PASSWORD).await;
    let ada_id = ada["id"].as_str().unwrap().to_string();
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let mut key = authenticator();
    let added: Value = register(&app, &token, &mut key, &origin(&app))
        .await
        .json()
        .await
        .unwrap();
    let coach = app
        .client
        .patch(app.url(&format!("/api/v1/admin/users/{ada_id}")))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["coach"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(coach.status(), 200);

    let id = added["id"].as_str().unwrap();
    let kept = app
        .client
        .delete(app.url(&format!("/api/v1/auth/passkeys/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 409, "the role's only second factor");

    let reset = app
        .client
        .delete(app.url(&format!("/api/v1/admin/users/{ada_id}/mfa")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    // Her sessions ended with it; what is stored says the passkey is gone.
    assert_eq!(app.me(&token).await.status(), 401);
    let core = app.core().await;
    let user = gatehouse::domain::UserId::parse(&ada_id).unwrap();
    let left = gatehouse::store::PasskeyStore::passkeys(&core.db, user)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    let events = |kind: &'static str| {
        let app = &app;
        let admin = &admin;
        let ada_id = &ada_id;
        async move {
            let page = app
                .get_json(
                    &format!("/api/v1/admin/audit?type={kind}&user={ada_id}"),
                    admin,
                )
                .await;
            page["items"].as_array().map(Vec::len).unwrap_or(0)
        }
    };
    assert_eq!(events("passkey.added").await, 1);
    assert_eq!(events("mfa.reset").await, 1);
}
