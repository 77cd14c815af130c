//! What a grant works with: the sign-in core, the stores, the clock and the issuer.

use std::sync::Arc;

use crate::audit::Audit;
use crate::auth::{Accounts, Login, Sessions};
use crate::clock::Clock;
use crate::oauth::issuer::TokenIssuer;
use crate::store::AuthorizationStore;

/// Shared by every grant; cheap to clone.
#[derive(Clone)]
pub struct GrantContext {
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub audit: Audit,
    pub login: Login,
    pub authorizations: Arc<dyn AuthorizationStore>,
    pub issuer: TokenIssuer,
    pub clock: Arc<dyn Clock>,
    /// Whether the password grant is turned on (`GATEHOUSE_PASSWORD_GRANT`).
    pub password_grant: bool,
}
