//! Passwords as people type them: NFKC-normalised, 8 to 128 characters, never trimmed.

use unicode_normalization::UnicodeNormalization;

use super::{Invalid, Secret};

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

/// A candidate password in NFKC form, so the same password typed on different keyboards
/// (composed or decomposed accents, full-width digits) hashes the same — and as typed, for
/// the old service's bcrypt hashes, which were made of the raw input.
#[derive(Clone, Debug)]
pub struct Password(Secret<String>, Secret<String>);

impl Password {
    /// For a new password: enforces the length rules after normalisation.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let password = Self::for_verification(text);
        let chars = password.0.expose().chars().count();
        if chars < MIN_CHARS {
            return Err(Invalid::new(format!(
                "must be at least {MIN_CHARS} characters"
            )));
        }
        if chars > MAX_CHARS {
            return Err(Invalid::new(format!(
                "must be at most {MAX_CHARS} characters"
            )));
        }
        Ok(password)
    }

    /// For a sign-in attempt: normalised, but not judged, so that passwords set under older
    /// rules (an imported account) still verify. Very long input is cut to a bound first, so
    /// hashing cost cannot be inflated; such input can never match a stored password.
    pub fn for_verification(text: &str) -> Self {
        const BOUND: usize = 4 * MAX_CHARS * 4;
        let mut end = text.len().min(BOUND);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self(
            Secret::new(text[..end].nfkc().collect()),
            Secret::new(text[..end].to_string()),
        )
    }

    /// The normalised form: what argon2id hashes are made of.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The password exactly as typed (cut to the same bound): what the old service's
    /// passlib hashed, so what its bcrypt hashes verify against.
    pub fn as_typed(&self) -> &str {
        self.1.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_form_is_kept_beside_the_normalised_one() {
        let full_width = Password::for_verification("ｐａｓｓｗｏｒｄ１");
        assert_eq!(full_width.expose(), "password1");
        assert_eq!(full_width.as_typed(), "ｐａｓｓｗｏｒｄ１");
    }

    #[test]
    fn composed_and_decomposed_forms_are_one_password() {
        let nfc = Password::parse("caf\u{e9}-secret").unwrap();
        let nfd = Password::parse("cafe\u{301}-secret").unwrap();
        assert_eq!(nfc.expose(), nfd.expose());
    }

    #[test]
    fn length_is_counted_in_characters_after_normalisation() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"é".repeat(8)).is_ok());
        assert!(Password::parse(&"a".repeat(128)).is_ok());
        assert!(Password::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn white_space_is_kept() {
        assert_eq!(
            Password::parse("  padded  ").unwrap().expose(),
            "  padded  "
        );
    }

    #[test]
    fn passwords_never_print() {
        let p = Password::parse("hunter22hunter22").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
