//! Starts the real server on port 0 with a database of its own, and talks HTTP to it.

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse::Application;
use gatehouse::clock::{Clock, SystemClock};
use gatehouse::config::{Config, RawSettings};
use serde_json::{Value, json};
use tokio::sync::oneshot;

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

/// A database of one test's own — a SQLite file or a PostgreSQL schema — and a Redis key
/// prefix of its own; all removed when dropped.
pub struct TestDatabase {
    pub url: String,
    pub dir: tempfile::TempDir,
    schema: Option<(String, String)>,
    prefix: String,
}

impl TestDatabase {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            url: format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
            dir,
            schema: None,
            prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub async fn postgres(base: String) -> Self {
        Self::postgres_through(base, None).await
    }

    async fn postgres_through(base: String, proxy: Option<&TcpProxy>) -> Self {
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
        Self {
            url: url.to_string(),
            dir: tempfile::tempdir().unwrap(),
            prefix: format!("test-{schema}"),
            schema: Some((base, schema)),
        }
    }

    /// The Redis key prefix of this test.
    pub fn redis_prefix(&self) -> String {
        self.prefix.clone()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let schema = self.schema.take();
        let prefix = self.prefix.clone();
        // Clean-up runs outside whatever runtime the test is driving.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Some((base, schema)) = schema
                    && let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&base).await
                {
                    // A lock held by a forgotten transaction must not hang the suite.
                    let _ = sqlx::query("SET lock_timeout = '10s'")
                        .execute(&mut conn)
                        .await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                }
                if let Some(url) = redis_url()
                    && let Ok(client) = redis::Client::open(url)
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}:*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            });
        })
        .join()
        .ok();
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    pub keys_dir: PathBuf,
    pub issuer: String,
    pub config: Config,
    /// The clock the server reads (the system clock unless the test passed its own).
    clock: Arc<dyn Clock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Kept for its clean-up when the test ends (a sibling shares it and holds none).
    _db: Option<TestDatabase>,
}

/// Starts a server with its own database (a SQLite file, or a PostgreSQL schema), its
/// own keys folder and, for [`Backend::Redis`], its own Redis key prefix. `settings` are
/// extra `GATEHOUSE_*` pairs.
pub async fn spawn_app_with(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_through(backend, settings, None).await
}

/// Like [`spawn_app_with`], with the server reaching PostgreSQL through `proxy`.
pub async fn spawn_app_through(
    backend: Backend,
    settings: &[(&str, &str)],
    proxy: Option<&TcpProxy>,
) -> TestApp {
    spawn_app_on(backend, settings, proxy, Arc::new(SystemClock)).await
}

/// Like [`spawn_app_with`], with the server reading the time from `clock`: a test that
/// passes a [`gatehouse::clock::ManualClock`] moves time instead of waiting for it.
pub async fn spawn_app_with_clock(
    backend: Backend,
    settings: &[(&str, &str)],
    clock: Arc<dyn Clock>,
) -> TestApp {
    spawn_app_on(backend, settings, None, clock).await
}

async fn spawn_app_on(
    backend: Backend,
    settings: &[(&str, &str)],
    proxy: Option<&TcpProxy>,
    clock: Arc<dyn Clock>,
) -> TestApp {
    let db = match backend {
        Backend::Sqlite | Backend::Redis => TestDatabase::sqlite().await,
        Backend::Postgres => {
            let base = postgres_url().expect("GATEHOUSE_TEST_DATABASE_URL");
            TestDatabase::postgres_through(base, proxy).await
        }
    };
    let keys_dir = db.dir.path().join("keys");
    let mut pairs: Vec<(String, String)> = vec![
        ("GATEHOUSE_LISTEN".into(), "127.0.0.1:0".into()),
        ("GATEHOUSE_DATABASE_URL".into(), db.url.clone()),
        ("GATEHOUSE_KEYS_DIR".into(), keys_dir.display().to_string()),
        (
            "GATEHOUSE_MAIL_DIR".into(),
            db.dir.path().join("mail").display().to_string(),
        ),
        ("GATEHOUSE_DATABASE_MAX_CONNECTIONS".into(), "4".into()),
        // Most tests sign in many times from one address; the limits have tests of their own.
        ("GATEHOUSE_RATE_LIMITS".into(), "off".into()),
    ];
    if backend == Backend::Redis {
        let url = redis_url().expect("GATEHOUSE_TEST_REDIS_URL");
        pairs.push(("GATEHOUSE_REDIS_URL".into(), url));
        pairs.push(("GATEHOUSE_REDIS_KEY_PREFIX".into(), db.redis_prefix()));
    }
    pairs.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_raw(&RawSettings::from_pairs(pairs)).expect("valid test settings");
    let mut app = TestApp {
        base: String::new(),
        client: reqwest::Client::new(),
        database_url: db.url.clone(),
        keys_dir,
        issuer: config.issuer.clone(),
        config,
        clock,
        shutdown: None,
        server: None,
        _db: Some(db),
    };
    app.start().await;
    app
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop_now();
    }
}

impl TestApp {
    async fn start(&mut self) {
        show_server_logs();
        let app = Application::build_with_clock(self.config.clone(), self.clock.clone())
            .await
            .expect("the server starts");
        self.base = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel();
        self.server = Some(tokio::spawn(app.run_until(async {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Stops the server gracefully and starts a new one on the same data.
    pub async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.start().await;
    }

    /// A second server on the same database, keys folder and Redis prefix, as a second
    /// instance behind a load balancer would be.
    pub async fn sibling(&self) -> TestApp {
        let mut app = TestApp {
            base: String::new(),
            client: reqwest::Client::new(),
            database_url: self.database_url.clone(),
            keys_dir: self.keys_dir.clone(),
            issuer: self.issuer.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
            shutdown: None,
            server: None,
            _db: None,
        };
        app.start().await;
        app
    }

    /// The library's use cases over this test's data (as the CLI would see them).
    pub async fn core(&self) -> gatehouse::Core {
        gatehouse::Core::open(self.config.clone()).await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A plain GET of one of the server's paths.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
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

    /// A form POST to one of the server's paths, with HTTP Basic client credentials when
    /// `client` is given (RFC 6749 §2.3.1).
    pub async fn post_form<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        form: &T,
        client: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).form(form);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
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

    /// Registers a public client for the code flow (with refresh tokens), as an app in a
    /// browser or on a device is.
    pub async fn register_public_app(
        &self,
        id: &str,
        redirect_uri: &str,
        post_logout_redirect_uris: &[&str],
        first_party: bool,
    ) {
        self.core()
            .await
            .clients
            .create(
                gatehouse::oauth::NewClient {
                    id: id.into(),
                    public: true,
                    secret: None,
                    redirect_uris: vec![redirect_uri.into()],
                    post_logout_redirect_uris: post_logout_redirect_uris
                        .iter()
                        .map(|u| u.to_string())
                        .collect(),
                    grants: vec!["authorization_code".into(), "refresh_token".into()],
                    scopes: vec![],
                    permissions: vec![],
                    first_party,
                },
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }

    /// Gives the account `email` the `admin` role (registration never does).
    pub async fn make_admin(&self, email: &str) {
        self.sql(
            r#"UPDATE users SET roles = '["admin"]' WHERE email = $1"#,
            &[email],
        )
        .await;
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

/// Registers a confidential client with the permissions `allow` and returns its secret.
pub async fn confidential_client(app: &TestApp, id: &str, allow: &[&str]) -> String {
    let secret = app
        .core()
        .await
        .clients
        .create(
            gatehouse::oauth::NewClient {
                id: id.into(),
                public: false,
                secret: None,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: vec!["refresh_token".into(), "password".into()],
                scopes: vec![],
                permissions: allow.iter().map(|p| p.to_string()).collect(),
                first_party: false,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("a generated secret");
    secret.expose().clone()
}

/// Asserts an OAuth error response (RFC 6749 §5.2): its status and its `error` code.
/// Returns the body for further checks.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{}", response.url());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    body
}

/// With `TEST_LOG` set (and not `0`), the server's logs go to the test's output, which
/// the harness shows for a failing test (for every test with `-- --nocapture`).
/// `RUST_LOG` picks what is shown, `info` by default.
fn show_server_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            // The test writer prints through the harness's capture, so each test's lines
            // appear under that test and not mixed into the others'.
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
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

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
