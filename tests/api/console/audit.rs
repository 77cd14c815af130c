//! The audit log and the dashboard in the console.

use reqwest::StatusCode;

use super::administrator;
use crate::browser::PASSWORD;
use crate::helpers::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_filtered_newest_first_and_links_to_people() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = administrator(&app).await;
    app.register_user("ada@example.com", PASSWORD).await;
    app.password_grant("ada@example.com", "not the password")
        .await;
    app.password_grant("ada@example.com", PASSWORD).await;

    let failed = admin.get("/admin/audit?type=login.failed").await;
    assert_eq!(failed.status, StatusCode::OK);
    assert!(failed.body.contains("login.failed"));
    assert!(
        !failed.body.contains("<td>login.succeeded"),
        "{}",
        failed.body
    );
    let person = failed.body.split("href=\"/admin/users/").nth(1).unwrap();
    let id = person.split('"').next().unwrap();
    let theirs = admin.get(&format!("/admin/audit?user={id}")).await;
    assert!(theirs.body.contains("login.failed") && theirs.body.contains("login.succeeded"));
    // Newest first.
    let succeeded = theirs.body.find("login.succeeded").unwrap();
    let failed_at = theirs.body.find("<td>login.failed").unwrap();
    assert!(succeeded < failed_at);

    let future = admin.get("/admin/audit?since=2999-01-01").await;
    assert!(future.body.contains("No event matches"));
    let bad = admin.get("/admin/audit?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = admin.get("/admin/audit?type=no.such.type").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_people_sessions_and_sign_ins() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = administrator(&app).await;
    app.register_user("ada@example.com", PASSWORD).await;
    app.password_grant("ada@example.com", PASSWORD).await;
    app.password_grant("ada@example.com", "not the password")
        .await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let figure = |label: &str| {
        let start = page
            .body
            .find(label)
            .unwrap_or_else(|| panic!("{label}: {}", page.body));
        let rest = &page.body[start..];
        let dd = rest.split("<dd>").nth(1).unwrap();
        dd.split("</dd>").next().unwrap().to_string()
    };
    assert_eq!(figure("<dt>People"), "2");
    // The administrator's browser and Ada's password grant.
    assert_eq!(figure("Live sessions"), "2");
    // Registering is no sign-in: Ada's password grant is the one.
    assert_eq!(figure("Sign-ins, last 24 h"), "1");
    assert_eq!(figure("Failed sign-ins, last 24 h"), "1");
    assert!(figure("Age of the signing key").ends_with("days"));
    assert_eq!(page.body.matches("<svg").count(), 2, "two charts");
    assert_eq!(page.body.matches("<rect").count(), 48, "24 bars each");
}
