//! Raw settings (environment over `gatehouse.toml`) and the [`Parser`] every section reads
//! them through: reading a setting declares it, checks it, and records how `check-config`
//! shows it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::{Config, ConfigError, ConfigProblem, Environment, LogFormat, TrustedProxy};
use crate::domain::Secret;

/// Where settings come from, in order of precedence: the environment, then the file.
pub const CONFIG_FILE_VARIABLE: &str = "GATEHOUSE_CONFIG";
const DEFAULT_CONFIG_FILE: &str = "gatehouse.toml";
pub(super) const PREFIX: &str = "GATEHOUSE_";

/// Every variable Gatehouse reads — the ones [`Config::from_raw`] parses, found by parsing
/// the defaults once — so that anything else with the prefix is reported as unknown.
fn known_settings() -> &'static [&'static str] {
    static KNOWN: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let defaults = RawSettings::default();
        let mut p = Parser::new(&defaults);
        let _ = Config::parse(&mut p);
        let mut known: Vec<&'static str> = p.shown.into_iter().map(|(name, _)| name).collect();
        known.push("CONFIG");
        known
    })
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
pub(super) struct Parser<'a> {
    raw: &'a RawSettings,
    pub(super) problems: Vec<ConfigProblem>,
    /// Every setting read, in order, with its effective value as `check-config` shows it.
    pub(super) shown: Vec<(&'static str, String)>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(raw: &'a RawSettings) -> Self {
        Self {
            raw,
            problems: Vec::new(),
            shown: Vec::new(),
        }
    }

    pub(super) fn problem(&mut self, short: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable: format!("{PREFIX}{short}"),
            message: message.into(),
        });
    }

    /// Parses one setting, recording a problem and falling back to `default` on failure.
    /// This is the one place a setting is declared: reading it makes it known, and
    /// `check-config` shows what was read.
    pub(super) fn value<T: Shown>(
        &mut self,
        short: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.value_shown(short, default, parse, T::shown)
    }

    /// [`Parser::value`] with a way of showing the value of its own.
    pub(super) fn value_shown<T>(
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

    /// A duration (`90s`, `15m` …) within `bounds`.
    pub(super) fn duration(
        &mut self,
        short: &'static str,
        default: Duration,
        bounds: Bounds,
    ) -> Duration {
        self.value(short, default, |v| {
            bounds.check(parse_duration(v)?, |b| {
                parse_duration(b).expect("valid duration bound")
            })
        })
    }

    /// A whole number within `bounds`.
    pub(super) fn number<T>(&mut self, short: &'static str, default: T, bounds: Bounds) -> T
    where
        T: Shown + std::str::FromStr + PartialOrd,
        T::Err: std::fmt::Debug,
    {
        self.value(short, default, |v| {
            bounds.check(parse_number(v)?, |b| b.parse().expect("valid number bound"))
        })
    }

    pub(super) fn flag(&mut self, short: &'static str, default: bool) -> bool {
        self.value(short, default, parse_bool)
    }
}

/// The range a setting must lie in, with its limits written as the messages show them.
#[derive(Clone, Copy)]
pub(super) enum Bounds {
    Any,
    AtLeast(&'static str),
    AtMost(&'static str),
    Between(&'static str, &'static str),
}

impl Bounds {
    /// `value` if it lies within the bounds (read by `parse`), else the reason it does not.
    pub(super) fn check<T: PartialOrd>(
        self,
        value: T,
        parse: impl Fn(&str) -> T,
    ) -> Result<T, String> {
        let (min, max) = match self {
            Self::Any => (None, None),
            Self::AtLeast(min) => (Some(min), None),
            Self::AtMost(max) => (None, Some(max)),
            Self::Between(min, max) => (Some(min), Some(max)),
        };
        let outside =
            min.is_some_and(|m| value < parse(m)) || max.is_some_and(|m| value > parse(m));
        if !outside {
            return Ok(value);
        }
        Err(match (min, max) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (None, None) => unreachable!("no bound to be outside of"),
        })
    }
}

pub(super) fn parse_bool(v: &str) -> Result<bool, String> {
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
    // Zero needs no unit.
    if v == "0" {
        return Ok(Duration::ZERO);
    }
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
pub(super) fn parse_size(v: &str) -> Result<usize, String> {
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
shown_by_display!(
    String,
    bool,
    u32,
    usize,
    SocketAddr,
    crate::limits::Rate,
    TrustedProxy
);

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
