//! The one place oxide-auth meets Gatehouse: its flows order the authorization request
//! (`oxide_auth_async::code_grant::authorization`: the client and redirect URI bound, the
//! response type, extensions, the scope negotiated, then the code asked for), the code
//! exchange (`access_token`: client check, code recovery, the client and redirect URI bound
//! to the code, extensions (PKCE), issuing) and the refresh grant (`refresh`); our
//! primitives do each step against our stores.
//!
//! What the crate cannot carry is wrapped here once:
//! - its primitives answer `Err(())` or `Ok(None)` without a cause, and it turns both into
//!   `invalid_request` (or ignores an authorization request); each of our primitives
//!   records the answer it means (an outage is `temporarily_unavailable`, an unknown or
//!   replayed code `invalid_grant`, an unknown client a page saying so…) in a verdict that
//!   is given after the flow, whatever the crate made of it;
//! - it compares redirect URIs as parsed URLs, keeps scopes as sets and reads the system
//!   clock for a grant's expiry; the exact comparison, the scope's order and expiry stay in
//!   our registry and code store, and grants reach the crate with an expiry it never meets;
//! - its token response has no `id_token` and reads the system clock; the issuing step
//!   builds our whole response, and the crate's is not used.

mod authorization;
mod code;
mod refresh;
#[cfg(test)]
mod tests;

pub use authorization::{PendingGrant, authorization_request, issue_code};
pub use code::{CodeRequest, CodeSteps, exchange_code, grant};
pub use refresh::{RefreshRequest, RefreshSteps, refresh, refresh_refused, session_grant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oxide_auth::primitives::registrar::{BoundClient, ClientUrl, PreGrant, RegistrarError};
use oxide_auth::primitives::scope::Scope;
use oxide_auth_async::primitives::Registrar;

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

/// The registrar of the flows that start from a known client — a code exchange, a
/// refresh, issuing a code the person agreed to. The client was authenticated before the
/// flow (percent-decoded Basic, a body secret, or a public client's id), so the flow only
/// checks that a code or token is bound to it; the code or token already carries its
/// redirect URI and scope, so nothing is bound nor negotiated.
struct KnownClient<'a>(&'a Client);

#[async_trait]
impl Registrar for KnownClient<'_> {
    async fn bound_redirect<'a>(
        &self,
        _: ClientUrl<'a>,
    ) -> Result<BoundClient<'a>, RegistrarError> {
        Err(RegistrarError::Unspecified)
    }

    async fn negotiate<'a>(
        &self,
        _: BoundClient<'a>,
        _: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        Err(RegistrarError::Unspecified)
    }

    async fn check(&self, client_id: &str, _: Option<&[u8]>) -> Result<(), RegistrarError> {
        if client_id == self.0.id {
            Ok(())
        } else {
            Err(RegistrarError::Unspecified)
        }
    }
}

/// The latest instant a grant can hold: the crate's own expiry check (on the system clock)
/// never refuses; our code store has already applied the real one on our clock.
pub fn never() -> DateTime<Utc> {
    DateTime::<Utc>::MAX_UTC
}
