//! `gatehouse client`: clients created, listed, changed and deleted.

use super::run;
use crate::helpers::{Backend, spawn_app};

crate::on_both_databases!(client_permissions_are_granted_listed_and_changed);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_created_listed_and_deleted() {
    let app = spawn_app(Backend::Sqlite).await;

    let output = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "billing",
            "--grant",
            "client_credentials",
            "--scope",
            "invoices:read",
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the generated secret alone on its line"
    );
    assert!(stdout.trim_end().len() >= 43, "256 random bits");

    let short = run(
        &app,
        &["client", "create", "--id", "short", "--secret-stdin"],
        "too short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("32"));
    let given = run(
        &app,
        &["client", "create", "--id", "given", "--secret-stdin"],
        &format!("{}\n", "s".repeat(32)),
    );
    assert!(given.status.success());
    assert!(given.stdout.is_empty(), "a given secret is never printed");
    let public = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "spa",
            "--public",
            "--redirect-uri",
            "https://app.example.com/cb",
        ],
        "",
    );
    assert!(public.status.success());
    assert!(public.stdout.is_empty());
    let bad_uri = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "bad",
            "--public",
            "--redirect-uri",
            "http://evil.example.com/cb",
        ],
        "",
    );
    assert!(!bad_uri.status.success());
    let stderr = String::from_utf8(bad_uri.stderr).unwrap();
    assert!(stderr.contains("--redirect-uri"), "{stderr}");
    let duplicate = run(&app, &["client", "create", "--id", "billing"], "");
    assert!(!duplicate.status.success());
    let stderr = String::from_utf8(duplicate.stderr).unwrap();
    assert!(stderr.contains("already exists"), "{stderr}");

    let list = String::from_utf8(run(&app, &["client", "list"], "").stdout).unwrap();
    let ids: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids, ["gatehouse", "billing", "given", "spa"]);
    assert!(
        list.contains("invoices:read") && list.contains("confidential") && list.contains("public")
    );
    assert!(!list.contains(&"s".repeat(32)));

    assert!(
        run(&app, &["client", "delete", "given"], "")
            .status
            .success()
    );
    assert!(
        !run(&app, &["client", "delete", "given"], "")
            .status
            .success()
    );
    assert!(
        !run(&app, &["client", "delete", "gatehouse"], "")
            .status
            .success()
    );
}

/// `--allow` at creation and `client update --allow/--deny` later; `client list` shows them,
/// and the server honours them.
async fn client_permissions_are_granted_listed_and_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let ok = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let create = |id: &'static str, allow: &[&'static str]| {
        let mut args = vec![
            "client",
            "create",
            "--id",
            id,
            "--grant",
            "client_credentials",
        ];
        for permission in allow {
            args.extend(["--allow", permission]);
        }
        run(&app, &args, "")
    };
    let feed_secret = ok(create("feed-reader", &["revocation-feed", "introspection"]));
    let plain_secret = ok(create("plain", &[]));
    let allow_of = |id: &str| {
        let list = ok(run(&app, &["client", "list"], ""));
        let line = list
            .lines()
            .find(|l| l.starts_with(&format!("{id}\t")))
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))
            .to_string();
        line.split('\t')
            .find_map(|f| f.strip_prefix("allow="))
            .unwrap()
            .to_string()
    };
    assert_eq!(allow_of("feed-reader"), "introspection,revocation-feed");
    assert_eq!(allow_of("plain"), "-");

    // Refused: an unknown name, a public client, nothing to change, an unknown client.
    let unknown = create("typo", &["revocation_feed"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("revocation-feed"));
    let public = run(
        &app,
        &[
            "client",
            "create",
            "--id",
            "spa",
            "--public",
            "--allow",
            "introspection",
        ],
        "",
    );
    assert!(!public.status.success());
    assert!(
        !run(&app, &["client", "update", "plain"], "")
            .status
            .success()
    );
    assert!(
        !run(
            &app,
            &["client", "update", "nobody", "--allow", "introspection"],
            ""
        )
        .status
        .success()
    );

    // The server reads what the CLI wrote (these clients were never looked up before).
    let feed = |id: &str, secret: &str| {
        app.client
            .get(app.url("/api/v1/revocations"))
            .basic_auth(id, Some(secret.trim_end()))
            .send()
    };
    assert_eq!(
        feed("feed-reader", &feed_secret).await.unwrap().status(),
        200
    );
    ok(run(
        &app,
        &["client", "update", "plain", "--allow", "revocation-feed"],
        "",
    ));
    assert_eq!(allow_of("plain"), "revocation-feed");
    assert_eq!(feed("plain", &plain_secret).await.unwrap().status(), 200);
    ok(run(
        &app,
        &["client", "update", "feed-reader", "--deny", "introspection"],
        "",
    ));
    assert_eq!(allow_of("feed-reader"), "revocation-feed");
}
