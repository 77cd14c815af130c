//! Rules for text that any request may carry, and the one folding rule behind
//! case-insensitive comparison and search.

use unicode_normalization::UnicodeNormalization;

use super::Invalid;

/// Whether `c` is a control character no request text may hold: every C0 and C1
/// control (NUL included) but the white space of multi-line text (tab, line feed,
/// carriage return). Fields with a stricter rule (addresses, names, identifiers) refuse
/// those too. One rule, so that every database sees the same text: PostgreSQL cannot
/// store NUL at all, SQLite would store it.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Refuses text holding a forbidden control character (see [`is_forbidden_control`]).
pub fn check_controls(text: &str) -> Result<(), Invalid> {
    if text.chars().any(is_forbidden_control) {
        Err(Invalid::new("must not contain control characters"))
    } else {
        Ok(())
    }
}

/// The form two texts are compared and searched on: Unicode default case folding, then
/// NFKC (RFC 8264 §5.2.3 and §5.2.4), so `Émilie`, `ÉMILIE` and `émilie` are one and the
/// same whichever database holds them.
pub fn fold(text: &str) -> String {
    caseless::default_case_fold_str(&text.nfkc().collect::<String>())
        .nfkc()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_compatibility_forms() {
        assert_eq!(fold("Émilie"), fold("émilie"));
        assert_eq!(fold("STRASSE"), fold("straße"));
        assert_eq!(fold("ｆｕｌｌ"), "full");
        // A decomposed É and a precomposed one fold alike.
        assert_eq!(fold("E\u{301}milie"), fold("émilie"));
    }

    #[test]
    fn controls_are_refused_but_line_breaks_are_not() {
        assert!(check_controls("a\u{0}b").is_err());
        assert!(check_controls("a\u{1b}b").is_err());
        assert!(check_controls("a\u{85}b").is_err());
        assert!(check_controls("two\nlines\tand a tab").is_ok());
    }
}
