//! Moving users over from the old service: JSON Lines exported from its `users` table,
//! `{email, name, hashed_password, profile?: {country?, city?, business_context?,
//! preferred_language?}, created_at?, legacy_id?}`. Passwords stay bcrypt until each
//! person's next sign-in, which rehashes them to argon2id. `legacy_id`, the old service's
//! integer user id, lets the old service's tokens be exchanged for sessions.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::config::Argon2Settings;
use crate::domain::{Email, NewUser, Profile, Secret, UserId, UserName};

use super::password::check_importable;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    /// Lines whose email already has an account (from an earlier import, or earlier in
    /// the file): left as they are.
    pub existing: u64,
    /// Of those, accounts that had no old id and were given the line's `legacy_id`.
    pub legacy_ids_recorded: u64,
    /// `(line number, what is wrong)`, for lines not imported.
    pub invalid: Vec<(u64, String)>,
}

impl ImportReport {
    /// Counts line `number` as not imported, and says why on standard error.
    pub fn refuse(&mut self, number: u64, problem: String) {
        eprintln!("line {number}: {problem}");
        self.invalid.push((number, problem));
    }
}

/// Reads one exported line into an account, or says everything wrong with it. A hash whose
/// costs exceed the bounds (against `argon2`, the configured costs) is refused, since
/// checking it at sign-in would pin a hashing thread.
pub fn parse_line(
    line: &str,
    now: DateTime<Utc>,
    argon2: &Argon2Settings,
) -> Result<NewUser, String> {
    let object: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("not JSON: {e}")),
    };
    let mut problems = Vec::new();
    let text = |field: &str, problems: &mut Vec<String>| match object.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(format!("{field}: must be a string"));
            None
        }
        None => {
            problems.push(format!("{field}: is required"));
            None
        }
    };
    let email = text("email", &mut problems).and_then(|v| {
        Email::parse(&v)
            .map_err(|e| problems.push(format!("email: {e}")))
            .ok()
    });
    let name = text("name", &mut problems).and_then(|v| {
        UserName::parse(&v)
            .map_err(|e| problems.push(format!("name: {e}")))
            .ok()
    });
    let hash = text("hashed_password", &mut problems).and_then(|v| {
        check_importable(&v, argon2)
            .map_err(|e| problems.push(format!("hashed_password: {e}")))
            .ok()
            .map(|()| v)
    });
    let created_at = match object.get("created_at") {
        None | Some(Value::Null) => Some(now),
        Some(Value::String(s)) => parse_time(s)
            .map_err(|e| problems.push(format!("created_at: {e}")))
            .ok(),
        Some(_) => {
            problems.push("created_at: must be a string".into());
            None
        }
    };
    let legacy_id = match object.get("legacy_id") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(id) if id >= 0 => Some(id),
            _ => {
                problems.push("legacy_id: must be a whole number, 0 or more".into());
                None
            }
        },
        Some(_) => {
            problems.push("legacy_id: must be a number (the old service's user id)".into());
            None
        }
    };
    let profile = match object.get("profile") {
        None | Some(Value::Null) => Profile::default(),
        Some(Value::Object(p)) => parse_profile(p, &mut problems),
        Some(_) => {
            problems.push("profile: must be an object".into());
            Profile::default()
        }
    };
    match (email, name, hash, created_at) {
        (Some(email), Some(name), Some(hash), Some(created_at)) if problems.is_empty() => {
            Ok(NewUser {
                id: UserId::generate(),
                email,
                name,
                password_hash: Secret::new(hash),
                roles: Vec::new(),
                email_verified: false,
                profile,
                created_at,
                legacy_id,
            })
        }
        _ => Err(problems.join("; ")),
    }
}

/// RFC 3339, or PostgreSQL's `2024-05-01 12:30:00[.123456]` without a zone (read as UTC).
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(at.and_utc());
        }
    }
    Err(format!(
        "`{text}` is not a timestamp (RFC 3339 or YYYY-MM-DD HH:MM:SS)"
    ))
}

fn parse_profile(object: &Map<String, Value>, problems: &mut Vec<String>) -> Profile {
    let mut profile = Profile::default();
    let mut text =
        |field: &str, parse: fn(&str) -> Result<String, crate::domain::Invalid>| match object
            .get(field)
        {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => parse(s)
                .map_err(|e| problems.push(format!("profile.{field}: {e}")))
                .ok(),
            Some(_) => {
                problems.push(format!("profile.{field}: must be a string"));
                None
            }
        };
    profile.country = text("country", Profile::parse_country);
    profile.city = text("city", Profile::parse_city);
    profile.preferred_language = text("preferred_language", Profile::parse_language);
    profile.business_context = match object.get("business_context") {
        None | Some(Value::Null) => None,
        Some(v) => Profile::parse_business_context(v)
            .map_err(|e| problems.push(format!("profile.business_context: {e}")))
            .ok(),
    };
    profile
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The moment the tests import at.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

    #[test]
    fn a_full_line_reads_into_an_account() {
        let line = format!(
            r#"{{"email":"Ada@Example.com","name":"Ada","hashed_password":"{BCRYPT}","profile":{{"country":"UK","preferred_language":"fr","business_context":{{"sector":"bakery"}}}},"created_at":"2024-05-01 12:30:00.123456"}}"#
        );
        let user = parse_line(&line, now(), &Argon2Settings::default()).unwrap();
        assert_eq!(user.email.as_str(), "ada@example.com");
        assert_eq!(user.password_hash.expose(), BCRYPT);
        assert_eq!(user.profile.preferred_language.as_deref(), Some("fr"));
        assert_eq!(
            user.created_at.to_rfc3339(),
            "2024-05-01T12:30:00.123456+00:00"
        );
        assert!(user.roles.is_empty() && !user.email_verified);
        assert_eq!(user.legacy_id, None);
    }

    #[test]
    fn the_old_id_is_kept_when_given() {
        let line = |id: &str| {
            format!(
                r#"{{"email":"ada@example.com","name":"Ada","hashed_password":"{BCRYPT}","legacy_id":{id}}}"#
            )
        };
        let parse = |id: &str| parse_line(&line(id), now(), &Argon2Settings::default());
        assert_eq!(parse("42").unwrap().legacy_id, Some(42));
        assert_eq!(parse("null").unwrap().legacy_id, None);
        for bad in ["-1", "1.5", "\"42\"", "[42]", "1e40"] {
            let problem = parse(bad).unwrap_err();
            assert!(problem.contains("legacy_id:"), "{bad}: {problem}");
        }
    }

    #[test]
    fn every_problem_of_a_line_is_named() {
        let problems = parse_line(
            r#"{"email":"not-an-email","hashed_password":"plaintext","created_at":"yesterday"}"#,
            now(),
            &Argon2Settings::default(),
        )
        .unwrap_err();
        for field in [
            "email:",
            "name: is required",
            "hashed_password:",
            "created_at:",
        ] {
            assert!(problems.contains(field), "{field} in {problems}");
        }
        assert!(
            parse_line("[1, 2]", now(), &Argon2Settings::default())
                .unwrap_err()
                .contains("object")
        );
        assert!(
            parse_line("{oops", now(), &Argon2Settings::default())
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn hashes_costlier_than_the_bounds_are_refused() {
        let line = |hash: &str| {
            format!(r#"{{"email":"ada@example.com","name":"Ada","hashed_password":"{hash}"}}"#)
        };
        let settings = Argon2Settings::default();
        let parse = |hash: &str| parse_line(&line(hash), now(), &settings);
        // The bound itself is accepted; one more is refused, and 31 (bcrypt's own limit).
        let salt_and_hash = &BCRYPT[7..];
        assert!(parse(&format!("$2b$14${salt_and_hash}")).is_ok());
        for cost in ["15", "31"] {
            let problem = parse(&format!("$2b${cost}${salt_and_hash}")).unwrap_err();
            assert!(
                problem.contains(&format!("bcrypt cost {cost}")),
                "{problem}"
            );
            assert!(!problem.contains(salt_and_hash), "the hash is never shown");
        }
        // argon2: up to four times the configured memory and work.
        let argon2 = |m: u32, t: u32| {
            format!(
                "$argon2id$v=19$m={m},t={t},p=1$c29tZXNhbHRzb21lc2FsdA$c29tZWhhc2hzb21laGFzaHNvbWVoYXNoc29tZWhhc2g"
            )
        };
        assert!(parse(&argon2(4 * 19456, 1)).is_ok());
        assert!(parse(&argon2(19456, 8)).is_ok());
        for (m, t) in [
            (4 * 19456 + 1, 1),
            (19456, 9),
            (4 * 19456, 3),
            (4_000_000, 1),
        ] {
            let problem = parse(&argon2(m, t)).unwrap_err();
            assert!(problem.contains("argon2 costs"), "{problem}");
        }
        assert!(
            parse("$2b$12$tooshort")
                .unwrap_err()
                .contains("not a bcrypt hash")
        );
        assert!(parse("$pbkdf2-sha256$29000$x$y").is_err());
    }
}
