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
use super::pkce;
use crate::clock::Clock;
use crate::domain::Scopes;
use crate::domain::{Session, User};
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

/// A request that passed every check.
#[derive(Clone, Debug)]
pub struct ValidAuthorization {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: Scopes,
    pub state: Option<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
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

impl ValidAuthorization {
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

    pub fn error(&self, issuer: &str, error: &str, description: &str) -> AuthorizeError {
        AuthorizeError::Redirect(self.redirect_with(
            issuer,
            &[("error", error), ("error_description", description)],
        ))
    }

    /// Whether the person must (again) sign in before this request can go on.
    pub fn needs_login(&self, browser: Option<&Session>, now: DateTime<Utc>) -> bool {
        let Some(session) = browser else {
            return true;
        };
        if self.prompt.login {
            return true;
        }
        self.max_age
            .is_some_and(|max| (now - session.auth_time).num_seconds() > max)
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
    issuer: Arc<str>,
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

    /// Checks a request. Until client and redirect URI are known good, failures are
    /// shown as a page; after that they go back to the client.
    pub async fn validate(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<ValidAuthorization, AuthorizeError> {
        let page = AuthorizeError::Page;
        let repeated = |name: &str| req.repeated.iter().any(|r| r == name);
        // RFC 6749 §3.1: with two client ids or redirect URIs, neither can be trusted.
        for name in ["client_id", "redirect_uri"] {
            if repeated(name) {
                return Err(page(Untrusted::Repeated(name)));
            }
        }
        let client_id = req.client_id.as_deref().ok_or(page(Untrusted::NoClient))?;
        let client = self
            .clients
            .find(client_id)
            .await
            .map_err(store_error)?
            .ok_or(page(Untrusted::UnknownClient))?;
        let redirect_uri = req
            .redirect_uri
            .clone()
            .ok_or(page(Untrusted::NoRedirectUri))?;
        if !client.accepts_redirect_uri(&redirect_uri) {
            return Err(page(Untrusted::UnregisteredRedirectUri));
        }
        let partial = ValidAuthorization {
            client: client.clone(),
            redirect_uri,
            scope: Scopes::default(),
            state: req
                .state
                .clone()
                .filter(|s| s.len() <= MAX_STATE && !repeated("state")),
            code_challenge: String::new(),
            nonce: None,
            prompt: Prompt::default(),
            max_age: None,
        };
        let issuer = &*self.issuer;
        let fail = |error: &str, description: &str| partial.error(issuer, error, description);
        if let Some(name) = req.repeated.first() {
            return Err(fail(
                "invalid_request",
                &format!("{name} appears more than once; each parameter may appear once"),
            ));
        }
        if req.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
            return Err(fail("invalid_request", "state is too long"));
        }
        if req.request.is_some() {
            return Err(fail(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if req.request_uri.is_some() {
            return Err(fail(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        if req.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(fail(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        match req.response_type.as_deref() {
            Some("code") => {}
            None => return Err(fail("invalid_request", "response_type is required")),
            Some(_) => {
                return Err(fail(
                    "unsupported_response_type",
                    "only the authorization code flow (response_type=code) is supported",
                ));
            }
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(fail(
                "unauthorized_client",
                "this client may not use the authorization code flow",
            ));
        }
        let challenge = pkce::check_challenge(
            req.code_challenge.as_deref(),
            req.code_challenge_method.as_deref(),
        )
        .map_err(|why| fail("invalid_request", why))?;
        let scope = match req.scope.as_deref() {
            None => Scopes::from_names(["openid"]),
            Some(text) => Scopes::parse(text).map_err(|e| fail("invalid_scope", e))?,
        };
        if let Some(refused) = scope.not_in(&client.scopes).next() {
            return Err(fail(
                "invalid_scope",
                &format!("this client may not ask for the scope `{refused}`"),
            ));
        }
        let mut prompt = Prompt::default();
        for value in req
            .prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|v| !v.is_empty())
        {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(fail("invalid_request", "unknown prompt value")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(fail(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ));
        }
        let max_age =
            match req.max_age.as_deref() {
                None => None,
                Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    fail("invalid_request", "max_age must be a number of seconds")
                })?),
            };
        if req.nonce.as_ref().is_some_and(|n| n.len() > 512) {
            return Err(fail("invalid_request", "nonce is too long"));
        }
        Ok(ValidAuthorization {
            scope,
            code_challenge: challenge,
            nonce: req.nonce.clone(),
            prompt,
            max_age,
            ..partial
        })
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
        let issuer = &*self.issuer;
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
                        issuer,
                        "consent_required",
                        "the person has not consented yet",
                    ));
                }
                return Ok(Authorized::NeedsConsent);
            }
        }
        let mut code = [0u8; 32];
        rand::rng().fill_bytes(&mut code);
        let code = URL_SAFE_NO_PAD.encode(code);
        let stored = AuthCode {
            client_id: request.client.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user_id: user.id,
            scope: request.scope.to_string(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: browser.auth_time,
            expires_at: now + chrono::Duration::from_std(self.code_ttl).unwrap_or_default(),
        };
        self.authorizations
            .create_code(&code_hash(&code), &stored)
            .await
            .map_err(store_error)?;
        tracing::info!(user_id = %user.id, client_id = %request.client.id, "authorization code issued");
        Ok(Authorized::Redirect(
            request.redirect_with(issuer, &[("code", &code)]),
        ))
    }
}

/// Codes are stored as SHA-256 hashes: the authorization code grant finds them by it.
pub(super) fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.as_bytes()).into()
}
