//! The issuer: signs the access tokens (RFC 9068) and ID tokens (OIDC Core §2) that the
//! grants hand out, with this server's `iss`, audience and lifetime.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::domain::Scopes;
use crate::domain::{Acr, Role};
use crate::domain::{Session, User};
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::token::{AccessClaims, Audience, IdClaims, TokenSigner, at_hash};

/// What every token this server signs says about where it comes from.
#[derive(Clone, Debug)]
pub struct IssuerSettings {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
}

/// When and how the person an ID token names signed in.
pub struct SignedInAt {
    pub auth_time: chrono::DateTime<chrono::Utc>,
    pub nonce: Option<String>,
}

/// A signed access token and the seconds until it expires.
#[derive(Clone, Debug)]
pub struct SignedAccessToken {
    pub token: String,
    pub expires_in: u64,
}

/// Signs the tokens of a grant.
#[derive(Clone)]
pub struct TokenIssuer {
    signer: TokenSigner,
    clock: Arc<dyn Clock>,
    settings: Arc<IssuerSettings>,
}

impl TokenIssuer {
    pub fn new(signer: TokenSigner, clock: Arc<dyn Clock>, settings: IssuerSettings) -> Self {
        Self {
            signer,
            clock,
            settings: Arc::new(settings),
        }
    }

    /// An access token for a client acting for itself: `sub` is the client id, with no
    /// session or roles.
    pub fn for_client(
        &self,
        client: &Client,
        scope: &Scopes,
    ) -> Result<SignedAccessToken, OAuthError> {
        self.sign(client.id.clone(), client, None, scope)
    }

    /// An access token for `user` in `session` with the granted scopes.
    pub fn for_user(
        &self,
        user: &User,
        client: &Client,
        session: &Session,
        scope: &Scopes,
    ) -> Result<SignedAccessToken, OAuthError> {
        self.sign(user.id.to_string(), client, Some((user, session)), scope)
    }

    /// An ID token (OIDC Core §3.1.3.3): the person, when they signed in, the nonce of the
    /// authorization request (a code exchange's; `None` for a sign-in at the token
    /// endpoint), and the claims the granted scopes allow.
    pub fn id_token(
        &self,
        user: &User,
        client: &Client,
        session: &Session,
        signed_in: SignedInAt,
        scope: &Scopes,
        access_token: &str,
    ) -> Result<String, OAuthError> {
        let issued = self.clock.now();
        let claims = IdClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: client.id.clone(),
            exp: issued.timestamp() + self.settings.access_token_ttl.as_secs() as i64,
            iat: issued.timestamp(),
            auth_time: signed_in.auth_time.timestamp(),
            nonce: signed_in.nonce,
            at_hash: at_hash(access_token),
            sid: session.id.to_string(),
            amr: session.amr.clone(),
            acr: Some(Acr::of(&session.amr).as_str().into()),
            name: scope.contains("profile").then(|| user.name.to_string()),
            email: scope.contains("email").then(|| user.email.to_string()),
            email_verified: scope.contains("email").then_some(user.email_verified),
        };
        self.signer.sign_id_token(&claims, issued).map_err(|e| {
            tracing::error!(error = %e, "signing an ID token failed");
            OAuthError::server_error()
        })
    }

    fn sign(
        &self,
        sub: String,
        client: &Client,
        person: Option<(&User, &Session)>,
        scope: &Scopes,
    ) -> Result<SignedAccessToken, OAuthError> {
        let (user, session) = person.unzip();
        let at = self.clock.now();
        let now = at.timestamp();
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub,
            aud: Audience::One(self.settings.audience.clone()),
            exp: now + ttl as i64,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4().to_string(),
            client_id: client.id.clone(),
            scope: scope.to_string(),
            sid: session.map(|s| s.id.to_string()),
            roles: user.map(|u| Role::names(&u.roles)).unwrap_or_default(),
            legacy_id: user.and_then(|u| u.legacy_id),
            auth_time: session.map(|s| s.auth_time.timestamp()),
            amr: session.map(|s| s.amr.clone()).unwrap_or_default(),
            acr: session.map(|s| Acr::of(&s.amr).as_str().into()),
        };
        let token = self.signer.sign(&claims, at).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            OAuthError::server_error()
        })?;
        Ok(SignedAccessToken {
            token,
            expires_in: ttl,
        })
    }
}
