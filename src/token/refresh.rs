//! Refresh tokens: `<sid>.<secret>`, where the secret is 256 random bits. Only a hash is
//! stored. On rotation the successor is also kept sealed under a key derived from its
//! predecessor, so a retry of the same old token within the grace window gets the same
//! successor back, while the store alone can never reveal a usable token.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::{Secret, SessionId};

/// The stored form of a refresh token: the first 128 bits of SHA-256 of its secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 16]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

impl TokenHash {
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

/// A successor token sealed under its predecessor (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SealedSuccessor(pub [u8; 32]);

impl fmt::Debug for SealedSuccessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSuccessor(<redacted>)")
    }
}

/// A refresh token in the clear. `Debug` never shows the secret.
#[derive(Clone)]
pub struct RefreshToken {
    session: SessionId,
    secret: [u8; 32],
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("session", &self.session)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl RefreshToken {
    pub fn generate(session: SessionId) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self { session, secret }
    }

    /// Parses what a client sent; `None` for anything that cannot be one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let (sid, secret) = text.split_once('.')?;
        let session = SessionId::parse(sid).ok()?;
        let secret: [u8; 32] = URL_SAFE_NO_PAD.decode(secret).ok()?.try_into().ok()?;
        Some(Self { session, secret })
    }

    pub fn session(&self) -> &SessionId {
        &self.session
    }

    pub fn hash(&self) -> TokenHash {
        let digest = Sha256::new()
            .chain_update(b"gatehouse refresh token")
            .chain_update(self.secret)
            .finalize();
        TokenHash(digest[..16].try_into().expect("16 bytes"))
    }

    /// The key that seals this token's successor: unrelated to its stored hash.
    fn sealing_key(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"gatehouse refresh successor")
            .chain_update(self.secret)
            .finalize()
            .into()
    }

    pub fn seal(&self, successor: &RefreshToken) -> SealedSuccessor {
        let key = self.sealing_key();
        SealedSuccessor(std::array::from_fn(|i| successor.secret[i] ^ key[i]))
    }

    /// The successor sealed by [`seal`](Self::seal) under this token.
    pub fn open(&self, sealed: &SealedSuccessor) -> RefreshToken {
        let key = self.sealing_key();
        RefreshToken {
            session: self.session.clone(),
            secret: std::array::from_fn(|i| sealed.0[i] ^ key[i]),
        }
    }

    /// The token as handed to the client.
    pub fn reveal(&self) -> Secret<String> {
        Secret::new(format!(
            "{}.{}",
            self.session,
            URL_SAFE_NO_PAD.encode(self.secret)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_hashes_stably() {
        let token = RefreshToken::generate(SessionId::generate());
        let text = token.reveal().into_inner();
        let parsed = RefreshToken::parse(&text).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert!(!format!("{token:?}").contains(&text[23..]));
    }

    #[test]
    fn only_the_predecessor_opens_the_sealed_successor() {
        let sid = SessionId::generate();
        let old = RefreshToken::generate(sid.clone());
        let new = RefreshToken::generate(sid.clone());
        let sealed = old.seal(&new);
        assert_eq!(old.open(&sealed).hash(), new.hash());
        let stranger = RefreshToken::generate(sid);
        assert_ne!(stranger.open(&sealed).hash(), new.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "abc",
            "a.b",
            "aaaaaaaaaaaaaaaaaaaaaa.short",
            "not a token at all.x",
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }
}
