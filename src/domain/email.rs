//! Email addresses: the sign-in name, unique regardless of case and of look-alike forms.

use std::fmt;

use precis_core::profile::PrecisFastInvocation;
use precis_profiles::UsernameCaseMapped;

use super::{Invalid, text};

/// A syntactically plausible email address whose local part and domain labels are
/// PRECIS identifiers (RFC 8265 §3.3, the UsernameCaseMapped profile): lower-cased,
/// width-mapped and NFC-normalized; zero-width, bidi-control, BOM, non-character and
/// other code points the IdentifierClass disallows (RFC 8264 §4.2) are refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain` with a dotted domain; surrounding white space is dropped.
    /// Deliverability is proven by the verification mail, not here.
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
        let malformed = || Invalid::new("must be an email address such as name@example.com");
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(malformed());
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') && !local.starts_with('"') {
            return Err(malformed());
        }
        // Each part on its own: the bidi rule (RFC 8264 §5.2.6) holds within a label, so
        // a right-to-left local part may sit beside a left-to-right domain.
        let identifier = |part: &str| {
            UsernameCaseMapped::enforce(part)
                .map(|enforced| enforced.into_owned())
                .map_err(|_| {
                    Invalid::new(
                        "must not contain invisible, formatting or unassigned characters \
                         (PRECIS, RFC 8265)",
                    )
                })
        };
        let local = identifier(local)?;
        let labels = domain
            .split('.')
            .map(|label| {
                if label.is_empty() {
                    Err(malformed())
                } else {
                    identifier(label)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|label| {
                label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(malformed());
        }
        Ok(Self(format!("{local}@{}", labels.join("."))))
    }

    /// An address as the store holds it, trusted as it is: rules added later must not
    /// make existing accounts unreadable.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What addresses are compared on: their case-folded NFKC form ([`text::fold`]), so
    /// that `STRASSE@x` and `straße@x` are one account.
    pub fn key(&self) -> String {
        text::fold(&self.0)
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

    #[test]
    fn invisible_and_unassigned_code_points_are_refused() {
        for bad in [
            "zw\u{200b}@example.com",
            "bidi\u{202e}@example.com",
            "bom\u{feff}@example.com",
            "nonchar\u{ffff}@example.com",
            "nonchar\u{10ffff}@example.com",
            "ada@exa\u{200b}mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn international_addresses_are_kept_and_folded_for_comparison() {
        let email = Email::parse("Émilie@Example.com").unwrap();
        assert_eq!(email.as_str(), "émilie@example.com");
        assert_eq!(
            Email::parse("STRASSE@x.org").unwrap().key(),
            Email::parse("straße@x.org").unwrap().key()
        );
        // Full-width forms map to their ASCII counterparts.
        assert_eq!(
            Email::parse("ａｄａ@example.com").unwrap().as_str(),
            "ada@example.com"
        );
    }
}
