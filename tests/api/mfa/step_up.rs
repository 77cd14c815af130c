//! Clients asking for a stronger or fresher sign-in (RFC 9470 step-up): `acr_values`
//! asking for a second factor, `prompt=login` and `max_age` asking for the code again, and
//! the `acr` the tokens then carry.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::auth::mfa::totp::TotpSecret;
use gatehouse::clock::{Clock, ManualClock};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::browser::{Browser, VERIFIER, authorize_path, claims, client, exchange, query_of};
use crate::helpers::{Backend, TestApp, spawn_app_with_clock};

crate::on_every_backend!(
    a_client_asking_for_a_second_factor_has_one_set_up,
    prompt_login_and_max_age_ask_for_the_code_again,
);

const MFA: &str = "urn:gatehouse:acr:mfa";
const PASSWORD_ONLY: &str = "urn:gatehouse:acr:password";

/// The authorization request of the first-party client `webapp`, with `extra` parameters.
fn authorize(extra: &str) -> String {
    authorize_path("webapp", extra)
}

/// The claims of the ID and access tokens of the code `location` carries.
async fn tokens_of(app: &TestApp, location: &str) -> (Value, Value) {
    let params = query_of(location);
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("no code: {location}"));
    let tokens: Value = exchange(app, "webapp", code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    (
        claims(tokens["id_token"].as_str().expect("an ID token")),
        claims(tokens["access_token"].as_str().unwrap()),
    )
}

async fn a_client_asking_for_a_second_factor_has_one_set_up(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    client(&app, "webapp", true).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let browser = Browser::new(&app);
    let signed_in = sign_in_on_page(&browser, "ada@example.com", "/account").await;
    assert_eq!(signed_in.location.as_deref(), Some("/account"));

    // The password alone does not satisfy acr_values asking for a second factor.
    let asking = authorize(&format!("&acr_values={}", crate::browser::enc(MFA)));
    let start = browser.get(&asking).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let login = start.location.unwrap();
    assert!(login.contains("second_factor=required"), "{login}");

    // Ada has none: she sets one up on the way, and then goes back to the client.
    let enrollment = sign_in_on_page(&browser, "ada@example.com", &login).await;
    assert_eq!(enrollment.status, StatusCode::OK);
    assert!(enrollment.body.contains("<svg"), "{}", enrollment.body);
    let key = enrollment.body.split("<code>").nth(1).unwrap();
    let secret = TotpSecret::from_base32(key.split("</code>").next().unwrap()).unwrap();
    let done = answer_code_page(&browser, &enrollment, &secret.code_at(clock.now())).await;
    assert_eq!(done.body.matches("<li><code>").count(), 10, "{}", done.body);
    let back = hidden(&done.body, "return_to");
    assert!(back.is_none(), "no form after the recovery codes");
    let again = browser.get(&asking).await;
    let location = again.location.expect("a redirect to the client");
    let (id, access) = tokens_of(&app, &location).await;
    assert_eq!(id["acr"], MFA);
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(access["acr"], MFA);

    // The session now satisfies it: no sign-in the next time.
    let satisfied = browser.get(&asking).await;
    assert!(query_of(&satisfied.location.unwrap()).contains_key("code"));
}

async fn prompt_login_and_max_age_ask_for_the_code_again(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    client(&app, "webapp", true).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = enrolled(&app, &clock, "ada@example.com").await;
    let browser = Browser::new(&app);
    let asks_code = sign_in_on_page(&browser, "ada@example.com", "/account").await;
    let signed_in = answer_code_page(&browser, &asks_code, &secret.code_at(clock.now())).await;
    assert_eq!(signed_in.location.as_deref(), Some("/account"));

    for (extra, wait) in [("&prompt=login", 30), ("&max_age=60", 90)] {
        clock.advance(Duration::from_secs(wait));
        let start = browser.get(&authorize(extra)).await;
        let login = start.location.unwrap();
        assert!(login.starts_with("/login"), "{extra}: {login}");
        let asks_code = sign_in_on_page(&browser, "ada@example.com", &login).await;
        assert!(
            asks_code.body.contains(r#"name="code""#) && !asks_code.body.contains("<svg"),
            "{extra}: {}",
            asks_code.body
        );
        let back = answer_code_page(&browser, &asks_code, &secret.code_at(clock.now())).await;
        let resumed = browser.get(back.location.as_deref().unwrap()).await;
        let (id, _) = tokens_of(&app, &resumed.location.unwrap()).await;
        assert_eq!(id["auth_time"], clock.now().timestamp(), "{extra}");
        assert_eq!(id["acr"], MFA, "{extra}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_alone_satisfies_what_accepts_it() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    client(&app, "webapp", true).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let browser = Browser::new(&app);
    sign_in_on_page(&browser, "ada@example.com", "/account").await;

    // A second factor preferred, the password accepted (OIDC: in order of preference);
    // values Gatehouse does not know are passed over.
    for values in [
        format!("{MFA} {PASSWORD_ONLY}"),
        PASSWORD_ONLY.to_string(),
        "urn:example:unknown".to_string(),
    ] {
        let extra = format!("&acr_values={}", crate::browser::enc(&values));
        let answer = browser.get(&authorize(&extra)).await;
        let location = answer.location.unwrap();
        let (id, access) = tokens_of(&app, &location).await;
        assert_eq!(id["acr"], PASSWORD_ONLY, "{values}");
        assert_eq!(access["amr"], json!(["pwd"]), "{values}");
    }
    // prompt=none cannot step up: login_required, back to the client.
    let extra = format!("&prompt=none&acr_values={}", crate::browser::enc(MFA));
    let refused = browser.get(&authorize(&extra)).await;
    assert_eq!(
        query_of(&refused.location.unwrap())["error"],
        "login_required"
    );

    let discovery: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        json!([PASSWORD_ONLY, MFA])
    );
}
