//! Starts the real server on port 0 with a database of its own, and talks HTTP to it.

use std::path::PathBuf;

use gatehouse::Application;
use gatehouse::config::{Config, RawSettings};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Which SQL database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use, when one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub keys_dir: PathBuf,
    pub issuer: String,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    schema: Option<(String, String)>,
}

/// Starts a server with its own database (a SQLite file, or a PostgreSQL schema) and
/// its own keys folder. `settings` are extra `GATEHOUSE_*` pairs.
pub async fn spawn_app_with(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_through(backend, settings, None).await
}

/// Like [`spawn_app_with`], with the server reaching PostgreSQL through `proxy`.
pub async fn spawn_app_through(
    backend: Backend,
    settings: &[(&str, &str)],
    proxy: Option<&TcpProxy>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, schema) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
            None,
        ),
        Backend::Postgres => {
            let base = postgres_url().expect("GATEHOUSE_TEST_DATABASE_URL");
            let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("PostgreSQL is reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let mut url = url::Url::parse(&base).unwrap();
            if let Some(proxy) = proxy {
                url.set_host(Some("127.0.0.1")).unwrap();
                url.set_port(Some(proxy.port())).unwrap();
            }
            url.query_pairs_mut()
                .append_pair("options", &format!("-c search_path={schema}"));
            (url.to_string(), Some((base, schema)))
        }
    };
    let keys_dir = dir.path().join("keys");
    let mut pairs: Vec<(String, String)> = vec![
        ("GATEHOUSE_LISTEN".into(), "127.0.0.1:0".into()),
        ("GATEHOUSE_DATABASE_URL".into(), database_url.clone()),
        ("GATEHOUSE_KEYS_DIR".into(), keys_dir.display().to_string()),
        ("GATEHOUSE_DATABASE_MAX_CONNECTIONS".into(), "4".into()),
    ];
    pairs.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_raw(&RawSettings::from_pairs(pairs)).expect("valid test settings");
    let issuer = config.issuer.clone();
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        database_url,
        keys_dir,
        issuer,
        _dir: dir,
        shutdown: Some(tx),
        server: Some(server),
        schema,
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some((base, schema)) = self.schema.take() {
            // Dropping happens outside any runtime the test still drives.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&base).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS {schema} CASCADE"
                        )))
                        .execute(&pool)
                        .await;
                        pool.close().await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn register(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/register"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `email` with `password`, asserting success.
    pub async fn register_user(&self, email: &str, password: &str) -> Value {
        let response = self
            .register(&json!({"email": email, "name": "Test Person", "password": password}))
            .await;
        assert_eq!(response.status(), 201, "registration of {email} failed");
        response.json().await.unwrap()
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/oauth2/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn password_grant(&self, email: &str, password: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", password),
        ])
        .await
    }

    /// Signs in, asserting success, and returns the access token.
    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let response = self.password_grant(email, password).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/v1/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Runs SQL against the test's own database (for arranging states the API cannot).
    pub async fn sql(&self, statement: &str, binds: &[&str]) {
        if self.database_url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.to_string()));
            for b in binds {
                query = query.bind(b.to_string());
            }
            query.execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.to_string()));
            for b in binds {
                query = query.bind(b.to_string());
            }
            query.execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// The stored password hash of `email`.
    pub async fn stored_hash(&self, email: &str) -> String {
        let sql = "SELECT password_hash FROM users WHERE email = $1";
        if self.database_url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.database_url).await.unwrap();
            let (hash,): (String,) = sqlx::query_as(sql)
                .bind(email)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            hash
        } else {
            let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
            let (hash,): (String,) = sqlx::query_as(sql)
                .bind(email)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            hash
        }
    }

    /// The PEM of the key the server signs with (the only one in a fresh folder).
    pub fn signing_key_pem(&self) -> (String, Vec<u8>) {
        let entry = std::fs::read_dir(&self.keys_dir)
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "pem"))
            .expect("a key file");
        let kid = entry
            .path()
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        (kid, std::fs::read(entry.path()).unwrap())
    }
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

/// A TCP forwarder that a test can cut, to play a database outage.
pub struct TcpProxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = tokio::sync::watch::channel(true);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut down = state.subscribe();
                if !*down.borrow() {
                    continue; // dropped: the connection is refused
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts every open connection and refuses new ones, or lets them through again.
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}
