//! The revocation feed over HTTP, and the example resource server's verifier refusing
//! tokens of ended sessions within its polling interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use gatehouse::clock::{Clock, ManualClock};

use crate::helpers::{
    Backend, TestApp, claims, confidential_client, free_port, spawn_app, spawn_app_with,
    spawn_app_with_clock,
};

// The handlers' helpers (scopes, roles) are the example's business.
#[allow(dead_code)]
#[path = "../../examples/resource_server/verifier.rs"]
mod verifier;

const PASSWORD: &str = "correct horse battery staple";

async fn feed(app: &TestApp, client: &str, secret: &str, query: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/revocations{query}")))
        .basic_auth(client, Some(secret))
        .send()
        .await
        .unwrap()
}

async fn sign_in(app: &TestApp) -> Value {
    let response = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

crate::on_every_backend!(
    every_way_a_session_ends_is_listed_in_the_feed,
    replays_and_disabled_accounts_are_listed_in_the_feed,
    the_example_verifier_refuses_a_revoked_session_within_its_polling_interval,
    the_feed_needs_its_permission,
    the_feed_reads_the_time_of_the_servers_clock,
);

/// `next_since` is the server's clock less the overlap, so a server given a clock that
/// a test moves answers at the time of that clock, not of the system.
async fn the_feed_reads_the_time_of_the_servers_clock(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    let secret = confidential_client(&app, "invoices-api", &["revocation-feed"]).await;
    let next_since = |listed: Value| listed["next_since"].as_i64().unwrap();

    let response = feed(&app, "invoices-api", &secret, "").await;
    assert_eq!(response.status(), 200);
    let before = next_since(response.json().await.unwrap());
    assert_eq!(before, clock.now().timestamp() - 60);

    clock.advance(Duration::from_secs(3600));
    let response = feed(&app, "invoices-api", &secret, "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(next_since(response.json().await.unwrap()), before + 3600);
}

/// A confidential client without `revocation-feed` authenticates, and is refused with 403.
async fn the_feed_needs_its_permission(backend: Backend) {
    let app = spawn_app(backend).await;
    let without = confidential_client(&app, "billing", &["introspection"]).await;
    let with = confidential_client(&app, "invoices-api", &["revocation-feed"]).await;

    let refused = feed(&app, "billing", &without, "").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = refused.json().await.unwrap();
    assert!(text(&body, "detail").contains("revocation-feed"), "{body}");
    assert_eq!(feed(&app, "invoices-api", &with, "").await.status(), 200);
}

async fn every_way_a_session_ends_is_listed_in_the_feed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "invoices-api", &["revocation-feed"]).await;
    let signed_out = sign_in(&app).await;
    let ended_by_owner = sign_in(&app).await;
    let token_revoked = sign_in(&app).await;
    let untouched = sign_in(&app).await;
    let empty: Value = feed(&app, "invoices-api", &secret, "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["sessions"], Value::Array(vec![]));
    assert_eq!(empty["access_tokens"], Value::Array(vec![]));

    // Sign-out (refresh token revoked), the person ending a session from the API, and one
    // access token revoked on its own.
    app.revoke(text(&signed_out, "refresh_token")).await;
    let sid = |grant: &Value| claims(text(grant, "access_token"))["sid"].clone();
    let owner_token = text(&untouched, "access_token");
    let response = app
        .client
        .delete(app.url(&format!(
            "/api/v1/auth/sessions/{}",
            sid(&ended_by_owner).as_str().unwrap()
        )))
        .bearer_auth(owner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    app.revoke(text(&token_revoked, "access_token")).await;

    let response = feed(&app, "invoices-api", &secret, "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let listed: Value = response.json().await.unwrap();
    let sids: Vec<&Value> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["sid"])
        .collect();
    assert_eq!(sids.len(), 2, "{listed}");
    assert!(sids.contains(&&sid(&signed_out)) && sids.contains(&&sid(&ended_by_owner)));
    let jti = claims(text(&token_revoked, "access_token"))["jti"].clone();
    assert_eq!(listed["access_tokens"][0]["jti"], jti);
    assert_eq!(listed["access_tokens"].as_array().unwrap().len(), 1);
    let now = chrono::Utc::now().timestamp();
    for entry in listed["sessions"].as_array().unwrap() {
        assert!(
            (now - entry["ended_at"].as_i64().unwrap()).abs() <= 5,
            "{entry}"
        );
    }
    // Listed for the access tokens' lifetime plus a minute of clock leeway.
    assert_eq!(listed["listed_for"], 960);
    let next_since = listed["next_since"].as_i64().unwrap();
    assert!(next_since < now && next_since >= now - 65, "{listed}");

    // A password change ends every other session, each listed.
    let response = app
        .client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(owner_token)
        .json(&serde_json::json!({
            "current_password": PASSWORD,
            "new_password": "another long password",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let later: Value = feed(
        &app,
        "invoices-api",
        &secret,
        &format!("?since={next_since}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let later_sids: Vec<&Value> = later["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["sid"])
        .collect();
    assert!(later_sids.contains(&&sid(&token_revoked)), "{later}");
    assert!(!later_sids.contains(&&sid(&untouched)), "{later}");

    // Nothing from the future.
    let future: Value = feed(
        &app,
        "invoices-api",
        &secret,
        &format!("?since={}", now + 60),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(future["sessions"], Value::Array(vec![]));
    assert_eq!(future["access_tokens"], Value::Array(vec![]));
}

fn listed_sids(feed: &Value) -> Vec<String> {
    let mut sids: Vec<String> = feed["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions in {feed}"))
        .iter()
        .map(|s| s["sid"].as_str().unwrap().to_string())
        .collect();
    sids.sort();
    sids
}

/// A replayed refresh token (the session ends in the rotation itself) and an account an
/// administrator disables.
async fn replays_and_disabled_accounts_are_listed_in_the_feed(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        backend,
        &[("GATEHOUSE_REFRESH_REUSE_GRACE", "0s")],
        clock.clone(),
    )
    .await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let ada = app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "invoices-api", &["revocation-feed"]).await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let replayed = sign_in(&app).await;
    let disabled = [sign_in(&app).await, sign_in(&app).await];
    let sid = |grant: &Value| {
        claims(text(grant, "access_token"))["sid"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", text(&replayed, "refresh_token")),
    ];
    assert_eq!(app.token(&refresh).await.status(), 200);
    // Past the (zero) grace window, the old token again is a replay.
    clock.advance(Duration::from_secs(1));
    assert_eq!(app.token(&refresh).await.status(), 400);
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/admin/users/{}", text(&ada, "id"))))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let listed: Value = feed(&app, "invoices-api", &secret, "")
        .await
        .json()
        .await
        .unwrap();
    let mut expected = vec![sid(&replayed), sid(&disabled[0]), sid(&disabled[1])];
    expected.sort();
    assert_eq!(listed_sids(&listed), expected, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_is_only_for_confidential_clients() {
    let app = spawn_app(Backend::Sqlite).await;
    let secret = confidential_client(&app, "invoices-api", &["revocation-feed"]).await;

    let anonymous = app.get("/api/v1/revocations").await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    let wrong = feed(&app, "invoices-api", "not the secret", "").await;
    assert_eq!(wrong.status(), 401);
    let unknown = feed(&app, "nobody", &secret, "").await;
    assert_eq!(unknown.status(), 401);
    // The built-in first-party client is public: it holds no secret to prove anything with.
    assert_eq!(feed(&app, "gatehouse", "", "").await.status(), 401);

    for bad in [
        "?since=-1",
        "?since=yesterday",
        "?since=1e99",
        "?since=99999999999999",
    ] {
        let response = feed(&app, "invoices-api", &secret, bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].as_str().is_some(), "{bad}: {body}");
    }
    assert_eq!(
        feed(&app, "invoices-api", &secret, "?since=0")
            .await
            .status(),
        200
    );
}

/// The verifier of `examples/resource_server`, polling every second: after a sign-out, the
/// session's access token is refused within the interval (plus time for the request), while
/// another session's token still passes.
async fn the_example_verifier_refuses_a_revoked_session_within_its_polling_interval(
    backend: Backend,
) {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(
        backend,
        &[
            ("GATEHOUSE_LISTEN", &format!("127.0.0.1:{port}")),
            ("GATEHOUSE_ISSUER", &issuer),
        ],
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "invoices-api", &["revocation-feed"]).await;
    let interval = Duration::from_secs(1);
    let verifier = Arc::new(
        verifier::Verifier::new(&issuer, &issuer).with_revocation_feed(verifier::FeedSettings {
            client_id: "invoices-api".into(),
            client_secret: secret,
            interval,
        }),
    );
    let poller = tokio::spawn(verifier.clone().poll_forever());
    let phone = sign_in(&app).await;
    let laptop = sign_in(&app).await;
    let phone_token = text(&phone, "access_token");
    let laptop_token = text(&laptop, "access_token");
    verifier.verify(phone_token).await.unwrap();
    verifier.verify(laptop_token).await.unwrap();
    while verifier.last_poll().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    app.revoke(text(&phone, "refresh_token")).await;
    let revoked = Instant::now();
    let refused = loop {
        match verifier.verify(phone_token).await {
            Err(reason) => break reason,
            Ok(_) if revoked.elapsed() > interval * 5 => {
                panic!("still accepted {:?} after the sign-out", revoked.elapsed())
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    };
    let took = revoked.elapsed();
    eprintln!("refused {took:?} after the sign-out");
    assert_eq!(refused, "revoked");
    // One interval, and the poll's own round trip (generous on a busy machine).
    assert!(took <= interval + Duration::from_millis(1500), "{took:?}");
    verifier.verify(laptop_token).await.unwrap();

    // An access token revoked on its own goes the same way; the new session it belongs
    // to keeps working with new tokens.
    let tablet = sign_in(&app).await;
    app.revoke(text(&tablet, "access_token")).await;
    tokio::time::sleep(interval * 3).await;
    assert_eq!(
        verifier
            .verify(text(&tablet, "access_token"))
            .await
            .unwrap_err(),
        "revoked"
    );
    verifier.verify(laptop_token).await.unwrap();
    poller.abort();
}
