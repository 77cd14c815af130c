//! Starts the real server on port 0 with a database of its own, and talks HTTP to it.

mod app;
mod clients;
mod database;
mod net;
mod requests;

pub use app::{TestApp, spawn_app, spawn_app_through, spawn_app_with, spawn_app_with_clock};
pub use clients::confidential_client;
pub use database::TestDatabase;
pub use net::{TcpProxy, free_port};

use serde_json::Value;

/// Where a test keeps its data: the SQL database, and whether sessions go to Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite for everything.
    Sqlite,
    /// PostgreSQL for everything.
    Postgres,
    /// SQLite for accounts, Redis for sessions and refresh tokens.
    Redis,
}

/// The PostgreSQL server tests use, when one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The Redis server tests use, when one is configured.
pub fn redis_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The payload of a JWT, unverified.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Asserts an OAuth error response (RFC 6749 §5.2): its status and its `error` code.
/// Returns the body for further checks.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{}", response.url());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    body
}

/// Runs each named test on SQLite, on PostgreSQL, and with sessions in Redis. Without
/// the PostgreSQL or Redis URL, those cases say they did not run.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $crate::on_both_databases!($($name),*);
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::redis_url().is_none() {
                        eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set");
                        return;
                    }
                    super::$name($crate::helpers::Backend::Redis).await;
                }
            )*
        }
    };
}

/// Runs each named test once on SQLite and once on PostgreSQL. Without
/// `GATEHOUSE_TEST_DATABASE_URL` the PostgreSQL cases say they did not run.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_url().is_none() {
                        eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set");
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}
