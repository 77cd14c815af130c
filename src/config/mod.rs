//! Settings: raw `GATEHOUSE_*` values (environment over `gatehouse.toml`) turned into a
//! typed, validated [`Config`] of sections, with every problem reported at once.
//!
//! `parser.rs` reads the raw values and declares each setting as it is read;
//! `sections.rs` holds the sections, each parsing its own variables; `passkeys.rs` the
//! passkeys' relying party, derived from the issuer.

mod parser;
mod passkeys;
mod sections;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use parser::{CONFIG_FILE_VARIABLE, RawSettings, Shown, format_duration, parse_duration};
use parser::{PREFIX, Parser};
pub use passkeys::{PasskeySettings, RelyingParty};
pub use sections::{
    AccountSettings, Argon2Settings, ConnectionSettings, HttpSettings, KeySettings, LegacySettings,
    LogSettings, OAuthSettings, OutgoingMail, PasswordSettings, StoreSettings, TokenSettings,
};

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

/// The validated configuration the whole program runs on, in sections.
#[derive(Clone, Debug)]
pub struct Config {
    pub env: Environment,
    pub listen: SocketAddr,
    /// The issuer, without a trailing slash.
    pub issuer: String,
    pub store: StoreSettings,
    pub mail: OutgoingMail,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub accounts: AccountSettings,
    pub passkeys: PasskeySettings,
    pub oauth: OAuthSettings,
    pub legacy: LegacySettings,
    pub log: LogSettings,
    pub http: HttpSettings,
    pub passwords: PasswordSettings,
    pub limits: crate::limits::Limits,
    pub connections: ConnectionSettings,
    /// How long audit events are kept.
    pub audit_retention: Duration,
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

impl Config {
    /// Validates raw settings; every invalid one is named in the error.
    pub fn from_raw(raw: &RawSettings) -> Result<Self, ConfigError> {
        let mut p = Parser::new(raw);
        let config = Self::parse(&mut p);
        if p.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(p.problems))
        }
    }

    /// Reads every setting through `p`, section by section; the result is meaningful only
    /// when `p` recorded no problem.
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
        let issuer = p.value(
            "ISSUER",
            "http://localhost:8080".to_string(),
            sections::parse_issuer,
        );
        let store = StoreSettings::parse(p);
        let mail = OutgoingMail::parse(p, &issuer);
        let keys = KeySettings::parse(p);
        let tokens = TokenSettings::parse(p, &issuer);
        let accounts = AccountSettings::parse(p);
        let passkeys = PasskeySettings::parse(p, &issuer, production);
        let oauth = OAuthSettings::parse(p);
        let legacy = LegacySettings::parse(p);
        let log = LogSettings::parse(p, production);
        let http = HttpSettings::parse(p, production);
        let passwords = PasswordSettings::parse(p);
        let limits = sections::parse_limits(p);
        let allow_sqlite = p.flag("ALLOW_SQLITE", false);
        let connections = ConnectionSettings::parse(p);
        let audit_retention = p.duration(
            "AUDIT_RETENTION",
            Duration::from_secs(90 * 86_400),
            parser::Bounds::AtLeast("1d"),
        );
        if production {
            if accounts.mfa_encryption_key.is_none() {
                p.problem(
                    "MFA_ENCRYPTION_KEY",
                    "production requires the key second-factor secrets are sealed with: \
                     32 random bytes in base64url, e.g. \
                     `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`",
                );
            }
            if legacy.hs256_secret.is_some() && legacy.tokens_until.is_none() {
                p.problem(
                    "LEGACY_TOKENS_UNTIL",
                    "production requires an end date with GATEHOUSE_LEGACY_HS256_SECRET: the day \
                     the old service's last token expires (its tokens live 30 days), e.g. 2027-01-31",
                );
            }
            if issuer.starts_with("http://") {
                p.problem(
                    "ISSUER",
                    "production requires an https:// issuer (set GATEHOUSE_ISSUER=https://your.host)",
                );
            }
            if store.database_url.expose().starts_with("sqlite:") && !allow_sqlite {
                p.problem(
                    "DATABASE_URL",
                    "production expects PostgreSQL (postgres://…); to run one instance on SQLite anyway, \
                     set GATEHOUSE_ALLOW_SQLITE=true",
                );
            }
            if oauth.cors_origins.iter().any(|o| o == "*") {
                p.problem(
                    "CORS_ORIGINS",
                    "production refuses the wildcard origin `*`; list the origins, e.g. https://app.example.com",
                );
            }
            let defaults = Argon2Settings::default();
            if passwords.argon2.memory_kib < defaults.memory_kib {
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
            store,
            mail,
            keys,
            tokens,
            accounts,
            passkeys,
            oauth,
            legacy,
            log,
            http,
            passwords,
            limits,
            connections,
            audit_retention,
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
        let keys: Vec<PathBuf> = std::fs::read_dir(&self.keys.dir)
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
                    self.keys.dir.display()
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
        self.keys.jwks_max_age + self.keys.reload_interval
    }

    /// The longest lifetime of a token a key may have signed.
    pub fn longest_token_lifetime(&self) -> Duration {
        self.tokens.access_token_ttl
    }

    /// The SQLite file behind a `sqlite:` URL, if any (its folder is created at start).
    pub fn sqlite_path(&self) -> Option<&Path> {
        let url = self.store.database_url.expose();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
    }
}

#[cfg(test)]
mod tests {
    use super::parser::parse_size;
    use super::*;

    #[test]
    fn defaults_need_no_settings() {
        let config = Config::from_raw(&RawSettings::default()).unwrap();
        assert_eq!(config.issuer, "http://localhost:8080");
        assert_eq!(config.tokens.audience, "http://localhost:8080");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.tokens.access_token_ttl, Duration::from_secs(900));
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
        let named: Vec<&str> = err.0.iter().map(|p| p.variable.as_str()).collect();
        assert!(named.contains(&"GATEHOUSE_ISSUER"), "{named:?}");
        // Nor does production start without the key that seals second factors.
        assert!(named.contains(&"GATEHOUSE_MFA_ENCRYPTION_KEY"), "{named:?}");
    }

    #[test]
    fn durations_and_sizes_read_as_written() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(parse_duration("15").is_err());
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("-5m").is_err());
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(parse_size("1MiB").unwrap(), 1024 * 1024);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn out_of_range_settings_say_their_range_as_written() {
        let raw = RawSettings::from_pairs([
            ("GATEHOUSE_ACCESS_TOKEN_TTL", "2d"),
            ("GATEHOUSE_REFRESH_TOKEN_IDLE_TTL", "30s"),
            ("GATEHOUSE_REFRESH_REUSE_GRACE", "1h"),
            ("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "0"),
            ("GATEHOUSE_PASSWORD_HASH_QUEUE", "100001"),
            ("GATEHOUSE_MAX_BODY", "1000"),
            ("GATEHOUSE_AUDIT_RETENTION", "2h"),
        ]);
        let err = Config::from_raw(&raw).unwrap_err();
        let messages: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "GATEHOUSE_DATABASE_MAX_CONNECTIONS: must be between 1 and 1000",
                "GATEHOUSE_ACCESS_TOKEN_TTL: must be between 10s and 24h",
                "GATEHOUSE_REFRESH_TOKEN_IDLE_TTL: must be at least 1m",
                "GATEHOUSE_REFRESH_REUSE_GRACE: must be at most 5m",
                "GATEHOUSE_MAX_BODY: must be at least 1KiB",
                "GATEHOUSE_PASSWORD_HASH_QUEUE: must be at most 100000",
                "GATEHOUSE_AUDIT_RETENTION: must be at least 1d",
            ]
        );
    }

    #[test]
    fn toml_keys_are_variable_names_without_the_prefix() {
        let raw = RawSettings::from_toml(
            "issuer = \"https://id.example.com/\"\ncors_origins = [\"https://a.example\"]",
        )
        .unwrap();
        let config = Config::from_raw(&raw).unwrap();
        assert_eq!(config.issuer, "https://id.example.com");
        assert_eq!(config.oauth.cors_origins, ["https://a.example"]);
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
    fn the_old_services_secret_is_hidden_and_needs_an_end_in_production() {
        let secret = "https://old.example/not-a-url-but-a-secret-of-40-bytes";
        let raw = RawSettings::from_pairs([
            ("GATEHOUSE_LEGACY_HS256_SECRET", secret),
            ("GATEHOUSE_LEGACY_TOKENS_UNTIL", "2027-01-31"),
        ]);
        let config = Config::from_raw(&raw).unwrap();
        let text = format!("{:?} {config:?}", config.describe());
        assert!(!text.contains("not-a-url"), "{text}");
        // A day ends when it does: the exchange works all through it.
        assert_eq!(
            config.legacy.tokens_until.unwrap().to_rfc3339(),
            "2027-02-01T00:00:00+00:00"
        );
        let short = RawSettings::from_pairs([("GATEHOUSE_LEGACY_HS256_SECRET", "too-short")]);
        let problems = Config::from_raw(&short).unwrap_err().0;
        assert_eq!(problems[0].variable, "GATEHOUSE_LEGACY_HS256_SECRET");
        assert!(!problems[0].message.contains("too-short"));
        let production = RawSettings::from_pairs([
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_ISSUER", "https://id.example.com"),
            ("GATEHOUSE_DATABASE_URL", "postgres://db/gh"),
            (
                "GATEHOUSE_MFA_ENCRYPTION_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
            ("GATEHOUSE_LEGACY_HS256_SECRET", secret),
        ]);
        let problems = Config::from_raw(&production).unwrap_err().0;
        let named: Vec<&str> = problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(named, ["GATEHOUSE_LEGACY_TOKENS_UNTIL"]);
        let bad_end = RawSettings::from_pairs([("GATEHOUSE_LEGACY_TOKENS_UNTIL", "next month")]);
        assert!(Config::from_raw(&bad_end).is_err());
    }

    #[test]
    fn trusted_proxy_networks_match_their_members() {
        let net = TrustedProxy::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.1.2.3".parse().unwrap()));
        assert!(TrustedProxy::parse("10.0.0.0/33").is_err());
    }
}
