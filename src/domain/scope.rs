//! Scopes: space-separated tokens (RFC 6749 §3.3).

use std::fmt;

/// A set of scope tokens, in the order first given, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, separated by spaces.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        if text.len() > 2048 {
            return Err("the scope is too long");
        }
        let mut scopes: Vec<String> = Vec::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err("the scope contains characters that are not allowed");
            }
            if !scopes.iter().any(|s| s == token) {
                scopes.push(token.to_string());
            }
        }
        Ok(Self(scopes))
    }

    /// A scope as a store holds it (written by [`Scopes`]'s `Display`), trusted as it is.
    pub fn from_stored(text: &str) -> Self {
        Self::from_names(text.split(' ').filter(|t| !t.is_empty()))
    }

    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut scopes = Self::default();
        for name in names {
            let name = name.into();
            if !scopes.0.contains(&name) {
                scopes.0.push(name);
            }
        }
        scopes
    }

    /// Adds names not yet present.
    pub fn extend<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            if !self.contains(name) {
                self.0.push(name.to_string());
            }
        }
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Scopes of `self` that `allowed` does not hold.
    pub fn not_in<'a>(&'a self, allowed: &'a Scopes) -> impl Iterator<Item = &'a str> {
        self.iter().filter(|s| !allowed.contains(s))
    }

    /// Whether asking for `self` would widen `granted`: it holds a scope `granted` does
    /// not. A refresh may narrow the scope, never widen it (RFC 6749 §6).
    pub fn widens(&self, granted: &Scopes) -> bool {
        self.not_in(granted).next().is_some()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_deduplicated_and_checked() {
        assert_eq!(
            Scopes::parse("openid  email openid").unwrap().to_string(),
            "openid email"
        );
        assert!(Scopes::parse("bad\"quote").is_err());
        assert!(Scopes::parse("tab\there").is_err());
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn only_a_scope_beyond_the_granted_ones_widens() {
        let granted = Scopes::parse("openid profile email").unwrap();
        let widens = |asked: &str| Scopes::parse(asked).unwrap().widens(&granted);
        assert!(widens("openid admin"));
        assert!(!widens("email"));
        assert!(!widens("email openid profile"));
        assert!(!widens(""));
    }
}
