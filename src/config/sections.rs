//! The sections of the configuration, each reading its own variables from the one
//! [`Parser`] (in the order `check-config` lists them).

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::parser::{Bounds, Parser, parse_bool, parse_size};
use super::{LogFormat, TrustedProxy};
use crate::domain::Secret;
use crate::limits::{Limits, Rate};
use crate::token::SigningAlg;

/// Where data lives: the database, and Redis for sessions and counters when set.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    pub database_url: Secret<String>,
    pub database_max_connections: u32,
    /// Sessions and refresh tokens live in Redis when set, else in the database.
    pub redis_url: Option<Secret<String>>,
    pub redis_key_prefix: String,
    /// How often each instance looks for sessions ended, tokens revoked and accounts
    /// changed by the others, to forget what it remembers of them; `None`: it remembers
    /// nothing and asks the store every time.
    pub cache_sync_interval: Option<Duration>,
}

impl StoreSettings {
    pub(super) fn parse(p: &mut Parser) -> Self {
        let database_url = p.value(
            "DATABASE_URL",
            Secret::new("sqlite://data/gatehouse.db".to_string()),
            |v| {
                if v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://")
                {
                    Ok(Secret::new(v.to_string()))
                } else {
                    Err("must start with `sqlite:` or `postgres://`".into())
                }
            },
        );
        let database_max_connections =
            p.number("DATABASE_MAX_CONNECTIONS", 10, Bounds::Between("1", "1000"));
        let redis_url = p.value("REDIS_URL", None, |v| {
            if v.starts_with("redis://")
                || v.starts_with("rediss://")
                || v.starts_with("redis+unix://")
            {
                Ok(Some(Secret::new(v.to_string())))
            } else {
                Err("must start with `redis://` or `rediss://`".into())
            }
        });
        let redis_key_prefix = p.value("REDIS_KEY_PREFIX", "gatehouse".to_string(), |v| {
            let ok = v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c));
            if ok {
                Ok(v.to_string())
            } else {
                Err("use at most 64 letters, digits, '-', '_', ':' or '.'".into())
            }
        });
        let cache_sync_interval = p.duration(
            "CACHE_SYNC_INTERVAL",
            Duration::from_millis(500),
            Bounds::AtMost("10s"),
        );
        Self {
            database_url,
            database_max_connections,
            redis_url,
            redis_key_prefix,
            cache_sync_interval: (!cache_sync_interval.is_zero()).then_some(cache_sync_interval),
        }
    }
}

/// Outgoing mail: SMTP when set, else `.eml` files in `dir`.
#[derive(Clone, Debug)]
pub struct OutgoingMail {
    pub smtp_url: Option<Secret<String>>,
    /// The sender, `Name <address>` or an address; by default `Gatehouse <no-reply@HOST>`
    /// with the issuer's host.
    pub from: String,
    pub dir: PathBuf,
}

impl OutgoingMail {
    pub(super) fn parse(p: &mut Parser, issuer: &str) -> Self {
        let smtp_url = p.value("SMTP_URL", None, |v| {
            if v.starts_with("smtp://") || v.starts_with("smtps://") {
                Ok(Some(Secret::new(v.to_string())))
            } else {
                Err(
                    "must start with `smtp://` or `smtps://`, e.g. smtps://user:pass@host:465"
                        .into(),
                )
            }
        });
        let default_sender = {
            let host = Url::parse(issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "localhost".into());
            format!("Gatehouse <no-reply@{host}>")
        };
        let from = p.value("MAIL_FROM", default_sender, |v| {
            v.parse::<lettre::message::Mailbox>()
                .map(|_| v.to_string())
                .map_err(|e| format!("not a mailbox ({e}); use `Name <address>` or an address"))
        });
        let dir = p.value("MAIL_DIR", PathBuf::from("data/mail"), |v| {
            Ok(PathBuf::from(v))
        });
        Self {
            smtp_url,
            from,
            dir,
        }
    }
}

/// The signing keys: their folder, how they are published and followed, what new ones are.
#[derive(Clone, Debug)]
pub struct KeySettings {
    pub dir: PathBuf,
    pub jwks_max_age: Duration,
    /// How often a running instance looks for key changes.
    pub reload_interval: Duration,
    /// Algorithm of new keys (`RS256` or `ES256`).
    pub signing_alg: SigningAlg,
    /// Size of keys that `keys rotate` (and development start-up) create.
    pub signing_key_bits: u32,
}

impl KeySettings {
    /// The key folder, making keys of the configured algorithm and size.
    pub fn folder(&self) -> crate::token::KeyFolder {
        crate::token::KeyFolder::new(&self.dir, self.signing_key_bits).with_alg(self.signing_alg)
    }

    pub(super) fn parse(p: &mut Parser) -> Self {
        let dir = p.value("KEYS_DIR", PathBuf::from("keys"), |v| Ok(PathBuf::from(v)));
        let jwks_max_age = p.duration("JWKS_MAX_AGE", Duration::from_secs(300), Bounds::Any);
        let reload_interval = p.duration(
            "KEYS_RELOAD_INTERVAL",
            Duration::from_secs(10),
            Bounds::Between("100ms", "1h"),
        );
        let signing_alg = p.value("SIGNING_ALG", SigningAlg::Rs256, |v| {
            SigningAlg::parse(v).ok_or_else(|| "must be RS256 or ES256".to_string())
        });
        let signing_key_bits = p.value("SIGNING_KEY_BITS", 2048, |v| match v {
            "2048" => Ok(2048),
            "3072" => Ok(3072),
            "4096" => Ok(4096),
            _ => Err("must be 2048, 3072 or 4096".into()),
        });
        Self {
            dir,
            jwks_max_age,
            reload_interval,
            signing_alg,
            signing_key_bits,
        }
    }
}

/// Access tokens, and the sessions behind refresh tokens.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_idle_ttl: Duration,
    pub refresh_token_max_ttl: Duration,
    pub refresh_reuse_grace: Duration,
}

impl TokenSettings {
    pub(super) fn parse(p: &mut Parser, issuer: &str) -> Self {
        let audience = p.value("AUDIENCE", issuer.to_string(), |v| Ok(v.to_string()));
        let access_token_ttl = p.duration(
            "ACCESS_TOKEN_TTL",
            Duration::from_secs(900),
            Bounds::Between("10s", "24h"),
        );
        let refresh_token_idle_ttl = p.duration(
            "REFRESH_TOKEN_IDLE_TTL",
            Duration::from_secs(30 * 86_400),
            Bounds::AtLeast("1m"),
        );
        let refresh_token_max_ttl = p.duration(
            "REFRESH_TOKEN_MAX_TTL",
            Duration::from_secs(90 * 86_400),
            Bounds::AtLeast("1m"),
        );
        let refresh_reuse_grace = p.duration(
            "REFRESH_REUSE_GRACE",
            Duration::from_secs(10),
            Bounds::AtMost("5m"),
        );
        Self {
            audience,
            access_token_ttl,
            refresh_token_idle_ttl,
            refresh_token_max_ttl,
            refresh_reuse_grace,
        }
    }
}

/// Accounts' addresses: the mailed links and whether sign-in needs a verified address.
#[derive(Clone, Debug)]
pub struct AccountSettings {
    /// How long an address-verification link works.
    pub email_verification_ttl: Duration,
    /// Sign-in refuses accounts whose address is not verified.
    pub require_verified_email: bool,
    /// How long a password-reset link works.
    pub password_reset_ttl: Duration,
    /// The key second-factor secrets are sealed with; unset in development, where
    /// `mfa.key` in the keys folder is made and used.
    pub mfa_encryption_key: Option<crate::auth::mfa::sealed::SealingKey>,
    /// People with one of these roles must have a second factor.
    pub mfa_required_roles: Vec<crate::domain::Role>,
}

impl AccountSettings {
    pub(super) fn parse(p: &mut Parser) -> Self {
        Self {
            email_verification_ttl: p.duration(
                "EMAIL_VERIFICATION_TTL",
                Duration::from_secs(86_400),
                Bounds::Between("1s", "30d"),
            ),
            require_verified_email: p.flag("REQUIRE_VERIFIED_EMAIL", false),
            password_reset_ttl: p.duration(
                "PASSWORD_RESET_TTL",
                Duration::from_secs(1800),
                Bounds::Between("1s", "24h"),
            ),
            mfa_encryption_key: p.value_shown(
                "MFA_ENCRYPTION_KEY",
                None,
                |v| crate::auth::mfa::sealed::SealingKey::parse(v).map(Some),
                |key| match key {
                    Some(_) => "<hidden>".into(),
                    None => "(unset: mfa.key in the keys folder)".into(),
                },
            ),
            mfa_required_roles: p.value_shown(
                "MFA_REQUIRED_ROLES",
                Vec::new(),
                parse_roles,
                |roles| crate::domain::Role::names(roles).join(","),
            ),
        }
    }
}

/// A comma-separated list of role names (spaces around them allowed; empty: none).
fn parse_roles(v: &str) -> Result<Vec<crate::domain::Role>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| crate::domain::Role::parse(r).map_err(|e| format!("`{r}`: {e}")))
        .collect()
}

/// What OAuth clients may do: how long codes live, the password grant, and the browser
/// origins allowed to call (CORS).
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub auth_code_ttl: Duration,
    pub password_grant: bool,
    pub cors_origins: Vec<String>,
}

impl OAuthSettings {
    pub(super) fn parse(p: &mut Parser) -> Self {
        Self {
            auth_code_ttl: p.duration(
                "AUTH_CODE_TTL",
                Duration::from_secs(60),
                Bounds::Between("1s", "10m"),
            ),
            password_grant: p.flag("PASSWORD_GRANT", true),
            cors_origins: p.value("CORS_ORIGINS", Vec::new(), parse_origins),
        }
    }
}

/// The old service's tokens, exchanged for sessions while its people move over.
#[derive(Clone, Debug)]
pub struct LegacySettings {
    /// The old service's `SECRET_KEY` (HS256); unset, nothing is exchanged.
    pub hs256_secret: Option<Secret<String>>,
    /// From this moment on the old tokens are refused.
    pub tokens_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The shortest old secret accepted: HS256 with fewer bytes than its hash is guessable.
pub const MIN_LEGACY_SECRET_BYTES: usize = 32;

impl LegacySettings {
    pub(super) fn parse(p: &mut Parser) -> Self {
        let hs256_secret = p.value_shown(
            "LEGACY_HS256_SECRET",
            None,
            |v| {
                if v.len() >= MIN_LEGACY_SECRET_BYTES {
                    Ok(Some(Secret::new(v.to_string())))
                } else {
                    Err(format!(
                        "must be at least {MIN_LEGACY_SECRET_BYTES} bytes: the old service's \
                         SECRET_KEY as it is"
                    ))
                }
            },
            |secret| match secret {
                Some(_) => "<hidden>".into(),
                None => String::new(),
            },
        );
        let tokens_until = p.value_shown(
            "LEGACY_TOKENS_UNTIL",
            None,
            |v| parse_end(v).map(Some),
            |until| until.map(|u| u.to_rfc3339()).unwrap_or_default(),
        );
        Self {
            hs256_secret,
            tokens_until,
        }
    }
}

impl LegacySettings {
    /// What to tell the operator at start-up, at `now`: settings that can go.
    pub fn warning(&self, now: chrono::DateTime<chrono::Utc>) -> Option<&'static str> {
        match (&self.hs256_secret, self.tokens_until) {
            (Some(_), Some(until)) if now >= until => Some(
                "GATEHOUSE_LEGACY_TOKENS_UNTIL has passed: the old service's tokens are refused; \
                 remove GATEHOUSE_LEGACY_HS256_SECRET and GATEHOUSE_LEGACY_TOKENS_UNTIL",
            ),
            (None, Some(_)) => Some(
                "GATEHOUSE_LEGACY_TOKENS_UNTIL is set without GATEHOUSE_LEGACY_HS256_SECRET: \
                 nothing is exchanged, and the setting can go",
            ),
            _ => None,
        }
    }
}

/// An end: an RFC 3339 moment, or a day (`YYYY-MM-DD`, UTC), which ends when it does.
fn parse_end(v: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.succ_opt())
        .map(|next| next.and_time(chrono::NaiveTime::MIN).and_utc())
        .ok_or_else(|| format!("`{v}` is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
}

/// The log: its format (JSON by default in production) and its filter.
#[derive(Clone, Debug)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

impl LogSettings {
    pub(super) fn parse(p: &mut Parser, production: bool) -> Self {
        let default = if production {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        };
        let format = p.value("LOG_FORMAT", default, |v| match v {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{v}` is neither `pretty` nor `json`")),
        });
        let level = p.value("LOG_LEVEL", "info".to_string(), |v| {
            tracing_subscriber::EnvFilter::try_new(v)
                .map(|_| v.to_string())
                .map_err(|e| format!("not a valid log filter: {e}"))
        });
        Self { format, level }
    }
}

/// What the request pipeline enforces, and the API's documentation pages.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub max_body: usize,
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<TrustedProxy>,
    pub swagger_ui: bool,
}

impl HttpSettings {
    pub(super) fn parse(p: &mut Parser, production: bool) -> Self {
        Self {
            max_body: p.value("MAX_BODY", 1024 * 1024, |v| {
                Bounds::AtLeast("1KiB")
                    .check(parse_size(v)?, |b| parse_size(b).expect("valid size bound"))
            }),
            request_timeout: p.duration("REQUEST_TIMEOUT", Duration::from_secs(30), Bounds::Any),
            trusted_proxies: p.value("TRUSTED_PROXIES", Vec::new(), |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(TrustedProxy::parse)
                    .collect()
            }),
            swagger_ui: p.flag("SWAGGER_UI", !production),
        }
    }
}

/// Cost of argon2id password hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        // OWASP's recommended minimum for argon2id.
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Password hashing: its cost, and how many hashes run and wait at once.
#[derive(Clone, Copy, Debug)]
pub struct PasswordSettings {
    pub argon2: Argon2Settings,
    pub hash_concurrency: usize,
    /// Password checks that may wait for a hashing slot; more get 503 at once.
    pub hash_queue: usize,
}

impl PasswordSettings {
    pub(super) fn parse(p: &mut Parser) -> Self {
        let defaults = Argon2Settings::default();
        let argon2 = Argon2Settings {
            memory_kib: p.number(
                "ARGON2_MEMORY_KIB",
                defaults.memory_kib,
                Bounds::Between("8", "4194304"),
            ),
            iterations: p.number(
                "ARGON2_ITERATIONS",
                defaults.iterations,
                Bounds::Between("1", "100"),
            ),
            parallelism: p.number(
                "ARGON2_PARALLELISM",
                defaults.parallelism,
                Bounds::Between("1", "64"),
            ),
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            argon2,
            hash_concurrency: p.number(
                "PASSWORD_HASH_CONCURRENCY",
                cores,
                Bounds::Between("1", "1024"),
            ),
            hash_queue: p.number("PASSWORD_HASH_QUEUE", 64, Bounds::AtMost("100000")),
        }
    }
}

/// The rate limits on sign-in, registration and password resets.
pub(super) fn parse_limits(p: &mut Parser) -> Limits {
    let rate = |p: &mut Parser, short: &'static str, default: &str| {
        let default = Rate::parse(default).expect("valid default rate");
        p.value(short, default, Rate::parse)
    };
    Limits {
        enabled: p.value_shown("RATE_LIMITS", true, parse_bool, |on| {
            if *on { "on" } else { "off" }.to_string()
        }),
        login_per_ip: rate(p, "RATE_LIMIT_LOGIN_PER_IP", "30/min"),
        login_per_account: rate(p, "RATE_LIMIT_LOGIN_PER_ACCOUNT", "10/min"),
        register_per_ip: rate(p, "RATE_LIMIT_REGISTER_PER_IP", "10/h"),
        reset_per_ip: rate(p, "RATE_LIMIT_RESET_PER_IP", "10/h"),
        reset_per_address: rate(p, "RATE_LIMIT_RESET_PER_ADDRESS", "3/h"),
    }
}

/// The connections the server accepts: how many, over TLS or not, and how long they may
/// be slow or idle.
#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    /// Open connections at most; more wait in the backlog.
    pub max_connections: usize,
    /// Serve HTTPS directly with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A request's headers must arrive within this of its first byte.
    pub header_timeout: Duration,
    /// A keep-alive connection idle this long is closed.
    pub idle_timeout: Duration,
}

impl ConnectionSettings {
    pub(super) fn parse(p: &mut Parser) -> Self {
        let max_connections = p.number("MAX_CONNECTIONS", 4096, Bounds::Between("1", "1000000"));
        let readable = |v: &str| -> Result<Option<PathBuf>, String> {
            let path = PathBuf::from(v);
            std::fs::File::open(&path)
                .map(|_| Some(path))
                .map_err(|e| format!("cannot read {v}: {e}"))
        };
        let tls_cert = p.value("TLS_CERT", None, readable);
        let tls_key = p.value("TLS_KEY", None, readable);
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                p.problem(
                    "TLS_KEY",
                    "GATEHOUSE_TLS_CERT is set: set GATEHOUSE_TLS_KEY too",
                );
                None
            }
            (None, Some(_)) => {
                p.problem(
                    "TLS_CERT",
                    "GATEHOUSE_TLS_KEY is set: set GATEHOUSE_TLS_CERT too",
                );
                None
            }
        };
        Self {
            max_connections,
            tls,
            header_timeout: p.duration(
                "HEADER_TIMEOUT",
                Duration::from_secs(10),
                Bounds::AtLeast("100ms"),
            ),
            idle_timeout: p.duration(
                "IDLE_TIMEOUT",
                Duration::from_secs(60),
                Bounds::AtLeast("1s"),
            ),
        }
    }
}

pub(super) fn parse_issuer(v: &str) -> Result<String, String> {
    let url = Url::parse(v).map_err(|e| format!("`{v}` is not a URL: {e}"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        // RFC 8414 §2: the issuer has no query or fragment.
        return Err("must not have a query or fragment".into());
    }
    if url.host_str().is_none() {
        return Err("must name a host".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

fn parse_origins(v: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if origin == "*" {
            origins.push(origin.to_string());
            continue;
        }
        let url = Url::parse(origin).map_err(|_| format!("`{origin}` is not an origin"))?;
        let ascii = url.origin().ascii_serialization();
        if ascii != origin.trim_end_matches('/') {
            return Err(format!(
                "`{origin}` is not an origin (scheme://host[:port], no path)"
            ));
        }
        origins.push(ascii);
    }
    Ok(origins)
}
