//! Recovery codes: ten per person, each used once, shown once and stored only as SHA-256
//! hashes (each carries 60 random bits, too many to guess, so a fast hash is enough).

use rand::Rng;
use sha2::{Digest, Sha256};

pub const RECOVERY_CODES: usize = 10;

/// Letters and digits that are not mistaken for one another when typed from paper.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const GROUPS: usize = 3;
const GROUP_LEN: usize = 4;

/// A new set: the codes to show (`xxxx-xxxx-xxxx`), and the hashes to keep.
pub fn generate() -> (Vec<String>, Vec<[u8; 32]>) {
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let groups: Vec<String> = (0..GROUPS)
                .map(|_| {
                    (0..GROUP_LEN)
                        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                        .collect()
                })
                .collect();
            groups.join("-")
        })
        .collect();
    let hashes = codes.iter().map(|c| hash(c)).collect();
    (codes, hashes)
}

/// Whether `text` could be a recovery code rather than a TOTP code.
pub fn looks_like_one(text: &str) -> bool {
    normalized(text).len() == GROUPS * GROUP_LEN
}

/// The hash a typed code is looked up by: case, spaces and dashes do not matter.
pub fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(normalized(text).as_bytes()).into()
}

fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_whose_hashes_match_them_however_typed() {
        let (codes, hashes) = generate();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for (code, hash_kept) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 14);
            assert!(looks_like_one(code));
            assert_eq!(&hash(code), hash_kept);
            assert_eq!(&hash(&code.to_uppercase().replace('-', " ")), hash_kept);
        }
        assert!(!looks_like_one("123456"));
    }
}
