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

/// The latest instant a grant can hold: the crate's own expiry check (on the system clock)
/// never refuses; our code store has already applied the real one on our clock.
pub fn never() -> DateTime<Utc> {
    DateTime::<Utc>::MAX_UTC
}
