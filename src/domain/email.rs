//! Email addresses: the sign-in name, unique regardless of case.

use std::fmt;

use super::Invalid;

/// A syntactically plausible email address, stored lower-cased so that uniqueness and
/// look-ups ignore case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain` with a dotted or bracketed domain; surrounding white space is
    /// dropped. Deliverability is proven by the verification mail, not here.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        // RFC 5321 §4.5.3.1: 254 octets for a usable path, 64 for the local part.
        if text.len() > 254 {
            return Err(Invalid::new("must be at most 254 characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "must not contain spaces or control characters",
            ));
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(Invalid::new(
                "must be an email address such as name@example.com",
            ));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') && !local.starts_with('"') {
            return Err(Invalid::new(
                "must be an email address such as name@example.com",
            ));
        }
        let domain_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(Invalid::new(
                "must be an email address such as name@example.com",
            ));
        }
        Ok(Self(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_trimmed() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn implausible_addresses_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@-x.com",
            "ada@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
    }
}
