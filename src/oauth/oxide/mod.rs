//! The one place oxide-auth meets Gatehouse: its authorization code flow
//! (`oxide_auth_async::code_grant::access_token`) orders the exchange — client check, code
//! recovery, the client and redirect URI bound to the code, extensions (PKCE), issuing —
//! and our primitives do each step against our stores.
//!
//! What the crate cannot carry is wrapped here once:
//! - its primitives answer `Err(())` or `Ok(None)` without a cause, and it turns both into
//!   `invalid_request`; each of our primitives records the answer it means (an outage is
//!   `temporarily_unavailable`, an unknown or replayed code `invalid_grant`…) in a verdict
//!   that is given after the flow, whatever the crate made of it;
//! - it compares redirect URIs as parsed URLs and reads the system clock for a grant's
//!   expiry; the exact comparison and expiry stay in our code store, and grants reach the
//!   crate with an expiry it never meets;
//! - its token response has no `id_token` and reads the system clock; the issuing step
//!   builds our whole response, and the crate's is not used.

mod code;
mod refresh;
#[cfg(test)]
mod tests;

pub use code::{CodeRequest, CodeSteps, exchange_code, grant};
pub use refresh::{RefreshRequest, RefreshSteps, refresh, refresh_refused, session_grant};

use chrono::{DateTime, Utc};
use oxide_auth::primitives::registrar::RegistrarError;

use super::client::Client;
use super::error::{ErrorCode, OAuthError};

/// The answer our primitives decided, given after the flow whatever the crate made of
/// their bare `Err(())` or `Ok(None)`. The first refusal wins.
#[derive(Default)]
struct Verdict(Option<OAuthError>);

impl Verdict {
    fn refuse(&mut self, error: OAuthError) {
        self.0.get_or_insert(error);
    }

    /// A primitive that recovers something (a code's or a token's grant): an outage stops
    /// the flow (`Err`), any other refusal is "nothing found" (`Ok(None)`).
    fn recovered<T>(&mut self, outcome: Result<T, OAuthError>) -> Result<Option<T>, ()> {
        match outcome {
            Ok(found) => Ok(Some(found)),
            Err(refusal) => {
                let outage = refusal.code == ErrorCode::TemporarilyUnavailable;
                self.refuse(refusal);
                if outage { Err(()) } else { Ok(None) }
            }
        }
    }

    /// A primitive that acts (issues, rotates).
    fn done<T>(&mut self, outcome: Result<T, OAuthError>) -> Result<T, ()> {
        outcome.map_err(|refusal| self.refuse(refusal))
    }

    /// The flow's outcome: ours if a primitive decided it, else the crate's, mapped.
    fn answer<T, E>(
        self,
        outcome: Result<T, E>,
        map: impl FnOnce(E) -> OAuthError,
    ) -> Result<(), OAuthError> {
        match (self.0, outcome) {
            (Some(verdict), _) => Err(verdict),
            (None, Ok(_)) => Ok(()),
            (None, Err(e)) => Err(map(e)),
        }
    }
}

/// The registrar's check in both flows: the client was authenticated before the flow
/// (percent-decoded Basic, a body secret, or a public client's id), so the flow only
/// binds the code or token to that client.
fn same_client(client: &Client, client_id: &str) -> Result<(), RegistrarError> {
    if client_id == client.id {
        Ok(())
    } else {
        Err(RegistrarError::Unspecified)
    }
}

/// The latest instant a grant can hold: the crate's own expiry check (on the system clock)
/// never refuses; our code store has already applied the real one on our clock.
pub fn never() -> DateTime<Utc> {
    DateTime::<Utc>::MAX_UTC
}
