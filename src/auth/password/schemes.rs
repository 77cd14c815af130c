//! The hash schemes: argon2 (any variant, checked with the hasher's memory) and bcrypt
//! from the old service, the cost bounds a stored or imported hash must keep, and the
//! check of imported hashes.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;

use super::{HashError, Memory, Verification};
use crate::domain::Password;

/// The highest bcrypt cost accepted, on import and at sign-in. Each step doubles the work:
/// cost 12 (the old service's) takes about 270 ms here, 14 about a second, and 31 — which
/// bcrypt allows — days of a hashing thread.
pub const MAX_BCRYPT_COST: u32 = 14;

/// How far an imported or stored argon2 hash may exceed the configured costs: memory up
/// to this many times the configured memory, and memory × iterations (the work) as well.
pub const ARGON2_COST_MARGIN: u32 = 4;

/// bcrypt reads only this many bytes of a password ([bcrypt crate], passlib): every
/// password sharing them verifies against the same hash.
///
/// [bcrypt crate]: https://docs.rs/bcrypt/0.19.3/bcrypt/fn.verify.html
const BCRYPT_MAX_BYTES: usize = 72;

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

pub(super) fn hash_blocking(
    memory: &Memory,
    params: &Params,
    password: &str,
) -> Result<String, HashError> {
    let internal = |e: &dyn std::fmt::Display| HashError::Internal(e.to_string());
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let mut out = [0u8; 32];
    memory
        .with(params, |blocks| {
            argon2id(params).hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut out,
                blocks,
            )
        })
        .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| internal(&e))?,
        salt: Some(Salt::try_from(&salt[..]).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Checks an argon2 PHC hash with this thread's memory; any variant, version and costs.
pub(super) fn argon2_matches(memory: &Memory, password: &str, parsed: &PasswordHash) -> bool {
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.as_bytes().len()];
    let computed = memory.with(&params, |blocks| {
        Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            blocks,
        )
    });
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// The kind of hash a check exercised, for padding refusals to the same work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    Argon2,
    Bcrypt(u32),
}

/// Checks `password` against `stored`, and says which scheme did the work (`None` when the
/// hash was refused unchecked: unreadable, or costlier than the bounds).
pub(super) fn verify_blocking(
    memory: &Memory,
    params: &Params,
    password: &Password,
    stored: &str,
) -> (Verification, Option<Scheme>) {
    if let Err(problem) = check_costs(stored, params) {
        tracing::error!(problem, "a stored password hash is refused unchecked");
        return (Verification::Mismatch, None);
    }
    if let Some(cost) = bcrypt_cost(stored) {
        // passlib hashed the password as typed; Gatehouse's own hashes are of its NFKC
        // form, so the upgrade below stores what later sign-ins will compare.
        let typed = password.as_typed();
        let verification = match bcrypt::verify(typed, stored) {
            // The old service's hashes: right password → replace with argon2id, unless
            // bcrypt read only part of what was typed. Then a different string with the
            // same first 72 bytes may have been accepted, and storing argon2id of it would
            // lock out the owner, whose real password is the other one: the bcrypt hash
            // stays until its owner chooses a new password.
            Ok(true) => Verification::Match {
                rehash: typed.len() < BCRYPT_MAX_BYTES,
            },
            Ok(false) => Verification::Mismatch,
            Err(e) => {
                tracing::error!(error = %e, "a stored bcrypt hash cannot be read");
                Verification::Mismatch
            }
        };
        return (verification, Some(Scheme::Bcrypt(cost)));
    }
    let parsed = match PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash cannot be read");
            return (Verification::Mismatch, None);
        }
    };
    // The hash names its own algorithm and costs; any argon2 variant verifies.
    if !argon2_matches(memory, password.expose(), &parsed) {
        return (Verification::Mismatch, Some(Scheme::Argon2));
    }
    let verification = Verification::Match {
        rehash: !is_current(params, &parsed),
    };
    (verification, Some(Scheme::Argon2))
}

/// Whether a stored or imported hash is one Gatehouse checks: a bcrypt hash of at most
/// [`MAX_BCRYPT_COST`], or an argon2 PHC string within [`ARGON2_COST_MARGIN`] of the
/// configured costs. The reason never contains the hash.
pub fn check_importable(
    hash: &str,
    settings: &crate::config::Argon2Settings,
) -> Result<(), String> {
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .map_err(|e| format!("the configured argon2 costs are invalid: {e}"))?;
    check_costs(hash, &params)
}

fn check_costs(hash: &str, params: &Params) -> Result<(), String> {
    if hash.starts_with("$2") {
        let cost = bcrypt_cost(hash).filter(|_| hash.len() == 60).ok_or(
            "not a bcrypt hash ($2a$, $2b$, $2x$ or $2y$, a two-digit cost, 60 characters)",
        )?;
        if cost > MAX_BCRYPT_COST {
            return Err(format!(
                "bcrypt cost {cost} is above {MAX_BCRYPT_COST}, the highest accepted"
            ));
        }
        return Ok(());
    }
    let parsed = PasswordHash::new(hash).map_err(|_| "not a bcrypt hash or argon2 PHC string")?;
    if Algorithm::try_from(parsed.algorithm.as_str()).is_err() {
        return Err("not a bcrypt hash or argon2 PHC string".into());
    }
    let theirs = Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    let work = |p: &Params| u64::from(p.m_cost()) * u64::from(p.t_cost());
    let margin = u64::from(ARGON2_COST_MARGIN);
    if u64::from(theirs.m_cost()) > margin * u64::from(params.m_cost())
        || work(&theirs) > margin * work(params)
    {
        return Err(format!(
            "argon2 costs m={}, t={} are more than {ARGON2_COST_MARGIN} times the configured m={}, t={}",
            theirs.m_cost(),
            theirs.t_cost(),
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(())
}

/// The cost of a bcrypt hash (`$2b$12$…` → 12), `None` for anything else.
pub(super) fn bcrypt_cost(hash: &str) -> Option<u32> {
    if !is_bcrypt(hash) || hash.get(6..7) != Some("$") {
        return None;
    }
    hash.get(4..6)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

pub(super) fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| hash.starts_with(p))
}

/// Whether a hash uses the configured algorithm, version and costs. The parsed `Params`
/// carry an output length and never compare equal to configured ones, so compare fields.
fn is_current(params: &Params, hash: &PasswordHash) -> bool {
    let Ok(theirs) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && theirs.m_cost() == params.m_cost()
        && theirs.t_cost() == params.t_cost()
        && theirs.p_cost() == params.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(64, 1, 1, None).unwrap();
        let check = |password: &str, hash: &str| {
            verify_blocking(
                &Memory::default(),
                &params,
                &Password::for_verification(password),
                hash,
            )
            .0
        };
        // Ours verifies with the crate's own verifier…
        let ours = hash_blocking(&Memory::default(), &params, "correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // …and the crate's hashes (as stored before) verify with ours.
        let crate_hash =
            |argon2: Argon2| argon2.hash_password(b"correct horse").unwrap().to_string();
        let theirs = crate_hash(argon2id(&params));
        assert_eq!(
            check("correct horse", &theirs),
            Verification::Match { rehash: false }
        );
        assert_eq!(check("wrong horse", &theirs), Verification::Mismatch);
        // Other variants and costs verify too (and ask for a rehash).
        let argon2i = crate_hash(Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            params.clone(),
        ));
        assert_eq!(
            check("correct horse", &argon2i),
            Verification::Match { rehash: true }
        );
    }
}
