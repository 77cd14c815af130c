//! Exchanging a code when the store fails or two exchanges race.

use serde_json::Value;

use super::{Browser, PASSWORD, REDIRECT, VERIFIER, authorize_path, client, exchange, query_of};
use crate::helpers::{Backend, assert_oauth_error, spawn_app};

crate::on_every_backend!(concurrent_exchanges_of_one_code_end_the_session_it_started);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_during_the_code_exchange_leaves_the_code_usable() {
    let Some(mut redis) = crate::redis_outage::OwnRedis::for_test() else {
        return;
    };
    let app = redis.app(&[("GATEHOUSE_AUTH_CODE_TTL", "10m")]).await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    let page = browser.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();

    redis.stop();
    let during = exchange(&app, "webapp", &code, VERIFIER).await;
    assert_oauth_error(during, 503, "temporarily_unavailable").await;
    redis.spawn();

    let mut status = 0;
    for _ in 0..50 {
        status = exchange(&app, "webapp", &code, VERIFIER)
            .await
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the retry after the outage was refused");
}

/// RFC 6749 §4.1.2: two exchanges of one code sent at the same moment never leave a live
/// session behind — as for a replay that comes later, the session the code started ends. Repeated, because the race is between the winner's redemption and its
/// session being recorded.
async fn concurrent_exchanges_of_one_code_end_the_session_it_started(backend: Backend) {
    let app = spawn_app(backend).await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    // Two connections of their own, opened beforehand, so that both requests leave at once.
    let racers = [reqwest::Client::new(), reqwest::Client::new()];
    for racer in &racers {
        racer.get(app.url("/healthz")).send().await.unwrap();
    }
    let own = app.access_token("ada@example.com", PASSWORD).await;

    for attempt in 0..20 {
        let page = browser.get(&authorize_path("webapp", "")).await;
        let code = query_of(&page.location.expect("a code without consent"))["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "webapp"),
        ];
        let send =
            |racer: &reqwest::Client| racer.post(app.url("/oauth2/token")).form(&form).send();
        let (first, second) = tokio::join!(send(&racers[0]), send(&racers[1]));
        let mut answers = Vec::new();
        for answer in [first.unwrap(), second.unwrap()] {
            answers.push((
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            ));
        }
        answers.sort_by_key(|(status, _)| *status);

        // Whichever exchange learns of the other first: either the loser ends the session
        // the winner already answered with, or the winner learns of the replay before it
        // signs anything and refuses too.
        assert!(
            matches!((answers[0].0, answers[1].0), (200, 400) | (400, 400)),
            "attempt {attempt}: {answers:?}"
        );
        assert_eq!(answers[1].1["error"], "invalid_grant", "attempt {attempt}");
        let live: Value = app.get_json("/api/v1/auth/sessions", &own).await;
        assert!(
            live["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["client_id"] != "webapp"),
            "attempt {attempt}: the code's session is still live: {live}"
        );
        if answers[0].0 == 400 {
            continue;
        }
        let tokens = &answers[0].1;
        let refreshed = app
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", "webapp"),
            ])
            .await;
        assert_eq!(
            refreshed.status(),
            400,
            "attempt {attempt}: the winner's refresh token still works"
        );
        let userinfo = app
            .client
            .get(app.url("/oauth2/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(
            userinfo.status(),
            401,
            "attempt {attempt}: the winner's access token still works"
        );
    }
}
