//! One set of session-store and pending-state tests, run unchanged against SQLite,
//! PostgreSQL and Redis.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gatehouse::domain::{Email, NewUser, Profile, Secret, Session, SessionId, UserId, UserName};
use gatehouse::store::redis::RedisSessions;
use gatehouse::store::{Database, PendingStore, Revocation, Rotation, SessionStore, UserStore};
use gatehouse::token::RefreshToken;

use crate::helpers::{TestDatabase, postgres_url, redis_url};

const IDLE: Duration = Duration::from_secs(3600);
const GRACE: Duration = Duration::from_secs(10);

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

/// A store with one user in it, and what keeps the store's backing alive.
struct Fixture {
    store: Arc<dyn SessionStore>,
    /// Short-lived states, where the same installation keeps them.
    pending: Arc<dyn PendingStore>,
    user: UserId,
    other_user: UserId,
    /// The database (or schema) and Redis prefix of this test, kept alive with it.
    db: TestDatabase,
}

impl Fixture {
    /// A session of the fixture's user, made at second 0, with its first refresh token.
    async fn started(&self) -> (Session, RefreshToken) {
        let s = session(self.user, 0);
        let first = RefreshToken::generate(s.id.clone());
        self.store.create_session(&s, first.hash()).await.unwrap();
        (s, first)
    }
}

async fn user(db: &Database, email: &str) -> UserId {
    let user = NewUser {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: UserName::parse("Store Test").unwrap(),
        password_hash: Secret::new("$argon2id$placeholder".into()),
        roles: vec![],
        email_verified: false,
        profile: Profile::default(),
        created_at: t(0),
        legacy_id: None,
    };
    db.create_user(&user).await.unwrap();
    user.id
}

async fn fixture(kind: &str) -> Option<Fixture> {
    // Sessions reference users in SQL, so every fixture has a database with two users.
    let db = match kind {
        "postgres" => TestDatabase::postgres(postgres_url()?).await,
        _ => TestDatabase::sqlite().await,
    };
    let database = Database::connect(&db.url, 2).await.unwrap();
    database.migrate().await.unwrap();
    let user_id = user(&database, "a@example.com").await;
    let other_user = user(&database, "b@example.com").await;
    let (store, pending): (Arc<dyn SessionStore>, Arc<dyn PendingStore>) = match kind {
        "redis" => {
            let url = redis_url()?;
            let prefix = db.redis_prefix();
            let redis = RedisSessions::connect(&url, &prefix, IDLE).unwrap();
            (Arc::new(redis.clone()), Arc::new(redis))
        }
        _ => (Arc::new(database.clone()), Arc::new(database)),
    };
    Some(Fixture {
        store,
        pending,
        user: user_id,
        other_user,
        db,
    })
}

fn session(user: UserId, created: i64) -> Session {
    Session {
        id: SessionId::generate(),
        user_id: user,
        client_id: "app".into(),
        scope: gatehouse::domain::Scopes::from_stored("openid profile email"),
        created_at: t(created),
        last_used_at: t(created),
        absolute_expires_at: t(created + 86_400),
        idle_expires_at: t(created + IDLE.as_secs() as i64),
        auth_time: t(created),
        // Kept as given by every store (a sign-in with a second factor).
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        ip: Some("192.0.2.7".into()),
        user_agent: Some("Mozilla/5.0 (conformance)".into()),
    }
}

fn rotation<'a>(
    session: &'a SessionId,
    presented: &RefreshToken,
    successor: &RefreshToken,
    now: i64,
) -> Rotation<'a> {
    Rotation {
        session,
        presented: presented.hash(),
        successor: successor.hash(),
        sealed: presented.seal(successor),
        client_id: "app",
        widens_scope: false,
        now: t(now),
        grace: GRACE,
        idle_ttl: IDLE,
        listed_until: t(now + 900),
    }
}

/// Ended at `at`, listed in the feed for 900 s.
fn ended(at: i64) -> Revocation {
    Revocation {
        at: t(at),
        listed_until: t(at + 900),
    }
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(super::fixture("sqlite").await.unwrap()).await;
                }
                #[tokio::test]
                async fn postgres() {
                    match super::fixture("postgres").await {
                        Some(f) => super::$name(f).await,
                        None => eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set"),
                    }
                }
                #[tokio::test]
                async fn redis() {
                    match super::fixture("redis").await {
                        Some(f) => super::$name(f).await,
                        None => eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set"),
                    }
                }
            }
        )*
    };
}

mod pending;
mod revocations;
mod rotation;
mod sessions;
