//! Settings: raw `GATEHOUSE_*` values (environment over `gatehouse.toml`) turned into a
//! typed, validated [`Config`], with every problem reported at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::domain::Secret;

/// Where settings come from, in order of precedence: the environment, then the file.
pub const CONFIG_FILE_VARIABLE: &str = "GATEHOUSE_CONFIG";
const DEFAULT_CONFIG_FILE: &str = "gatehouse.toml";
const PREFIX: &str = "GATEHOUSE_";

/// Every variable Gatehouse reads — the ones [`Config::from_raw`] parses, found by parsing
/// the defaults once — so that anything else with the prefix is reported as unknown.
fn known_settings() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut p = Parser {
            raw: &RawSettings::default(),
            problems: Vec::new(),
            shown: Vec::new(),
        };
        let _ = Config::parse(&mut p);
        let mut known: Vec<&'static str> = p.shown.into_iter().map(|(name, _)| name).collect();
        known.push("CONFIG");
        known
    })
}

/// How `check-config` shows a setting's effective value; secrets never in the clear.
pub trait Shown {
    fn shown(&self) -> String;
}

macro_rules! shown_by_display {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
shown_by_display!(String, bool, u32, usize, SocketAddr, crate::limits::Rate);

impl Shown for Duration {
    fn shown(&self) -> String {
        format_duration(*self)
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}

/// Secret settings are URLs (database, Redis, SMTP): shown with the password hidden.
/// Anything else that is secret is not shown at all.
impl Shown for Secret<String> {
    fn shown(&self) -> String {
        match Url::parse(self.expose()) {
            Ok(url) if url.cannot_be_a_base() => "<hidden>".into(),
            Ok(_) => redact_url(self.expose()),
            Err(_) => "<hidden>".into(),
        }
    }
}

impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> String {
        self.as_ref().map(Shown::shown).unwrap_or_default()
    }
}

impl<T: Shown> Shown for Vec<T> {
    fn shown(&self) -> String {
        self.iter().map(Shown::shown).collect::<Vec<_>>().join(",")
    }
}

impl Shown for TrustedProxy {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for crate::token::SigningAlg {
    fn shown(&self) -> String {
        self.as_str().to_string()
    }
}

impl Shown for Environment {
    fn shown(&self) -> String {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
        .into()
    }
}

impl Shown for LogFormat {
    fn shown(&self) -> String {
        match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        }
        .into()
    }
}

/// `development` (defaults that just work) or `production` (refuses unsafe settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
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

/// A peer, or a network of peers, whose `X-Forwarded-For` header is believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("`{text}` has an invalid prefix length")),
            },
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), self.prefix, 128) == masked(ip.into(), self.prefix, 128)
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => TrustedProxy {
                network: IpAddr::V6(net),
                prefix: self.prefix,
            }
            .contains(IpAddr::V6(ip.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| self.contains(IpAddr::V4(ip))),
        }
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The validated configuration the whole program runs on.
#[derive(Clone, Debug)]
pub struct Config {
    pub env: Environment,
    pub listen: SocketAddr,
    /// The issuer, without a trailing slash.
    pub issuer: String,
    pub database_url: Secret<String>,
    pub database_max_connections: u32,
    /// Sessions and refresh tokens live in Redis when set, else in the database.
    pub redis_url: Option<Secret<String>>,
    pub redis_key_prefix: String,
    /// Outgoing mail: SMTP when set, else `.eml` files in `mail_dir`.
    pub smtp_url: Option<Secret<String>>,
    /// The sender, `Name <address>` or an address; by default `Gatehouse <no-reply@HOST>`
    /// with the issuer's host.
    pub mail_from: String,
    pub mail_dir: PathBuf,
    pub keys_dir: PathBuf,
    pub jwks_max_age: Duration,
    /// How often a running instance looks for key changes.
    pub keys_reload_interval: Duration,
    /// Size of keys that `keys rotate` (and development start-up) create.
    pub signing_key_bits: u32,
    /// Algorithm of new keys (`RS256` or `ES256`).
    pub signing_alg: crate::token::SigningAlg,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_idle_ttl: Duration,
    pub refresh_token_max_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub auth_code_ttl: Duration,
    /// How long an address-verification link works.
    pub email_verification_ttl: Duration,
    /// How long a password-reset link works.
    pub password_reset_ttl: Duration,
    /// Sign-in refuses accounts whose address is not verified.
    pub require_verified_email: bool,
    pub password_grant: bool,
    pub cors_origins: Vec<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub max_body: usize,
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<TrustedProxy>,
    pub swagger_ui: bool,
    pub argon2: Argon2Settings,
    pub password_hash_concurrency: usize,
    /// Password checks that may wait for a hashing slot; more get 503 at once.
    pub password_hash_queue: usize,
    pub limits: crate::limits::Limits,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// Open connections at most; more wait in the backlog.
    pub max_connections: usize,
    /// A keep-alive connection idle this long is closed.
    pub idle_timeout: Duration,
    /// A request's headers must arrive within this of its first byte.
    pub header_timeout: Duration,
    /// Serve HTTPS directly with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Every setting with its effective value, as `check-config` shows it.
    described: Vec<(&'static str, String)>,
}

/// One setting that could not be accepted, named by its variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// All problems found in one pass over the settings.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

/// Raw settings by variable name (`GATEHOUSE_ISSUER` → value), before validation.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    values: BTreeMap<String, String>,
    unknown: Vec<String>,
}

impl RawSettings {
    /// Reads `gatehouse.toml` (or the file named by `GATEHOUSE_CONFIG`) if present, then the
    /// environment on top.
    pub fn from_environment() -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .collect();
        let file = env
            .iter()
            .find(|(k, _)| k == CONFIG_FILE_VARIABLE)
            .map(|(_, v)| (PathBuf::from(v), true))
            .unwrap_or_else(|| (PathBuf::from(DEFAULT_CONFIG_FILE), false));
        let mut raw = match std::fs::read_to_string(&file.0) {
            Ok(text) => Self::from_toml(&text).map_err(|message| {
                ConfigError(vec![ConfigProblem {
                    variable: file.0.display().to_string(),
                    message,
                }])
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file.1 => Self::default(),
            Err(e) => {
                return Err(ConfigError(vec![ConfigProblem {
                    variable: CONFIG_FILE_VARIABLE.into(),
                    message: format!("cannot read {}: {e}", file.0.display()),
                }]));
            }
        };
        for (key, value) in env {
            raw.insert(&key, value);
        }
        Ok(raw)
    }

    /// Keys of the file are the variable names without the prefix, in any case
    /// (`issuer = "https://id.example.com"`).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let table: toml::Table = text.parse().map_err(|e| format!("not valid TOML: {e}"))?;
        let mut raw = Self::default();
        for (key, value) in table {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            raw.insert(&format!("{PREFIX}{}", key.to_ascii_uppercase()), value);
        }
        Ok(raw)
    }

    /// Builds settings from explicit pairs, as tests and embedding programs do.
    pub fn from_pairs<K: AsRef<str>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut raw = Self::default();
        for (k, v) in pairs {
            raw.insert(k.as_ref(), v.into());
        }
        raw
    }

    pub fn insert(&mut self, variable: &str, value: String) {
        let short = variable.strip_prefix(PREFIX).unwrap_or(variable);
        if !known_settings().contains(&short) && !self.unknown.iter().any(|u| u == variable) {
            self.unknown.push(variable.to_string());
        }
        self.values.insert(variable.to_string(), value);
    }

    /// Variables with the prefix that Gatehouse does not know (likely typos).
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    fn get(&self, short: &str) -> Option<&str> {
        self.values
            .get(&format!("{PREFIX}{short}"))
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Collects problems while each setting is parsed, so all are reported together.
struct Parser<'a> {
    raw: &'a RawSettings,
    problems: Vec<ConfigProblem>,
    /// Every setting read, in order, with its effective value as `check-config` shows it.
    shown: Vec<(&'static str, String)>,
}

impl Parser<'_> {
    fn problem(&mut self, short: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: format!("{PREFIX}{short}"),
            message: message.into(),
        });
    }

    /// Parses one setting, recording a problem and falling back to `default` on failure.
    /// This is the one place a setting is declared: reading it makes it known, and
    /// `check-config` shows what was read.
    fn value<T: Shown>(
        &mut self,
        short: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.value_shown(short, default, parse, T::shown)
    }

    /// [`Parser::value`] with a way of showing the value of its own.
    fn value_shown<T>(
        &mut self,
        short: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
        show: impl FnOnce(&T) -> String,
    ) -> T {
        let value = match self.raw.get(short) {
            None => default,
            Some(text) => match parse(text.trim()) {
                Ok(v) => v,
                Err(message) => {
                    self.problem(short, message);
                    default
                }
            },
        };
        self.shown.push((short, show(&value)));
        value
    }
}

impl Config {
    /// Validates raw settings; every invalid one is named in the error.
    pub fn from_raw(raw: &RawSettings) -> Result<Self, ConfigError> {
        let mut p = Parser {
            raw,
            problems: Vec::new(),
            shown: Vec::new(),
        };
        let config = Self::parse(&mut p);
        if p.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(p.problems))
        }
    }

    /// Reads every setting through `p`; the result is meaningful only when `p` recorded
    /// no problem.
    fn parse(p: &mut Parser) -> Self {
        let env = p.value("ENV", Environment::Development, |v| match v {
            "development" => Ok(Environment::Development),
            "production" => Ok(Environment::Production),
            _ => Err(format!("`{v}` is neither `development` nor `production`")),
        });
        let production = env == Environment::Production;
        let listen = p.value("LISTEN", SocketAddr::from(([127, 0, 0, 1], 8080)), |v| {
            v.parse()
                .map_err(|_| format!("`{v}` is not an address and port such as 127.0.0.1:8080"))
        });
        let issuer = p.value("ISSUER", "http://localhost:8080".to_string(), parse_issuer);
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
        let database_max_connections = p.value("DATABASE_MAX_CONNECTIONS", 10, |v| {
            parse_number(v).and_then(|n: u32| {
                if (1..=1000).contains(&n) {
                    Ok(n)
                } else {
                    Err("must be between 1 and 1000".into())
                }
            })
        });
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
            let host = Url::parse(&issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "localhost".into());
            format!("Gatehouse <no-reply@{host}>")
        };
        let mail_from = p.value("MAIL_FROM", default_sender, |v| {
            v.parse::<lettre::message::Mailbox>()
                .map(|_| v.to_string())
                .map_err(|e| format!("not a mailbox ({e}); use `Name <address>` or an address"))
        });
        let mail_dir = p.value("MAIL_DIR", PathBuf::from("data/mail"), |v| {
            Ok(PathBuf::from(v))
        });
        let keys_dir = p.value("KEYS_DIR", PathBuf::from("keys"), |v| Ok(PathBuf::from(v)));
        let jwks_max_age = p.value("JWKS_MAX_AGE", Duration::from_secs(300), parse_duration);
        let keys_reload_interval = p.value("KEYS_RELOAD_INTERVAL", Duration::from_secs(10), |v| {
            let d = parse_duration(v)?;
            if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
                return Err("must be between 100ms and 1h".into());
            }
            Ok(d)
        });
        let signing_alg = p.value("SIGNING_ALG", crate::token::SigningAlg::Rs256, |v| {
            crate::token::SigningAlg::parse(v).ok_or_else(|| "must be RS256 or ES256".to_string())
        });
        let signing_key_bits = p.value("SIGNING_KEY_BITS", 2048, |v| match v {
            "2048" => Ok(2048),
            "3072" => Ok(3072),
            "4096" => Ok(4096),
            _ => Err("must be 2048, 3072 or 4096".into()),
        });
        let audience = p.value("AUDIENCE", issuer.clone(), |v| Ok(v.to_string()));
        let access_token_ttl = p.value("ACCESS_TOKEN_TTL", Duration::from_secs(900), |v| {
            let d = parse_duration(v)?;
            if d < Duration::from_secs(10) || d > Duration::from_secs(24 * 3600) {
                return Err("must be between 10s and 24h".into());
            }
            Ok(d)
        });
        let refresh_token_idle_ttl = p.value(
            "REFRESH_TOKEN_IDLE_TTL",
            Duration::from_secs(30 * 86_400),
            |v| parse_duration(v).and_then(|d| at_least(d, Duration::from_secs(60))),
        );
        let refresh_token_max_ttl = p.value(
            "REFRESH_TOKEN_MAX_TTL",
            Duration::from_secs(90 * 86_400),
            |v| parse_duration(v).and_then(|d| at_least(d, Duration::from_secs(60))),
        );
        let refresh_reuse_grace = p.value("REFRESH_REUSE_GRACE", Duration::from_secs(10), |v| {
            let d = parse_duration(v)?;
            if d > Duration::from_secs(300) {
                return Err("must be at most 5m".into());
            }
            Ok(d)
        });
        let email_verification_ttl =
            p.value("EMAIL_VERIFICATION_TTL", Duration::from_secs(86_400), |v| {
                let d = parse_duration(v)?;
                if d < Duration::from_secs(1) || d > Duration::from_secs(30 * 86_400) {
                    return Err("must be between 1s and 30d".into());
                }
                Ok(d)
            });
        let require_verified_email = p.value("REQUIRE_VERIFIED_EMAIL", false, parse_bool);
        let password_reset_ttl = p.value("PASSWORD_RESET_TTL", Duration::from_secs(1800), |v| {
            let d = parse_duration(v)?;
            if d < Duration::from_secs(1) || d > Duration::from_secs(86_400) {
                return Err("must be between 1s and 24h".into());
            }
            Ok(d)
        });
        let auth_code_ttl = p.value("AUTH_CODE_TTL", Duration::from_secs(60), |v| {
            let d = parse_duration(v)?;
            if d < Duration::from_secs(1) || d > Duration::from_secs(600) {
                return Err("must be between 1s and 10m".into());
            }
            Ok(d)
        });
        let password_grant = p.value("PASSWORD_GRANT", true, parse_bool);
        let cors_origins = p.value("CORS_ORIGINS", Vec::new(), parse_origins);
        let log_format = p.value(
            "LOG_FORMAT",
            if production {
                LogFormat::Json
            } else {
                LogFormat::Pretty
            },
            |v| match v {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("`{v}` is neither `pretty` nor `json`")),
            },
        );
        let log_level = p.value("LOG_LEVEL", "info".to_string(), |v| {
            tracing_subscriber::EnvFilter::try_new(v)
                .map(|_| v.to_string())
                .map_err(|e| format!("not a valid log filter: {e}"))
        });
        let max_body = p.value("MAX_BODY", 1024 * 1024, |v| {
            let n = parse_size(v)?;
            if n < 1024 {
                return Err("must be at least 1KiB".into());
            }
            Ok(n)
        });
        let request_timeout = p.value("REQUEST_TIMEOUT", Duration::from_secs(30), parse_duration);
        let trusted_proxies = p.value("TRUSTED_PROXIES", Vec::new(), |v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(TrustedProxy::parse)
                .collect()
        });
        let swagger_ui = p.value("SWAGGER_UI", !production, parse_bool);
        let defaults = Argon2Settings::default();
        let argon2 = Argon2Settings {
            memory_kib: p.value("ARGON2_MEMORY_KIB", defaults.memory_kib, |v| {
                parse_number(v).and_then(|n: u32| {
                    if (8..=4 * 1024 * 1024).contains(&n) {
                        Ok(n)
                    } else {
                        Err("must be between 8 and 4194304".into())
                    }
                })
            }),
            iterations: p.value("ARGON2_ITERATIONS", defaults.iterations, |v| {
                parse_number(v).and_then(|n: u32| {
                    if (1..=100).contains(&n) {
                        Ok(n)
                    } else {
                        Err("must be between 1 and 100".into())
                    }
                })
            }),
            parallelism: p.value("ARGON2_PARALLELISM", defaults.parallelism, |v| {
                parse_number(v).and_then(|n: u32| {
                    if (1..=64).contains(&n) {
                        Ok(n)
                    } else {
                        Err("must be between 1 and 64".into())
                    }
                })
            }),
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let password_hash_concurrency = p.value("PASSWORD_HASH_CONCURRENCY", cores, |v| {
            parse_number(v).and_then(|n: usize| {
                if (1..=1024).contains(&n) {
                    Ok(n)
                } else {
                    Err("must be between 1 and 1024".into())
                }
            })
        });

        let password_hash_queue = p.value("PASSWORD_HASH_QUEUE", 64, |v| {
            parse_number(v).and_then(|n: usize| {
                if n <= 100_000 {
                    Ok(n)
                } else {
                    Err("must be at most 100000".into())
                }
            })
        });
        let rate = |p: &mut Parser, short: &'static str, default: &str| {
            let default = crate::limits::Rate::parse(default).expect("valid default rate");
            p.value(short, default, crate::limits::Rate::parse)
        };
        let limits = crate::limits::Limits {
            enabled: p.value_shown("RATE_LIMITS", true, parse_bool, |on| {
                if *on { "on" } else { "off" }.to_string()
            }),
            login_per_ip: rate(p, "RATE_LIMIT_LOGIN_PER_IP", "30/min"),
            login_per_account: rate(p, "RATE_LIMIT_LOGIN_PER_ACCOUNT", "10/min"),
            register_per_ip: rate(p, "RATE_LIMIT_REGISTER_PER_IP", "10/h"),
            reset_per_ip: rate(p, "RATE_LIMIT_RESET_PER_IP", "10/h"),
            reset_per_address: rate(p, "RATE_LIMIT_RESET_PER_ADDRESS", "3/h"),
        };

        let allow_sqlite = p.value("ALLOW_SQLITE", false, parse_bool);
        let max_connections = p.value("MAX_CONNECTIONS", 4096, |v| {
            parse_number(v).and_then(|n: usize| {
                if (1..=1_000_000).contains(&n) {
                    Ok(n)
                } else {
                    Err("must be between 1 and 1000000".into())
                }
            })
        });
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
        let header_timeout = p.value("HEADER_TIMEOUT", Duration::from_secs(10), |v| {
            parse_duration(v).and_then(|d| at_least(d, Duration::from_millis(100)))
        });
        let idle_timeout = p.value("IDLE_TIMEOUT", Duration::from_secs(60), |v| {
            parse_duration(v).and_then(|d| at_least(d, Duration::from_secs(1)))
        });
        let audit_retention = p.value("AUDIT_RETENTION", Duration::from_secs(90 * 86_400), |v| {
            parse_duration(v).and_then(|d| at_least(d, Duration::from_secs(86_400)))
        });
        if production {
            if issuer.starts_with("http://") {
                p.problem(
                    "ISSUER",
                    "production requires an https:// issuer (set GATEHOUSE_ISSUER=https://your.host)",
                );
            }
            if database_url.expose().starts_with("sqlite:") && !allow_sqlite {
                p.problem(
                    "DATABASE_URL",
                    "production expects PostgreSQL (postgres://…); to run one instance on SQLite anyway, \
                     set GATEHOUSE_ALLOW_SQLITE=true",
                );
            }
            if cors_origins.iter().any(|o| o == "*") {
                p.problem(
                    "CORS_ORIGINS",
                    "production refuses the wildcard origin `*`; list the origins, e.g. https://app.example.com",
                );
            }
            if argon2.memory_kib < defaults.memory_kib {
                p.problem(
                    "ARGON2_MEMORY_KIB",
                    format!("production requires at least {} KiB", defaults.memory_kib),
                );
            }
        }

        Self {
            env,
            listen,
            issuer,
            database_url,
            database_max_connections,
            redis_url,
            redis_key_prefix,
            smtp_url,
            mail_from,
            mail_dir,
            keys_dir,
            jwks_max_age,
            keys_reload_interval,
            signing_key_bits,
            signing_alg,
            audience,
            access_token_ttl,
            refresh_token_idle_ttl,
            refresh_token_max_ttl,
            refresh_reuse_grace,
            auth_code_ttl,
            email_verification_ttl,
            password_reset_ttl,
            require_verified_email,
            password_grant,
            cors_origins,
            log_format,
            log_level,
            max_body,
            request_timeout,
            trusted_proxies,
            swagger_ui,
            argon2,
            password_hash_concurrency,
            password_hash_queue,
            limits,
            audit_retention,
            max_connections,
            idle_timeout,
            header_timeout,
            tls,
            described: p.shown.clone(),
        }
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Checks that need the file system (not the network): in production the keys must
    /// already exist, since a generated key would differ on every instance.
    pub fn check_keys_present(&self) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        let keys: Vec<PathBuf> = std::fs::read_dir(&self.keys_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "pem"))
                    .collect()
            })
            .unwrap_or_default();
        // Private keys readable by other users of the machine are refused.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let exposed: Vec<ConfigProblem> = keys
                .iter()
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0))
                .map(|p| ConfigProblem {
                    variable: format!("{PREFIX}KEYS_DIR"),
                    message: format!(
                        "{} is readable by other users; run `chmod 600 {}`",
                        p.display(),
                        p.display()
                    ),
                })
                .collect();
            if !exposed.is_empty() {
                return Err(ConfigError(exposed));
            }
        }
        if !keys.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(vec![ConfigProblem {
                variable: format!("{PREFIX}KEYS_DIR"),
                message: format!(
                    "production requires signing keys in {}: run `gatehouse keys rotate` once, or put an RSA private key there (PKCS#8 PEM, at least 2048 bits)",
                    self.keys_dir.display()
                ),
            }]))
        }
    }

    /// The effective settings as `VARIABLE=value` lines, secrets hidden: every setting
    /// [`Config::from_raw`] read, in the order it read them.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.described
            .iter()
            .map(|(name, value)| (format!("{PREFIX}{name}"), value.clone()))
            .collect()
    }

    /// How long before a new key signs, it must be published: every resource server's
    /// cached JWKS has expired, and every instance has re-read the folder.
    pub fn key_publish_ahead(&self) -> Duration {
        self.jwks_max_age + self.keys_reload_interval
    }

    /// The longest lifetime of a token a key may have signed.
    pub fn longest_token_lifetime(&self) -> Duration {
        self.access_token_ttl
    }

    /// The SQLite file behind a `sqlite:` URL, if any (its folder is created at start).
    pub fn sqlite_path(&self) -> Option<&Path> {
        let url = self.database_url.expose();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
    }
}

fn parse_issuer(v: &str) -> Result<String, String> {
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

fn at_least(d: Duration, min: Duration) -> Result<Duration, String> {
    if d < min {
        Err(format!("must be at least {}", format_duration(min)))
    } else {
        Ok(d)
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("`{v}` is not true or false")),
    }
}

fn parse_number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("`{v}` is not a whole number"))
}

/// Durations are written `90s`, `15m`, `12h`, `30d` (or `250ms`).
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let err = || format!("`{v}` is not a duration such as 90s, 15m, 12h or 30d");
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (number, unit) = v.split_at(split);
    let n: u64 = number.parse().map_err(|_| err())?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(err)?,
        "h" => n.checked_mul(3600).ok_or_else(err)?,
        "d" => n.checked_mul(86_400).ok_or_else(err)?,
        _ => return Err(err()),
    };
    Ok(Duration::from_secs(secs))
}

/// Writes a duration the way it is configured.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        format!("{}ms", d.as_millis())
    } else if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Sizes are written `1048576`, `512KiB`, `1MiB` (`KB`/`MB` are read as the same).
fn parse_size(v: &str) -> Result<usize, String> {
    let err = || format!("`{v}` is not a size such as 64KiB or 1MiB");
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: usize = number.parse().map_err(|_| err())?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(err()),
    };
    n.checked_mul(factor).ok_or_else(err)
}

/// Hides the password of a database, Redis or SMTP URL, in its user part and in any query
/// parameter that may carry one (`?password=`, `?pass=`, `?sslpassword=` …).
fn redact_url(v: &str) -> String {
    let Ok(mut url) = Url::parse(v) else {
        return v.to_string();
    };
    let secret_key = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["pass", "secret", "token", "key"]
            .iter()
            .any(|s| k.contains(s))
    };
    if url.query_pairs().any(|(k, _)| secret_key(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_key(&k) {
                    "redacted".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    url.to_string()
        .replacen(":redacted@", ":<redacted>@", 1)
        .replace("=redacted", "=<redacted>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_settings() {
        let config = Config::from_raw(&RawSettings::default()).unwrap();
        assert_eq!(config.issuer, "http://localhost:8080");
        assert_eq!(config.audience, "http://localhost:8080");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.sqlite_path(), Some(Path::new("data/gatehouse.db")));
    }

    #[test]
    fn every_invalid_setting_is_reported_at_once() {
        let raw = RawSettings::from_pairs([
            ("GATEHOUSE_LISTEN", "nowhere"),
            ("GATEHOUSE_ACCESS_TOKEN_TTL", "fortnight"),
            ("GATEHOUSE_PASSWORD_GRANT", "maybe"),
        ]);
        let err = Config::from_raw(&raw).unwrap_err();
        let names: Vec<_> = err.0.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            names,
            [
                "GATEHOUSE_LISTEN",
                "GATEHOUSE_ACCESS_TOKEN_TTL",
                "GATEHOUSE_PASSWORD_GRANT"
            ]
        );
    }

    #[test]
    fn production_refuses_an_http_issuer() {
        let raw = RawSettings::from_pairs([
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_ISSUER", "http://id.example.com"),
        ]);
        let err = Config::from_raw(&raw).unwrap_err();
        assert_eq!(err.0[0].variable, "GATEHOUSE_ISSUER");
    }

    #[test]
    fn durations_and_sizes_read_as_written() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("-5m").is_err());
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(parse_size("1MiB").unwrap(), 1024 * 1024);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn toml_keys_are_variable_names_without_the_prefix() {
        let raw = RawSettings::from_toml(
            "issuer = \"https://id.example.com/\"\ncors_origins = [\"https://a.example\"]",
        )
        .unwrap();
        let config = Config::from_raw(&raw).unwrap();
        assert_eq!(config.issuer, "https://id.example.com");
        assert_eq!(config.cors_origins, ["https://a.example"]);
    }

    #[test]
    fn unknown_variables_are_noticed() {
        let raw = RawSettings::from_pairs([("GATEHOUSE_ISSUR", "x")]);
        assert_eq!(raw.unknown(), ["GATEHOUSE_ISSUR"]);
    }

    #[test]
    fn every_setting_read_is_known_and_described() {
        let config = Config::from_raw(&RawSettings::default()).unwrap();
        let described: Vec<String> = config.describe().into_iter().map(|(k, _)| k).collect();
        let raw = RawSettings::from_pairs(
            described
                .iter()
                .map(|name| (name.as_str(), "x"))
                .chain([(CONFIG_FILE_VARIABLE, "x")]),
        );
        assert!(raw.unknown().is_empty(), "{:?}", raw.unknown());
        assert!(described.contains(&"GATEHOUSE_REDIS_URL".to_string()));
        assert!(described.contains(&"GATEHOUSE_REDIS_KEY_PREFIX".to_string()));
    }

    #[test]
    fn database_passwords_are_hidden_when_described() {
        let raw =
            RawSettings::from_pairs([("GATEHOUSE_DATABASE_URL", "postgres://gh:hunter22@db/gh")]);
        let config = Config::from_raw(&raw).unwrap();
        let described = config.describe();
        let url = &described
            .iter()
            .find(|(k, _)| k == "GATEHOUSE_DATABASE_URL")
            .unwrap()
            .1;
        assert!(!url.contains("hunter22"));
        assert!(!format!("{config:?}").contains("hunter22"));
    }

    #[test]
    fn passwords_in_query_strings_are_hidden_when_described() {
        let raw = RawSettings::from_pairs([
            (
                "GATEHOUSE_DATABASE_URL",
                "postgres://gh@db/gh?sslmode=require&password=hunter22",
            ),
            (
                "GATEHOUSE_REDIS_URL",
                "redis+unix:///run/redis.sock?db=2&pass=hunter23",
            ),
        ]);
        let described = Config::from_raw(&raw).unwrap().describe();
        let text = format!("{described:?}");
        assert!(
            !text.contains("hunter22") && !text.contains("hunter23"),
            "{text}"
        );
        assert!(
            text.contains("sslmode=require") && text.contains("db=2"),
            "{text}"
        );
    }

    #[test]
    fn trusted_proxy_networks_match_their_members() {
        let net = TrustedProxy::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.1.2.3".parse().unwrap()));
        assert!(TrustedProxy::parse("10.0.0.0/33").is_err());
    }
}
