//! A test's own database, and SQL run on it for states the API cannot arrange.

use super::{TcpProxy, TestApp, redis_url};

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

    pub(super) async fn postgres_through(base: String, proxy: Option<&TcpProxy>) -> Self {
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

impl TestApp {
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

    /// The SQL expression for the current time, written as the server writes times.
    pub fn sql_now(&self) -> &'static str {
        if self.database_url.starts_with("sqlite:") {
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')"
        } else {
            "now()"
        }
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
}
