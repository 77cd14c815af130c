//! Wiring: configuration in, a bound server out. Tests build it on port 0.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, AcceptorExt, BoxAcceptor, Listener, TcpListener};
use poem::{EndpointExt, Server};

use crate::audit::Audit;
use crate::auth::caches::{self, Caches};
use crate::auth::legacy::LegacyTokens;
use crate::auth::mfa::FactorStores;
use crate::auth::mfa::sealed::SealingKey;
use crate::auth::{
    Accounts, Administration, Dashboard, EmailLinks, Login, MailedLinks, PasswordHasher,
    SecondFactors, SelfService, SessionSettings, Sessions, SignUp, SigningKeys,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::connections::{Drain, LimitedAcceptor, close_when_draining};
use crate::http::tls::TlsAcceptor;
use crate::http::{self, AppState, Services};
use crate::limits::Limiter;
use crate::mail::{MailSettings, Mailer};
use crate::oauth::{ClientRegistry, OAuth, OAuthParts};
use crate::store::redis::RedisSessions;
use crate::store::{
    AuthorizationStore, Database, EmailTokenStore, LocalCounters, PendingStore, RateCounters,
    SessionStore,
};
use crate::token::{IgnoredFile, KeyFolder, Keys, TokenSigner, TokenVerifier};

/// How long in-flight requests may run after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// After a shutdown signal, how long open connections are still read: a request a client
/// wrote just before (or just after) the signal is answered, with `Connection: close`.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// How often expired sessions and revoked-token records are deleted from SQL.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// The parts every command needs: storage and the account, session and client use cases.
pub struct Core {
    pub config: Arc<Config>,
    pub db: Database,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub clients: ClientRegistry,
    pub limiter: Limiter,
    pub audit: Audit,
    /// The one sign-in sequence, shared by the pages and the password grant.
    pub login: Login,
    /// What administrators do to accounts and sessions (admin API and command line).
    pub admin: Administration,
    /// Second factors: enrolling, removing, checking codes.
    pub second_factors: SecondFactors,
    pub clock: Arc<dyn Clock>,
    /// What this instance remembers of sessions, tokens and accounts.
    pub caches: Caches,
    /// Whether sessions live in Redis (else in the database).
    pub redis: bool,
}

impl Core {
    /// Connects to the database, applies migrations and prepares password hashing; sends
    /// no mail (the command line).
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        Self::open_with(config, Arc::new(SystemClock), None).await
    }

    /// Like [`Core::open`], reading the time from `clock` (tests pass one they can move),
    /// and telling people of changes to their second factors through `mailer` (the
    /// server's).
    pub async fn open_with(
        config: Config,
        clock: Arc<dyn Clock>,
        mailer: Option<Mailer>,
    ) -> anyhow::Result<Self> {
        // The dummy hash (one argon2 run) is computed while the database connects.
        let hasher = tokio::task::spawn_blocking({
            let passwords = config.passwords;
            move || {
                PasswordHasher::with_queue(
                    passwords.argon2,
                    passwords.hash_concurrency,
                    passwords.hash_queue,
                )
            }
        });
        let store = &config.store;
        let db = Database::connect(store.database_url.expose(), store.database_max_connections)
            .await
            .context("cannot open the database (GATEHOUSE_DATABASE_URL)")?;
        db.migrate()
            .await
            .context("cannot apply database migrations")?;
        let hasher = hasher.await?.context("invalid argon2 settings")?;
        let caches = Caches::new(store.cache_sync_interval);
        let accounts = Accounts::new(Arc::new(db.clone()), hasher, clock.clone())
            .requiring_verified_email(config.accounts.require_verified_email)
            .with_caches(caches.clone());
        accounts
            .refresh_refusal_cost()
            .await
            .context("cannot read the stored password hashes")?;
        let redis_sessions = match &store.redis_url {
            Some(url) => Some(
                RedisSessions::connect(
                    url.expose(),
                    &store.redis_key_prefix,
                    config.tokens.refresh_token_idle_ttl,
                )
                .context("invalid GATEHOUSE_REDIS_URL")?,
            ),
            None => None,
        };
        let session_store: Arc<dyn SessionStore> = match &redis_sessions {
            Some(redis) => Arc::new(redis.clone()),
            None => Arc::new(db.clone()),
        };
        let sessions = Sessions::new(
            session_store,
            clock.clone(),
            SessionSettings {
                idle_ttl: config.tokens.refresh_token_idle_ttl,
                max_ttl: config.tokens.refresh_token_max_ttl,
                reuse_grace: config.tokens.refresh_reuse_grace,
                // A minute beyond the access tokens' lifetime covers verifiers' clock leeway.
                listed_for: config.tokens.access_token_ttl + Duration::from_secs(60),
            },
        )
        .with_caches(caches.clone());
        let clients = ClientRegistry::new(Arc::new(db.clone()));
        let counters: Arc<dyn RateCounters> = match &redis_sessions {
            Some(redis) => Arc::new(redis.counters()),
            None => Arc::new(LocalCounters::new(clock.clone())),
        };
        let limiter = Limiter::new(counters, config.limits);
        let audit = Audit::new(Arc::new(db.clone()), clock.clone());
        let sealing_key = match &config.accounts.mfa_encryption_key {
            Some(key) => key.clone(),
            None => SealingKey::from_dir(&config.keys.dir)
                .context("cannot read or create mfa.key (GATEHOUSE_KEYS_DIR)")?,
        };
        let pending: Arc<dyn PendingStore> = match &redis_sessions {
            Some(redis) => Arc::new(redis.clone()),
            None => Arc::new(db.clone()),
        };
        let second_factors = SecondFactors::new(
            FactorStores {
                factors: Arc::new(db.clone()),
                passkeys: Arc::new(db.clone()),
                pending: pending.clone(),
            },
            sealing_key,
            accounts.clone(),
            limiter.clone(),
            audit.clone(),
            clock.clone(),
            &config.issuer,
        )
        .requiring_for(&config.accounts.mfa_required_roles);
        let second_factors = match &config.passkeys.relying_party {
            Some(party) => second_factors.with_passkeys(
                crate::auth::mfa::passkeys::webauthn(party)
                    .context("cannot set up passkeys for the issuer (GATEHOUSE_PASSKEY_RP_ID)")?,
            ),
            None => second_factors,
        };
        let second_factors = match mailer {
            Some(mailer) => second_factors.with_mailer(mailer),
            None => second_factors,
        };
        let login = Login::new(
            accounts.clone(),
            sessions.clone(),
            limiter.clone(),
            audit.clone(),
            second_factors.clone(),
        );
        let login = match &config.legacy.hs256_secret {
            Some(secret) => login.with_legacy_tokens(
                LegacyTokens::new(
                    secret,
                    config.legacy.tokens_until,
                    pending.clone(),
                    clock.clone(),
                )
                .context("cannot use GATEHOUSE_LEGACY_HS256_SECRET")?,
            ),
            None => login,
        };
        let admin = Administration::new(
            accounts.clone(),
            sessions.clone(),
            clients.clone(),
            audit.clone(),
            clock.clone(),
            second_factors.clone(),
        );
        Ok(Self {
            redis: config.store.redis_url.is_some(),
            admin,
            second_factors,
            config: Arc::new(config),
            db,
            accounts,
            sessions,
            clients,
            limiter,
            audit,
            login,
            clock,
            caches,
        })
    }
}

/// A server bound to its address, ready to run.
pub struct Application {
    acceptor: BoxAcceptor,
    local_addr: SocketAddr,
    state: AppState,
    folder: KeyFolder,
    reload_interval: Duration,
    caches: Caches,
}

impl Application {
    /// Checks the configuration against the file system, opens the database, loads (in
    /// development, creates) the signing keys and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Like [`Application::build`], reading the time from `clock`: a test that passes a
    /// clock it can move sees expiry without waiting for it.
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        config.check_keys_present()?;
        let folder = config.keys.folder();
        let now = clock.now();
        if let Some(warning) = config.legacy.warning(now) {
            tracing::warn!("{warning}");
        }
        if !config.is_production() {
            folder
                .ensure_key(now)
                .context("cannot create a signing key (GATEHOUSE_KEYS_DIR)")?;
        }
        let keys = folder
            .load(now)
            .context("cannot load signing keys (GATEHOUSE_KEYS_DIR)")?;
        let mailer = Mailer::start(MailSettings::from_config(&config.mail)?)?;
        let core = Core::open_with(config, clock, Some(mailer.clone())).await?;
        let caches = core.caches.clone();
        let config = core.config.clone();
        let keys = Keys::new(keys);
        let oauth = OAuth::new(OAuthParts {
            accounts: core.accounts.clone(),
            sessions: core.sessions.clone(),
            clients: core.clients.clone(),
            audit: core.audit.clone(),
            login: core.login.clone(),
            authorizations: Arc::new(core.db.clone()),
            signer: TokenSigner::new(keys.clone()),
            verifier: TokenVerifier::new(keys.clone(), &config.issuer, &config.tokens.audience),
            clock: core.clock.clone(),
            issuer: config.issuer.clone(),
            tokens: config.tokens.clone(),
            oauth: config.oauth.clone(),
        });
        if let Some(why) = &config.passkeys.off_because {
            tracing::info!("passkeys are off: {why}");
        }
        if config.mail.smtp_url.is_none() {
            let message = "no GATEHOUSE_SMTP_URL: mail is written to files, not sent";
            if config.is_production() {
                tracing::warn!(folder = mailer.destination(), "{message}");
            } else {
                tracing::info!(folder = mailer.destination(), "{message}");
            }
        }
        let email_links = EmailLinks::new(
            Arc::new(core.db.clone()),
            core.clock.clone(),
            config.accounts.email_verification_ttl,
            config.accounts.password_reset_ttl,
        );
        let links = MailedLinks::new(
            core.accounts.clone(),
            core.sessions.clone(),
            email_links,
            core.limiter.clone(),
            core.audit.clone(),
            mailer,
            config.issuer.clone(),
        );
        let self_service = SelfService::new(
            core.accounts.clone(),
            core.sessions.clone(),
            core.limiter.clone(),
            core.audit.clone(),
        );
        let signup = SignUp::new(
            core.accounts.clone(),
            links.clone(),
            core.limiter.clone(),
            core.audit.clone(),
        );
        let signing_keys = SigningKeys::new(
            config.keys.folder(),
            Some(core.audit.clone()),
            core.clock.clone(),
            config.key_publish_ahead(),
            config.longest_token_lifetime(),
        )
        .running(keys.clone());
        let dashboard = Dashboard::new(
            core.accounts.clone(),
            core.sessions.clone(),
            core.audit.clone(),
            core.limiter.clone(),
            signing_keys.clone(),
            core.clock.clone(),
        );
        let state = AppState::new(Services {
            well_known: Default::default(),
            signing_keys,
            dashboard,
            second_factors: core.second_factors,
            signup,
            admin: core.admin,
            links,
            self_service,
            config: config.clone(),
            db: core.db,
            accounts: core.accounts,
            sessions: core.sessions,
            limiter: core.limiter,
            audit: core.audit,
            login: core.login,
            redis: core.redis,
            oauth,
            keys,
            clock: core.clock,
        });
        let reload_interval = config.keys.reload_interval;
        let tcp = TcpListener::bind(config.listen)
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {} (GATEHOUSE_LISTEN)", config.listen))?;
        let acceptor: BoxAcceptor = match &config.connections.tls {
            None => tcp.boxed(),
            Some((cert, key)) => TlsAcceptor::new(tcp, cert, key)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot serve HTTPS (GATEHOUSE_TLS_CERT, GATEHOUSE_TLS_KEY): {e}"
                    )
                })?
                .boxed(),
        };
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("the listener has no address")?;
        Ok(Self {
            acceptor,
            local_addr,
            state,
            folder,
            reload_interval,
            caches,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let db = self.state.db.clone();
        let purge = {
            let sessions = self.state.sessions.clone();
            let db = self.state.db.clone();
            let audit = self.state.audit.clone();
            let accounts = self.state.accounts.clone();
            let retention = self.state.config.audit_retention;
            let clock = self.state.clock.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(PURGE_INTERVAL);
                loop {
                    interval.tick().await;
                    if let Err(e) = accounts.refresh_refusal_cost().await {
                        tracing::warn!(error = %e, "reading the stored password hashes failed");
                    }
                    let now = clock.now();
                    let purged = async {
                        Ok::<u64, crate::store::StoreError>(
                            sessions.purge_expired().await?
                                + db.purge_codes(now).await?
                                + db.purge_email_tokens(now).await?
                                + db.purge_pending(now).await?
                                + audit.purge(retention).await?,
                        )
                    };
                    match purged.await {
                        Ok(n) if n > 0 => tracing::info!(deleted = n, "expired records purged"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
                    }
                }
            })
        };
        let metrics = crate::telemetry::metrics().clone();
        let upkeep = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(5));
            loop {
                ticker.tick().await;
                metrics.run_upkeep();
            }
        });
        let reload = tokio::spawn(follow_key_folder(
            self.folder,
            self.state.keys.clone(),
            self.reload_interval,
            self.state.clock.clone(),
        ));
        let follow = tokio::spawn(caches::follow_others(
            self.caches,
            self.state.sessions.clone(),
            self.state.accounts.clone(),
            self.state.clock.clone(),
        ));
        let config = self.state.config.clone();
        let drain = Drain::new(DRAIN_GRACE);
        let app = close_when_draining(http::routes(self.state), drain.clone()).boxed();
        tracing::info!(address = %self.local_addr, "listening");
        let acceptor = LimitedAcceptor::new(
            self.acceptor,
            config.connections.max_connections,
            config.connections.header_timeout,
            drain.clone(),
        );
        // poem's own graceful shutdown closes idle keep-alive connections at once, losing
        // requests already on their way; it starts only once the drain has answered them.
        let drained = acceptor.all_closed();
        let shutdown = async move {
            shutdown.await;
            drain.start();
            tokio::select! {
                () = drained => {}
                () = tokio::time::sleep(DRAIN_GRACE) => {}
            }
        };
        let result = Server::new_with_acceptor(acceptor)
            .idle_timeout(config.connections.idle_timeout)
            .run_with_graceful_shutdown(
                app,
                shutdown,
                Some(SHUTDOWN_GRACE.saturating_sub(DRAIN_GRACE)),
            )
            .await;
        purge.abort();
        reload.abort();
        upkeep.abort();
        follow.abort();
        db.close().await;
        result
    }
}

/// Re-reads the key folder whenever it changes, so every instance follows rotations
/// made by the CLI. A folder that cannot be read leaves the keys in use untouched.
async fn follow_key_folder(
    folder: KeyFolder,
    keys: Keys,
    interval: Duration,
    clock: Arc<dyn Clock>,
) {
    let mut seen = folder.fingerprint();
    // Key files the schedule leaves unused are named once, when they are first seen.
    let mut reported = HashSet::new();
    let startup = tokio::task::spawn_blocking({
        let (folder, now) = (folder.clone(), clock.now());
        move || folder.ignored_files(now)
    });
    if let Ok(Ok(ignored)) = startup.await {
        report_ignored(ignored, &mut reported);
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let folder_now = folder.clone();
        let previous = seen.clone();
        let clock = clock.clone();
        let result = tokio::task::spawn_blocking(move || {
            let fingerprint = folder_now.fingerprint();
            (fingerprint != previous).then(|| {
                let now = clock.now();
                let ignored = folder_now.ignored_files(now);
                (folder_now.load(now), ignored, fingerprint)
            })
        })
        .await;
        let Ok(Some((loaded, ignored, fingerprint))) = result else {
            continue;
        };
        if let Ok(ignored) = ignored {
            report_ignored(ignored, &mut reported);
        }
        match loaded {
            Ok(ring) => {
                let kids: Vec<&str> = ring.schedules().map(|s| s.kid.as_str()).collect();
                tracing::info!(keys = ?kids, "signing keys reloaded");
                keys.replace(ring);
                seen = fingerprint;
            }
            Err(e) => {
                // Logged on every attempt until fixed; the keys in use stay.
                tracing::error!(error = %e, "cannot reload signing keys; keeping the keys in use");
            }
        }
    }
}

/// Warns about each unused key file not reported before; forgets the ones that are gone,
/// so a file that comes back is named again.
fn report_ignored(ignored: Vec<IgnoredFile>, reported: &mut HashSet<IgnoredFile>) {
    for file in &ignored {
        if !reported.contains(file) {
            tracing::warn!(
                file = %file.path.display(),
                reason = %file.reason,
                "key file ignored"
            );
        }
    }
    *reported = ignored.into_iter().collect();
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
