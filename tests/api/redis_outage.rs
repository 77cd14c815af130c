//! Sessions in Redis when Redis goes away: 503 while it is gone, service back when it returns.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, TestApp, assert_oauth_error, confidential_client, spawn_app_with};
use crate::sessions::{PASSWORD, refresh, s, sign_in};

/// A `redis-server` of the test's own, on a free port, keeping its data in an
/// append-only file so a restart brings the sessions back.
pub(crate) struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// A Redis of the test's own when the suite runs its Redis tests
    /// (`GATEHOUSE_TEST_REDIS_URL` set); `None`, said once, when it does not.
    pub(crate) fn for_test() -> Option<Self> {
        if crate::helpers::redis_url().is_none() {
            eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set");
            return None;
        }
        Some(Self::start())
    }

    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.spawn();
        redis
    }

    pub(crate) fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A server on SQLite keeping its sessions in this Redis, with `settings` besides.
    pub(crate) async fn app(&self, settings: &[(&str, &str)]) -> TestApp {
        let url = self.url();
        let mut all = vec![("GATEHOUSE_REDIS_URL", url.as_str())];
        all.extend_from_slice(settings);
        spawn_app_with(Backend::Sqlite, &all).await
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_gives_503_and_service_resumes_when_it_returns() {
    let Some(mut redis) = OwnRedis::for_test() else {
        return;
    };
    let app = redis.app(&[]).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(
        &app,
        "resource-server",
        &["introspection", "revocation-feed"],
    )
    .await;
    let tokens = sign_in(&app, "ada@example.com").await;
    let tokens: Value = refresh(&app, &s(&tokens, "refresh_token"), &[])
        .await
        .json()
        .await
        .unwrap();

    redis.stop();

    let response = refresh(&app, &s(&tokens, "refresh_token"), &[]).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    let revoke = app
        .client
        .post(app.url("/oauth2/revoke"))
        .form(&[("token", s(&tokens, "refresh_token"))])
        .send()
        .await
        .unwrap();
    assert_oauth_error(revoke, 503, "temporarily_unavailable").await;
    let introspection = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("resource-server", Some(&secret))
        .form(&[("token", s(&tokens, "access_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(
        introspection.status(),
        503,
        "never `active: false` for a token that may be fine"
    );
    let feed = || {
        app.client
            .get(app.url("/api/v1/revocations"))
            .basic_auth("resource-server", Some(&secret))
            .send()
    };
    let response = feed().await.unwrap();
    assert_eq!(
        response.status(),
        503,
        "never an empty feed that may be wrong"
    );
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        503
    );
    assert_eq!(app.me(&s(&tokens, "access_token")).await.status(), 503);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["redis"], "unavailable");

    redis.spawn();

    let mut renewed = None;
    for _ in 0..50 {
        let response = refresh(&app, &s(&tokens, "refresh_token"), &[]).await;
        if response.status() == 200 {
            renewed = Some(response.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(response.status(), 503, "only 503 while Redis comes back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let renewed = renewed.expect("service resumed when Redis returned");
    assert_eq!(app.me(&s(&renewed, "access_token")).await.status(), 200);
    assert_eq!(feed().await.unwrap().status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}
