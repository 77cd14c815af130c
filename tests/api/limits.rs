//! Rate limits and the bounded password-hashing queue, over HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::clock::ManualClock;
use serde_json::{Value, json};

use crate::helpers::{Backend, redis_url, spawn_app_with, spawn_app_with_clock};

const PASSWORD: &str = "analytical engine";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_limit_trips_at_its_count_and_resets_after_its_window() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_IP", "3/s"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_ACCOUNT", "100/min"),
        ],
        clock.clone(),
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;

    for _ in 0..3 {
        assert_eq!(
            app.password_grant("ada@example.com", "wrong password")
                .await
                .status(),
            400
        );
    }
    let limited = app.password_grant("ada@example.com", PASSWORD).await;

    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.json::<Value>().await.unwrap()["error"], "slow_down");
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let settings = [
        ("GATEHOUSE_RATE_LIMITS", "on"),
        ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_IP", "2/min"),
    ];
    let app = spawn_app_with(Backend::Sqlite, &settings).await;
    let grant = |app: &crate::helpers::TestApp, forwarded: &str| {
        app.client
            .post(app.url("/oauth2/token"))
            .header("x-forwarded-for", forwarded)
            .form(&[
                ("grant_type", "password"),
                ("username", "x@example.com"),
                ("password", "whatever pw"),
            ])
            .send()
    };
    for (i, expected) in [(1, 400), (2, 400), (3, 429)] {
        let response = grant(&app, &format!("203.0.113.{i}")).await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "attempt {i}");
    }

    // Behind a trusted proxy, each forwarded address has its own count.
    let mut behind_proxy = settings.to_vec();
    behind_proxy.push(("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"));
    let proxied = spawn_app_with(Backend::Sqlite, &behind_proxy).await;
    for i in 1..=4 {
        let response = grant(&proxied, &format!("203.0.113.{i}")).await.unwrap();
        assert_eq!(response.status(), 400, "attempt {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_account_is_slowed_down_not_locked() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_ACCOUNT", "2/min"),
        ],
        clock.clone(),
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;

    assert_eq!(
        app.password_grant("ada@example.com", "wrong password")
            .await
            .status(),
        400
    );
    assert_eq!(
        app.password_grant("ADA@example.com", "wrong password")
            .await
            .status(),
        400
    );
    let waiting = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(waiting.status(), 429, "even the right password waits");
    let wait: u64 = waiting.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // An unknown account is treated the same way: the limit reveals nothing.
    for _ in 0..2 {
        app.password_grant("nobody@example.com", "wrong password")
            .await;
    }
    assert_eq!(
        app.password_grant("nobody@example.com", "wrong password")
            .await
            .status(),
        429
    );

    clock.advance(Duration::from_secs(wait));
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200,
        "not locked"
    );
    // Success forgets the failures.
    assert_eq!(
        app.password_grant("ada@example.com", "wrong password")
            .await
            .status(),
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_the_login_page_are_limited_too() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_REGISTER_PER_IP", "2/h"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_IP", "1/min"),
        ],
    )
    .await;
    for i in 0..2 {
        app.register_user(&format!("user{i}@example.com"), PASSWORD)
            .await;
    }
    let refused = app
        .register(&json!({"email": "third@example.com", "name": "T", "password": PASSWORD}))
        .await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    assert!(refused.headers().contains_key("retry-after"));

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_string();
    let post = || {
        client
            .post(app.url("/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "user0@example.com"),
                ("password", "wrong password"),
            ])
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 422);
    let limited = post().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_share_their_counters() {
    if redis_url().is_none() {
        eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set");
        return;
    }
    let first = spawn_app_with(
        Backend::Redis,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_IP", "3/min"),
        ],
    )
    .await;
    let second = first.sibling().await;

    for app in [&first, &second, &first] {
        assert_eq!(
            app.password_grant("x@example.com", "wrong password")
                .await
                .status(),
            400
        );
    }
    assert_eq!(
        second
            .password_grant("x@example.com", "wrong password")
            .await
            .status(),
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_flood_is_shed_and_does_not_slow_the_rest() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_PASSWORD_HASH_CONCURRENCY", "1"),
            ("GATEHOUSE_PASSWORD_HASH_QUEUE", "2"),
        ],
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;

    let flood = (0..24).map(|_| app.password_grant("ada@example.com", "wrong password"));
    let probe = async {
        // Meanwhile, the JWKS and /me answer promptly (a generous bound: this is not a benchmark).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut slowest = Duration::ZERO;
        for _ in 0..5 {
            let started = Instant::now();
            assert_eq!(app.get("/.well-known/jwks.json").await.status(), 200);
            assert_eq!(app.me(&token).await.status(), 200);
            slowest = slowest.max(started.elapsed());
        }
        slowest
    };
    let (responses, slowest) = tokio::join!(futures_util::future::join_all(flood), probe);

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.contains(&503),
        "the queue was never full: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 400 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        slowest < Duration::from_millis(500),
        "JWKS and /me took {slowest:?} during the flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_current_password_is_slowed_down_too() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_ACCOUNT", "2/min"),
        ],
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let change = |current: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/password"))
            .bearer_auth(&token)
            .json(&json!({"current_password": current, "new_password": "difference engine"}))
            .send()
    };

    assert_eq!(change("guess number one").await.unwrap().status(), 422);
    assert_eq!(change("guess number two").await.unwrap().status(), 422);
    let limited = change(PASSWORD).await.unwrap();

    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}
