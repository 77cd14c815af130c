//! The metrics endpoint.

use crate::helpers::{Backend, spawn_app};

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_requests_are_made_and_carry_no_user_data() {
    let app = spawn_app(Backend::Sqlite).await;
    let scrape = || async { app.get("/metrics").await.text().await.unwrap() };
    let requests = r#"gatehouse_http_requests_total{method="GET",route="/healthz",status="200"}"#;
    let logins = r#"gatehouse_logins_total{result="success"}"#;
    let issued = r#"gatehouse_tokens_issued_total{grant="password"}"#;
    let before = scrape().await;

    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.register_user("ada@example.com", "analytical engine")
        .await;
    app.access_token("ada@example.com", "analytical engine")
        .await;
    let id = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/admin/users/{id}")).await;
    app.get("/no/such/path/ada@example.com").await;

    let after = scrape().await;
    assert!(metric(&after, requests) >= metric(&before, requests) + 3.0);
    assert!(metric(&after, logins) >= metric(&before, logins) + 1.0);
    assert!(metric(&after, issued) >= metric(&before, issued) + 1.0);
    assert!(after.contains("gatehouse_http_request_duration_seconds_bucket"));
    assert!(after.contains("gatehouse_password_hash_seconds_count"));
    assert!(after.contains(r#"route="/api/v1/admin/users/{id}""#));
    assert!(!after.contains(&id.to_string()) && !after.contains("ada@example.com"));
}

/// Every route of the API document has a label of its own, the audit log's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_counted_under_its_own_label() {
    let app = spawn_app(Backend::Sqlite).await;
    app.get("/api/v1/admin/audit").await;
    app.get("/api/v1/auth/sessions").await;

    let after = app.get("/metrics").await.text().await.unwrap();
    assert!(after.contains(r#"route="/api/v1/admin/audit""#), "{after}");
    assert!(
        after.contains(r#"route="/api/v1/auth/sessions""#),
        "{after}"
    );
}
