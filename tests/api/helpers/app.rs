//! The server a test talks to: started, restarted, given a sibling, and stopped.

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse::Application;
use gatehouse::clock::{Clock, SystemClock};
use gatehouse::config::{Config, RawSettings};
use tokio::sync::oneshot;

use super::{Backend, TcpProxy, TestDatabase, postgres_url, redis_url};

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
        self.sibling_with(|_| {}).await
    }

    /// Like [`TestApp::sibling`], with settings of its own (`adjust` changes them).
    pub async fn sibling_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config.clone();
        adjust(&mut config);
        let mut app = TestApp {
            base: String::new(),
            client: reqwest::Client::new(),
            database_url: self.database_url.clone(),
            keys_dir: self.keys_dir.clone(),
            issuer: self.issuer.clone(),
            config,
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
