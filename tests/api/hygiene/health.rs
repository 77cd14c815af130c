//! Readiness, and what the server answers when its database fails or a request runs too
//! long.

use serde_json::Value;

use crate::helpers::{Backend, assert_oauth_error, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(readiness_reports_the_database,);

async fn readiness_reports_the_database(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503_and_the_server_recovers() {
    let Some(base) = crate::helpers::postgres_url() else {
        eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set");
        return;
    };
    let url = url::Url::parse(&base).unwrap();
    let target = tokio::net::lookup_host((url.host_str().unwrap(), url.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = crate::helpers::TcpProxy::start(target).await;
    let app = crate::helpers::spawn_app_through(Backend::Postgres, &[], Some(&proxy)).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let secret =
        crate::helpers::confidential_client(&app, "resource-server", &["revocation-feed"]).await;
    let feed = || {
        app.client
            .get(app.url("/api/v1/revocations"))
            .basic_auth("resource-server", Some(&secret))
            .send()
    };

    proxy.set_up(false);

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let grant = app
        .password_grant("ada@example.com", "analytical engine")
        .await;
    assert_eq!(grant.status(), 503);
    assert!(grant.headers().contains_key("retry-after"));
    let body: Value = grant.json().await.unwrap();
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "never invalid_grant during an outage"
    );
    let registration = app
        .register(
            &serde_json::json!({"email": "b@example.com", "name": "B", "password": "long enough"}),
        )
        .await;
    assert_eq!(registration.status(), 503);
    assert_eq!(
        registration.headers()["content-type"],
        "application/problem+json"
    );
    let listed = feed().await.unwrap();
    assert_eq!(
        listed.status(),
        503,
        "never 401 or an empty feed during an outage"
    );
    assert!(listed.headers().contains_key("retry-after"));

    proxy.set_up(true);

    let mut recovered = false;
    for _ in 0..50 {
        if app
            .password_grant("ada@example.com", "analytical engine")
            .await
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the server did not recover when the database came back"
    );
    assert_eq!(feed().await.unwrap().status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_request_that_runs_too_long_gets_503() {
    // One argon2 verification takes milliseconds; a 1ms budget cannot hold it.
    let app = spawn_app_with(Backend::Sqlite, &[("GATEHOUSE_REQUEST_TIMEOUT", "1ms")]).await;

    let response = app
        .password_grant("nobody@example.com", "some password")
        .await;

    assert_oauth_error(response, 503, "temporarily_unavailable").await;
}
