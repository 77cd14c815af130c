//! SQL storage. One enum over the two pools; SQL text is shared where the dialects agree
//! (SQLite accepts `$1` placeholders) and split where they do not.

mod audit;
mod authorization;
mod clients;
mod email_tokens;
mod passkeys;
mod pending;
mod second_factor;
mod sessions;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqliteConnection, SqlitePool};

use super::StoreError;

/// Runs the same body against whichever pool the database is.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::sql::Database::Sqlite($pool, _) => $body,
            $crate::store::sql::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs one statement with its parameters, bound in order, on whichever pool the database
/// is; how many rows it changed.
macro_rules! execute {
    ($db:expr, $statement:expr $(, $param:expr)* $(,)?) => {
        $crate::store::sql::on_pool!($db, |pool| {
            sqlx::query($statement)
                $(.bind($param))*
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
    };
}
pub(crate) use execute;

/// Runs a write that returns at most one row (`… RETURNING`), stepped to its end. An
/// autocommit statement left after its first row — what `fetch_optional` does — commits
/// when SQLite resets it, and there SQLite skips its WAL hook: the automatic checkpoint
/// would never run, and under a steady stream of such writes (refresh tokens rotated)
/// the SQLite WAL would grow without bound.
pub(crate) async fn fetch_written<'q, 'e, 'c: 'e, DB, O, A, E>(
    query: sqlx::query::QueryAs<'q, DB, O, A>,
    executor: E,
) -> Result<Option<O>, sqlx::Error>
where
    DB: sqlx::Database,
    A: 'q + 'e + sqlx::IntoArguments<DB>,
    O: 'e + Send + Unpin + for<'r> sqlx::FromRow<'r, DB::Row>,
    E: 'e + sqlx::Executor<'c, Database = DB>,
    'q: 'e,
{
    Ok(query.fetch_all(executor).await?.into_iter().next())
}

/// The SQL database, chosen by the scheme of its URL.
#[derive(Clone, Debug)]
pub enum Database {
    /// With the turn its hot writers (session rotation and creation) queue on: SQLite has
    /// one writer at a time, and a writer that finds the database locked sleeps in SQLite's
    /// busy handler (1, 2, 5, 10 … ms), where a queue in the process wastes no time.
    Sqlite(SqlitePool, Arc<Writers>),
    Postgres(PgPool),
}

/// How long a request waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Database {
    /// Connects; a SQLite file (0600) and its folder (0700) are created when missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Internal(Box::new(e)))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let parent = options.get_filename().parent();
            if let Some(parent) = parent.filter(|p| !in_memory && !p.as_os_str().is_empty()) {
                crate::files::create_private_dir(parent)
                    .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            }
            if !in_memory {
                // The database holds password hashes and sessions: created 0600 here, not
                // by SQLite under the umask. SQLite gives its -wal and -shm files the mode
                // of the database file.
                match crate::files::create_private_file(options.get_filename()) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(StoreError::Unavailable(Box::new(e))),
                }
            }
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists once per connection.
                .max_connections(if in_memory { 1 } else { max_connections })
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            let writers = Writers {
                turn: tokio::sync::Mutex::new(None),
                own_connection: (!in_memory).then_some(options),
            };
            Ok(Self::Sqlite(pool, Arc::new(writers)))
        } else {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Internal(Box::new(e)))?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A ping before each query doubles the round trips; a broken connection
                // fails its query instead (503), and the pool drops it.
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            Ok(Self::Postgres(pool))
        }
    }

    /// Applies the migrations of this dialect that are not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match self {
            Self::Sqlite(pool, _) => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Self::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        };
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Internal(Box::new(other)),
        })?;
        self.fill_folded_keys().await
    }

    /// Holds SQLite's writers in line while the guard lives; nothing for PostgreSQL.
    /// (The hottest write, a refresh token's rotation, takes it on [`on_writer_thread`].)
    pub(crate) async fn write_turn(&self) -> Option<WriterTurn<'_>> {
        match self {
            Self::Sqlite(_, writers) => Some(writers.turn().await),
            Self::Postgres(_) => None,
        }
    }

    /// Runs a purge, a `DELETE` whose one parameter is the time before which rows go;
    /// how many went.
    pub(crate) async fn delete_before(
        &self,
        statement: &'static str,
        time: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(execute!(self, statement, time)?)
    }

    /// A round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        execute!(self, "SELECT 1")?;
        Ok(())
    }

    pub fn dialect(&self) -> &'static str {
        match self {
            Self::Sqlite(..) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// SQLite's writers' turn, and the connection the hottest write (a rotation) runs on while
/// holding it: a connection of its own, not one of the pool's, as sqlx pings a pooled
/// connection each time it goes back to the pool — one more round trip to the
/// connection's thread per statement.
#[derive(Debug)]
pub struct Writers {
    /// `None` until first used, and again after an error (the next write opens another).
    turn: tokio::sync::Mutex<Option<SqliteConnection>>,
    /// How to open it; `None` for an in-memory database, where another connection would
    /// be another database (the pool is used instead).
    own_connection: Option<SqliteConnectOptions>,
}

/// The writers' turn, while it is held.
pub(crate) type WriterTurn<'a> = tokio::sync::MutexGuard<'a, Option<SqliteConnection>>;

impl Writers {
    /// Waits for the writers' turn.
    pub(crate) async fn turn(&self) -> WriterTurn<'_> {
        self.turn.lock().await
    }

    /// The turn's own connection, opened if need be; `None` when it has none (in memory)
    /// or cannot open one now (the caller uses the pool, which reports the problem).
    pub(crate) async fn connection<'a>(
        &self,
        turn: &'a mut WriterTurn<'_>,
    ) -> Option<&'a mut SqliteConnection> {
        if turn.is_none() {
            let options = self.own_connection.as_ref()?;
            match options.connect().await {
                Ok(connection) => **turn = Some(connection),
                Err(e) => {
                    tracing::warn!(error = %e, "opening the SQLite writers' connection failed");
                    return None;
                }
            }
        }
        turn.as_mut()
    }
}

/// Runs a SQLite write on a thread of its own. A task holding the writers' turn gives it
/// back only when it runs again after its statement: on the async workers it can wait
/// there behind another request's RSA signature (up to a millisecond), with every other
/// writer queued behind it. This thread runs nothing else, so it is back at once.
pub(crate) async fn on_writer_thread<T: Send + 'static>(
    write: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    static WRITER: std::sync::OnceLock<Option<tokio::runtime::Handle>> = std::sync::OnceLock::new();
    let writer = WRITER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .ok()?;
        Some(handle)
    });
    match writer {
        Some(writer) => writer
            .spawn(write)
            .await
            .map_err(|e| StoreError::Internal(Box::new(e))),
        // No thread could be started: the write runs here.
        None => Ok(write.await),
    }
}
