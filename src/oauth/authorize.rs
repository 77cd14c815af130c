//! The authorization endpoint (RFC 6749 §4.1, RFC 7636 PKCE, OIDC Core §3.1.2): checks
//! a request, decides whether the person must sign in or consent, and issues codes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use std::sync::Arc;
use std::time::Duration;

use super::client::{Client, ClientRegistry, GrantType};
use super::error::{ErrorCode, OAuthError};
use super::oxide::{self, PendingGrant};
use super::pkce;
use crate::clock::Clock;
use crate::domain::{Acr, Scopes};
use crate::domain::{Session, User, UserId};
use crate::store::{AuthCode, AuthorizationStore, StoreError};

/// The client id of sessions started by signing in on Gatehouse's own pages. It cannot
/// be registered (`:` is not allowed in client ids), so such a session's token is
/// accepted only as the browser's cookie, never at the token endpoint.
pub const BROWSER_CLIENT_ID: &str = "gatehouse:browser";

/// The parameters of an authorization request, as sent.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// Names of parameters the request carried more than once (RFC 6749 §3.1: they
    /// "MUST NOT be included more than once").
    #[serde(skip)]
    pub repeated: Vec<String>,
}

/// Why an authorization request stops.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: shown on an error page, never
    /// sent anywhere (RFC 6749 §4.1.2.1).
    Page(Untrusted),
    /// Sent back to the client: the URL to redirect the browser to.
    Redirect(String),
    /// A dependency is down.
    Unavailable,
}

/// Why a request cannot be answered to its client; the pages say it in the person's
/// language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untrusted {
    /// `client_id` or `redirect_uri` (the name) appears more than once.
    Repeated(&'static str),
    NoClient,
    UnknownClient,
    NoRedirectUri,
    UnregisteredRedirectUri,
    /// A value the database cannot hold.
    UnusableValue,
}

/// `prompt` values (OIDC Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Where a request's answer goes once its client and redirect URI are known good: the
/// redirect URI, and the `state` to echo.
#[derive(Clone, Debug)]
pub struct Reply {
    pub redirect_uri: String,
    pub state: Option<String>,
}

impl Reply {
    /// The client's redirect URI with `params`, `state` and `iss` (RFC 9207) added.
    pub fn redirect_with(&self, issuer: &str, params: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.redirect_uri).expect("validated redirect URI");
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", issuer);
        }
        url.to_string()
    }

    pub fn error(&self, issuer: &str, refusal: &Refusal) -> AuthorizeError {
        AuthorizeError::Redirect(self.redirect_with(
            issuer,
            &[
                ("error", refusal.error),
                ("error_description", &refusal.description),
            ],
        ))
    }
}

/// An error sent back to the client (RFC 6749 §4.1.2.1).
#[derive(Clone, Debug)]
pub struct Refusal {
    pub error: &'static str,
    pub description: String,
}

impl Refusal {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
}

fn invalid(description: impl Into<String>) -> Refusal {
    Refusal::new("invalid_request", description)
}

/// What the checks beyond OAuth's own found: PKCE (an extension of OAuth) and OpenID
/// Connect's parameters.
#[derive(Clone, Debug)]
pub struct Checked {
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub acr: Option<Acr>,
}

/// A request that passed every check.
#[derive(Clone, Debug)]
pub struct ValidAuthorization {
    pub client: Arc<Client>,
    pub reply: Reply,
    pub scope: Scopes,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The least authentication context class the client accepts (`acr_values`, RFC 9470).
    pub acr: Option<Acr>,
    /// The request as oxide-auth holds it until the person agrees: it carries the PKCE
    /// challenge and nonce to the code.
    pub(super) pending: PendingGrant,
}

/// What to do next.
#[derive(Debug)]
pub enum Authorized {
    /// Send the browser to the client with a code.
    Redirect(String),
    /// Ask the person to consent first.
    NeedsConsent,
}

const MAX_STATE: usize = 1024;

impl AuthorizeRequest {
    pub(super) fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// The `state` echoed to the client: not one too long, nor one sent twice.
    pub(super) fn echoed_state(&self) -> Option<&str> {
        self.state
            .as_deref()
            .filter(|s| s.len() <= MAX_STATE && !self.is_repeated("state"))
    }

    /// Why a request cannot be answered to any client, when oxide-auth ignores it before
    /// asking for its client: a repeated `client_id` or `redirect_uri` (RFC 6749 §3.1), no
    /// `client_id`, or a `redirect_uri` that is not a URL (it cannot be registered).
    pub(super) fn untrusted(&self) -> Untrusted {
        if let Some(name) = ["client_id", "redirect_uri"]
            .into_iter()
            .find(|name| self.is_repeated(name))
        {
            Untrusted::Repeated(name)
        } else if self.client_id.is_none() {
            Untrusted::NoClient
        } else {
            Untrusted::UnregisteredRedirectUri
        }
    }

    /// The answer to a `response_type` oxide-auth refused.
    pub(super) fn response_type_refusal(&self) -> Refusal {
        match self.response_type {
            None => invalid("response_type is required"),
            Some(_) => Refusal::new(
                "unsupported_response_type",
                "only the authorization code flow (response_type=code) is supported",
            ),
        }
    }

    /// The checks oxide-auth leaves to extensions, once the client is known: every
    /// parameter once, request objects and response modes we do not support, the client's
    /// right to the flow, PKCE (S256 only, RFC 9700 §2.1.1), `prompt`, `max_age`, `nonce`.
    pub(super) fn check(&self, client: &Client) -> Result<Checked, Refusal> {
        if let Some(name) = self.repeated.first() {
            return Err(invalid(format!(
                "{name} appears more than once; each parameter may appear once"
            )));
        }
        if self.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
            return Err(invalid("state is too long"));
        }
        if self.request.is_some() {
            return Err(Refusal::new(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if self.request_uri.is_some() {
            return Err(Refusal::new(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        if self.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(invalid("only response_mode=query is supported"));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(Refusal::new(
                "unauthorized_client",
                "this client may not use the authorization code flow",
            ));
        }
        let code_challenge = pkce::check_challenge(
            self.code_challenge.as_deref(),
            self.code_challenge_method.as_deref(),
        )
        .map_err(invalid)?;
        let prompt = self.prompt()?;
        let max_age = match self.max_age.as_deref() {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid("max_age must be a number of seconds"))?,
            ),
        };
        if self.nonce.as_ref().is_some_and(|n| n.len() > 512) {
            return Err(invalid("nonce is too long"));
        }
        if self.acr_values.as_ref().is_some_and(|v| v.len() > 1024) {
            return Err(invalid("acr_values is too long"));
        }
        Ok(Checked {
            code_challenge,
            nonce: self.nonce.clone(),
            prompt,
            max_age,
            acr: self.acr_values.as_deref().and_then(Acr::least_accepted),
        })
    }

    fn prompt(&self) -> Result<Prompt, Refusal> {
        let mut prompt = Prompt::default();
        let values = self.prompt.as_deref().unwrap_or("").split(' ');
        for value in values.filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(invalid("unknown prompt value")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(invalid("prompt=none cannot be combined with other values"));
        }
        Ok(prompt)
    }

    /// The scope asked for (`openid` when none is), if the client may have all of it.
    pub(super) fn scope_for(&self, client: &Client) -> Result<Scopes, Refusal> {
        let scope = match self.scope.as_deref() {
            None => Scopes::from_names(["openid"]),
            Some(text) => Scopes::parse(text).map_err(|e| Refusal::new("invalid_scope", e))?,
        };
        if let Some(refused) = scope.not_in(&client.scopes).next() {
            return Err(Refusal::new(
                "invalid_scope",
                format!("this client may not ask for the scope `{refused}`"),
            ));
        }
        Ok(scope)
    }
}

impl ValidAuthorization {
    pub fn error(&self, issuer: &str, error: &'static str, description: &str) -> AuthorizeError {
        self.reply.error(issuer, &Refusal::new(error, description))
    }

    /// Whether the person must (again) sign in before this request can go on: not signed
    /// in, `prompt=login`, a sign-in older than `max_age`, or weaker than `acr_values`
    /// accepts (RFC 9470 step-up).
    pub fn needs_login(&self, browser: Option<&Session>, now: DateTime<Utc>) -> bool {
        let Some(session) = browser else {
            return true;
        };
        if self.prompt.login {
            return true;
        }
        if self.acr.is_some_and(|least| Acr::of(&session.amr) < least) {
            return true;
        }
        self.max_age
            .is_some_and(|max| (now - session.auth_time).num_seconds() > max)
    }

    /// Whether signing in for this request must use a second factor.
    pub fn asks_second_factor(&self) -> bool {
        self.acr == Some(Acr::SecondFactor)
    }
}

fn store_error(e: StoreError) -> AuthorizeError {
    match OAuthError::from(e).code {
        ErrorCode::TemporarilyUnavailable => AuthorizeError::Unavailable,
        // A value the database cannot hold was in the request itself, not an outage.
        ErrorCode::InvalidRequest => AuthorizeError::Page(Untrusted::UnusableValue),
        _ => AuthorizeError::Unavailable,
    }
}

/// The authorization endpoint's use case: checks requests and issues codes.
#[derive(Clone)]
pub struct AuthorizationEndpoint {
    clients: ClientRegistry,
    authorizations: Arc<dyn AuthorizationStore>,
    clock: Arc<dyn Clock>,
    /// This server's `iss`, added to every redirect (RFC 9207).
    pub(super) issuer: Arc<str>,
    code_ttl: Duration,
}

impl AuthorizationEndpoint {
    pub fn new(
        clients: ClientRegistry,
        authorizations: Arc<dyn AuthorizationStore>,
        clock: Arc<dyn Clock>,
        issuer: &str,
        code_ttl: Duration,
    ) -> Self {
        Self {
            clients,
            authorizations,
            clock,
            issuer: issuer.into(),
            code_ttl,
        }
    }

    /// Checks a request through oxide-auth. Until client and redirect URI are known good,
    /// failures are shown as a page; after that they go back to the client.
    pub async fn validate(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<ValidAuthorization, AuthorizeError> {
        oxide::authorization_request(self, req).await
    }

    /// The client of `client_id`, if `redirect_uri` is one of its own: exact matching
    /// (RFC 9700 §4.1.3), any port on a loopback address (RFC 8252 §7.3).
    pub(super) async fn bind(
        &self,
        client_id: &str,
        redirect_uri: Option<&str>,
    ) -> Result<Arc<Client>, AuthorizeError> {
        let page = AuthorizeError::Page;
        let client = self
            .clients
            .find(client_id)
            .await
            .map_err(store_error)?
            .ok_or(page(Untrusted::UnknownClient))?;
        let redirect_uri = redirect_uri.ok_or(page(Untrusted::NoRedirectUri))?;
        if !client.accepts_redirect_uri(redirect_uri) {
            return Err(page(Untrusted::UnregisteredRedirectUri));
        }
        Ok(client)
    }

    /// With a signed-in person: asks for consent when needed, else issues a code.
    pub async fn authorize(
        &self,
        request: &ValidAuthorization,
        user: &User,
        browser: &Session,
        consent_given: bool,
    ) -> Result<Authorized, AuthorizeError> {
        let now = self.clock.now();
        if consent_given {
            self.authorizations
                .save_consent(user.id, &request.client.id, &request.scope.to_string(), now)
                .await
                .map_err(store_error)?;
        } else if !request.client.first_party {
            let remembered = self
                .authorizations
                .consented_scope(user.id, &request.client.id)
                .await
                .map_err(store_error)?;
            let covered = remembered.is_some_and(|granted| {
                let granted = Scopes::parse(&granted).unwrap_or_default();
                request.scope.not_in(&granted).next().is_none()
            });
            if !covered || request.prompt.consent {
                if request.prompt.none {
                    return Err(request.error(
                        &self.issuer,
                        "consent_required",
                        "the person has not consented yet",
                    ));
                }
                return Ok(Authorized::NeedsConsent);
            }
        }
        oxide::issue_code(self, request, user.id, browser)
            .await
            .map(Authorized::Redirect)
    }

    /// Stores a new code for `grant` and gives it out.
    pub(super) async fn create_code(&self, grant: NewCode<'_>) -> Result<String, AuthorizeError> {
        let mut code = [0u8; 32];
        rand::rng().fill_bytes(&mut code);
        let code = URL_SAFE_NO_PAD.encode(code);
        let now = self.clock.now();
        let stored = AuthCode {
            client_id: grant.request.client.id.clone(),
            redirect_uri: grant.request.reply.redirect_uri.clone(),
            user_id: grant.user_id,
            scope: grant.request.scope.to_string(),
            nonce: grant.nonce,
            code_challenge: grant.code_challenge,
            auth_time: grant.auth_time,
            amr: grant.amr,
            expires_at: now + chrono::Duration::from_std(self.code_ttl).unwrap_or_default(),
        };
        self.authorizations
            .create_code(&code_hash(&code), &stored)
            .await
            .map_err(store_error)?;
        tracing::info!(user_id = %grant.user_id, client_id = %stored.client_id, "authorization code issued");
        Ok(code)
    }
}

/// A code about to be issued: the request the person agreed to, and what oxide-auth
/// carried from it.
pub(super) struct NewCode<'a> {
    pub request: &'a ValidAuthorization,
    pub user_id: UserId,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
}

/// Codes are stored as SHA-256 hashes: the authorization code grant finds them by it.
pub(super) fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}
