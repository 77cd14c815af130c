//! The authorization request through `oxide_auth_async::code_grant::authorization`: the
//! crate orders the checks — the client and its redirect URI, `response_type`, the
//! scope's syntax, extensions, the scope the client may have — and, once the person has
//! agreed, asks for a code and puts it and `state` on the redirect.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use oxide_auth::code_grant::authorization::{Error as FlowError, Request as AuthorizeParams};
use oxide_auth::code_grant::error::AuthorizationErrorType;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, PreGrant, RegisteredUrl, RegistrarError,
};
use oxide_auth::primitives::scope::Scope;
use oxide_auth_async::code_grant::authorization::{self, Endpoint, Extension, Pending};
use oxide_auth_async::primitives::{Authorizer, Registrar};

use super::KnownClient;
use crate::domain::{Scopes, Session, UserId};
use crate::oauth::authorize::{
    AuthorizationEndpoint, AuthorizeError, AuthorizeRequest, Checked, NewCode, Refusal, Reply,
    ValidAuthorization,
};
use crate::oauth::client::Client;

/// What a pending request carries to its code: the PKCE challenge and the nonce.
const PKCE: &str = "gatehouse/pkce";
const NONCE: &str = "gatehouse/nonce";

#[cfg(test)]
mod tests;

/// The crate's pending request, between the checks and the person's answer.
#[derive(Clone)]
pub struct PendingGrant(Pending);

impl fmt::Debug for PendingGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingGrant")
            .field("client_id", &self.0.pre_grant().client_id)
            .finish_non_exhaustive()
    }
}

/// Why the flow stopped, as our primitives decided it (the first one set wins), whatever
/// the crate made of their bare `Err`.
enum Stop {
    /// Before the client and redirect URI are known good: a page, or an outage.
    Untrusted(AuthorizeError),
    /// After: an error for the client.
    Refused(Refusal),
}

/// The request as the crate reads it.
impl AuthorizeParams for AuthorizeRequest {
    /// A repeated `client_id` or `redirect_uri` leaves no client to answer (RFC 6749 §3.1).
    fn valid(&self) -> bool {
        !self.is_repeated("client_id") && !self.is_repeated("redirect_uri")
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        self.client_id.as_deref().map(Cow::Borrowed)
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.scope.as_deref().map(Cow::Borrowed)
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.redirect_uri.as_deref().map(Cow::Borrowed)
    }
    fn state(&self) -> Option<Cow<'_, str>> {
        self.echoed_state().map(Cow::Borrowed)
    }
    fn response_type(&self) -> Option<Cow<'_, str>> {
        self.response_type.as_deref().map(Cow::Borrowed)
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        let value = match key {
            "code_challenge" => &self.code_challenge,
            "code_challenge_method" => &self.code_challenge_method,
            "nonce" => &self.nonce,
            "prompt" => &self.prompt,
            "max_age" => &self.max_age,
            "acr_values" => &self.acr_values,
            _ => return None,
        };
        value.as_deref().map(Cow::Borrowed)
    }
}

/// One authorization request's checks: the crate's flow over our client registry and
/// parameter checks. The registrar answers through `&self`; what it found is kept in cells.
struct Validation<'a> {
    endpoint: &'a AuthorizationEndpoint,
    request: &'a AuthorizeRequest,
    client: OnceLock<Arc<Client>>,
    scope: OnceLock<Scopes>,
    checked: Option<Checked>,
    verdict: OnceLock<Stop>,
}

/// Checks an authorization request through oxide-auth.
pub async fn authorization_request(
    endpoint: &AuthorizationEndpoint,
    request: &AuthorizeRequest,
) -> Result<ValidAuthorization, AuthorizeError> {
    let mut validation = Validation {
        endpoint,
        request,
        client: OnceLock::new(),
        scope: OnceLock::new(),
        checked: None,
        verdict: OnceLock::new(),
    };
    let outcome = authorization::authorization_code(&mut validation, request).await;
    let Validation {
        client,
        scope,
        checked,
        verdict,
        ..
    } = validation;
    let Some(client) = client.into_inner() else {
        // The crate answers only to a client it bound.
        return Err(match verdict.into_inner() {
            Some(Stop::Untrusted(stop)) => stop,
            _ => AuthorizeError::Page(request.untrusted()),
        });
    };
    let reply = Reply {
        redirect_uri: request.redirect_uri.clone().unwrap_or_default(),
        state: request.echoed_state().map(str::to_string),
    };
    let refusal = match (verdict.into_inner(), outcome) {
        (Some(Stop::Untrusted(stop)), _) => return Err(stop),
        (Some(Stop::Refused(refusal)), _) => refusal,
        (None, Err(FlowError::Redirect(mut to))) => match to.description().kind() {
            AuthorizationErrorType::UnsupportedResponseType => request.response_type_refusal(),
            // The crate refused the scope's syntax, or our registrar the scope itself.
            AuthorizationErrorType::InvalidScope => match request.scope_for(&client) {
                Err(refusal) => refusal,
                Ok(_) => Refusal::new("invalid_scope", "the scope is not valid"),
            },
            _ => Refusal::new("invalid_request", "the request is not valid"),
        },
        (None, Err(FlowError::Ignore)) => return Err(AuthorizeError::Page(request.untrusted())),
        (None, Err(FlowError::PrimitiveError)) => return Err(AuthorizeError::Unavailable),
        (None, Ok(pending)) => {
            let (Some(checked), Some(scope)) = (checked, scope.into_inner()) else {
                tracing::error!("the authorization flow ended without every check");
                return Err(AuthorizeError::Unavailable);
            };
            return Ok(ValidAuthorization {
                client,
                reply,
                scope,
                prompt: checked.prompt,
                max_age: checked.max_age,
                acr: checked.acr,
                pending: PendingGrant(pending),
            });
        }
    };
    Err(reply.error(&endpoint.issuer, &refusal))
}

impl Endpoint for Validation<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        self
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        self
    }
    fn extension(&mut self) -> &mut (dyn Extension + Send) {
        self
    }
}

#[async_trait]
impl Registrar for Validation<'_> {
    async fn bound_redirect<'a>(
        &self,
        bound: ClientUrl<'a>,
    ) -> Result<BoundClient<'a>, RegistrarError> {
        let asked = bound.redirect_uri.as_ref().map(|uri| uri.as_str());
        let client = match self.endpoint.bind(&bound.client_id, asked).await {
            Ok(client) => client,
            Err(stop) => {
                let outage = matches!(stop, AuthorizeError::Unavailable);
                let _ = self.verdict.set(Stop::Untrusted(stop));
                return Err(if outage {
                    RegistrarError::PrimitiveError
                } else {
                    RegistrarError::Unspecified
                });
            }
        };
        let _ = self.client.set(client);
        let uri = bound.redirect_uri.ok_or(RegistrarError::Unspecified)?;
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(uri.into_owned())),
        })
    }

    /// The scope asked for, in its order (the crate's `Scope` is a set), if the client
    /// may have it; `openid` when none is asked for.
    async fn negotiate<'a>(
        &self,
        client: BoundClient<'a>,
        _: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let bound = self.client.get().ok_or(RegistrarError::Unspecified)?;
        let scope = self
            .request
            .scope_for(bound)
            .map_err(|_| RegistrarError::Unspecified)?;
        let as_set = scope
            .to_string()
            .parse()
            .map_err(|_| RegistrarError::Unspecified)?;
        let _ = self.scope.set(scope);
        Ok(PreGrant {
            client_id: client.client_id.into_owned(),
            redirect_uri: client.redirect_uri.into_owned(),
            scope: as_set,
        })
    }

    /// Only the token endpoint authenticates clients.
    async fn check(&self, _: &str, _: Option<&[u8]>) -> Result<(), RegistrarError> {
        Err(RegistrarError::Unspecified)
    }
}

/// Our checks beyond OAuth's (PKCE, OpenID Connect's parameters); the PKCE challenge and
/// the nonce travel in the pending request to its code.
#[async_trait]
impl Extension for Validation<'_> {
    async fn extend(&mut self, _: &(dyn AuthorizeParams + Sync)) -> Result<Extensions, ()> {
        let client = self.client.get().ok_or(())?;
        let checked = match self.request.check(client) {
            Ok(checked) => checked,
            Err(refusal) => {
                let _ = self.verdict.set(Stop::Refused(refusal));
                return Err(());
            }
        };
        let mut carried = Extensions::new();
        carried.set_raw(
            PKCE.into(),
            Value::private(Some(checked.code_challenge.clone())),
        );
        if let Some(nonce) = &checked.nonce {
            carried.set_raw(NONCE.into(), Value::private(Some(nonce.clone())));
        }
        self.checked = Some(checked);
        Ok(carried)
    }
}

/// Codes are issued once the person agreed, by [`issue_code`].
#[async_trait]
impl Authorizer for Validation<'_> {
    async fn authorize(&mut self, _: Grant) -> Result<String, ()> {
        Err(())
    }
    async fn extract(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}

/// Issuing the code of a request the person agreed to.
struct Issue<'a> {
    endpoint: &'a AuthorizationEndpoint,
    client: KnownClient<'a>,
    request: &'a ValidAuthorization,
    user_id: UserId,
    /// The browser session the person agreed in: when and how they signed in.
    signed_in: &'a Session,
    verdict: Option<AuthorizeError>,
}

/// Issues a code for `request` to `user_id` (signed in as `signed_in` says) through the crate's
/// pending request: the redirect to the client, carrying the code, `state` and `iss`.
pub async fn issue_code(
    endpoint: &AuthorizationEndpoint,
    request: &ValidAuthorization,
    user_id: UserId,
    signed_in: &Session,
) -> Result<String, AuthorizeError> {
    let mut issue = Issue {
        endpoint,
        client: KnownClient(&request.client),
        request,
        user_id,
        signed_in,
        verdict: None,
    };
    let owner = Cow::Owned(user_id.to_string());
    let outcome = request.pending.0.clone().authorize(&mut issue, owner).await;
    match (issue.verdict, outcome) {
        (Some(stop), _) => Err(stop),
        (None, Ok(mut url)) => {
            // RFC 9207: the crate adds the code and `state`; we add who issued them.
            url.query_pairs_mut().append_pair("iss", &endpoint.issuer);
            Ok(url.to_string())
        }
        (None, Err(_)) => Err(AuthorizeError::Unavailable),
    }
}

impl Endpoint for Issue<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.client
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        self
    }
    fn extension(&mut self) -> &mut (dyn Extension + Send) {
        self
    }
}

#[async_trait]
impl Authorizer for Issue<'_> {
    /// The grant's scope is a set and its redirect URI a parsed URL; the code keeps the
    /// request's scope order and the exact redirect URI the token request must repeat.
    async fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let carried = |name: &str| {
            grant
                .extensions
                .private()
                .find(|(key, _)| *key == name)
                .and_then(|(_, value)| value.map(str::to_string))
        };
        let Some(code_challenge) = carried(PKCE) else {
            tracing::error!("a pending authorization lost its PKCE challenge");
            self.verdict = Some(AuthorizeError::Unavailable);
            return Err(());
        };
        let code = NewCode {
            request: self.request,
            user_id: self.user_id,
            auth_time: self.signed_in.auth_time,
            amr: self.signed_in.amr.clone(),
            code_challenge,
            nonce: carried(NONCE),
        };
        self.endpoint
            .create_code(code)
            .await
            .map_err(|stop| self.verdict = Some(stop))
    }
    async fn extract(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}

#[async_trait]
impl Extension for Issue<'_> {
    async fn extend(&mut self, _: &(dyn AuthorizeParams + Sync)) -> Result<Extensions, ()> {
        Err(())
    }
}
